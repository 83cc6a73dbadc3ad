#!/usr/bin/env bash
# Fig 8–9 of the paper: what the morphing rule needs. One option at a time around the morph
# recipe (--preset morph on the built-in pictures at its reduced size, 24 × 24 padded by 6):
# kernels (identity+laplacian vs with gradients), activations (relu, linear, tanh, swish),
# channels C ∈ {4, 8, 16, 32} and steps between pictures t ∈ {8, 16, 32}.
#
#   Experiments/fig8-9.sh [--quick] [OUT]      (OUT defaults to experiments/fig8-9)
#
# Full: 2 + 4 + 4 + 3 runs of 500 epochs (four sweeps: OUT/kernels, OUT/activation,
# OUT/channels, OUT/steps; each with sweep.csv, sweep.html and pictures/<run>/contact_sheet.png:
# the best model from the first picture to 8 × the horizon). --quick: two values per sweep, 2 epochs, 12 × 12 pictures (CI).
# Another budget: EPOCHS=n. JOBS: configurations trained at once (default 2: `nca sweep run --jobs`).
source "$(dirname "$0")/common.sh"
out="${1:-experiments/fig8-9}"
if $quick; then
    common=(--preset morph --image-size 12 --pad 2 --epochs 2)
    grids=("kernels=identity,laplacian|identity,grad-x,grad-y,laplacian" "activation=relu,tanh" "channels=4,8"
        "time-sampling=8,16")
else
    common=(--preset morph --epochs "${EPOCHS:-500}")
    grids=("kernels=identity,laplacian|identity,grad-x,grad-y,laplacian" "activation=relu,linear,tanh,swish"
        "channels=4,8,16,32" "time-sampling=8,16,32")
fi
# Each best model run from the first picture to 8 × the horizon T, a frame every T:
# OUT/<sweep>/pictures/<run>/contact_sheet.png (does the last picture hold?).
pictures() {
    for run in "$1"/runs/*/; do
        [ -f "$run/best.safetensors" ] || continue
        read -r t frames < <(python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))
print(c["training"]["timeSampling"], c["dataShape"][0])' "$run/config.json")
        horizon=$(((frames - 1) * t))
        "$nca" rollout --model "$run/best.safetensors" --init "$run/data.npy" --frame 0 --entry 0 \
            --steps $((8 * horizon)) --every "$horizon" --out "$1/pictures/$(basename "$run")" >/dev/null
    done
}
for grid in "${grids[@]}"; do
    name="${grid%%=*}"
    [ "$name" = "time-sampling" ] && name=steps
    [ -f "$out/$name/sweep.json" ] || "$nca" sweep plan --grid "$grid" --out "$out/$name" -- "${common[@]}"
    "$nca" sweep run "$out/$name" --all --jobs "${JOBS:-2}"
    "$nca" sweep report "$out/$name"
    pictures "$out/$name"
done
