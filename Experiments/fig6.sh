#!/usr/bin/env bash
# Fig 6 of the paper: measurement noise ξ on the training data (uniform, added to every
# snapshot) with the Gray-Scott recipe. The paper's claims: ξ ≤ 0.2 still learns the right
# patterns, 0.2–0.5 learns other Turing-like patterns, > 0.5 learns a flat state.
#
#   Experiments/fig6.sh [--quick] [OUT]      (OUT defaults to experiments/fig6)
#
# Full: ξ ∈ {0, 0.1, 0.2, 0.3, 0.5, 0.8} × seeds {0, 1} × 150 epochs; each best model is then run
# from the unseen test state for 2048 steps (OUT/final/xi-<ξ>-seed-<s>/, the last frame as PNG).
# --quick: ξ ∈ {0, 0.5}, one seed, 2 epochs (CI runs it). Another budget: SEEDS=0 EPOCHS=300.
# JOBS: configurations trained at once (default 2: `nca sweep run --jobs`).
source "$(dirname "$0")/common.sh"
out="${1:-experiments/fig6}"
if $quick; then
    levels=(0 0.5)
    seeds="0"
    epochs=2
else
    levels=(0 0.1 0.2 0.3 0.5 0.8)
    seeds="${SEEDS:-0,1}"
    epochs="${EPOCHS:-150}"
fi
mkdir -p "$out/data"
# The recipe of --preset gray-scott, by hand (README), on data of our own: the authors' four
# training states over 1024 steps every 32nd kept, with noise ξ; the unseen test state, clean.
for xi in "${levels[@]}"; do
    [ -f "$out/data/xi-$xi.npy" ] || "$nca" data gray-scott --init paper --steps 1024 --time-sampling 32 \
        --noise "$xi" --out "$out/data/xi-$xi.npy" >/dev/null
done
[ -f "$out/data/test.npy" ] || "$nca" data gray-scott --init paper-test --steps 2048 --time-sampling 32 \
    --out "$out/data/test.npy" >/dev/null
# The preset's learning-rate decay for this many epochs: the rate falls to 0.1 × over the run.
decay=$(awk -v e="$epochs" 'BEGIN { printf "%.10g", exp(log(0.1) / e) }')
files=$(printf "$out/data/xi-%s.npy|" "${levels[@]}")
[ -f "$out/sweep.json" ] || "$nca" sweep plan --grid "data=${files%|};seed=$seeds" --out "$out" -- \
    --test-data "$out/data/test.npy" --time-sampling 32 --update per-minibatch --weight-init normal \
    --range-penalty 0.01 --lr-decay "$decay" --epochs "$epochs"
"$nca" sweep run "$out" --all --jobs "${JOBS:-2}"
"$nca" sweep report "$out"
# The final state of each best model from the unseen test state, for pictures side by side.
index=0
for xi in "${levels[@]}"; do
    for seed in ${seeds//,/ }; do
        run="$out/runs/$(printf %03d "$index")"
        "$nca" rollout --model "$run/best.safetensors" --init gray-scott-paper-test --steps 2048 --every 2048 \
            --out "$out/final/xi-$xi-seed-$seed" >/dev/null
        index=$((index + 1))
    done
done
echo "final states: $out/final/*/frames/step_002048.png"
