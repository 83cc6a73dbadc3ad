#!/usr/bin/env bash
# Fig 7 of the paper: an NCA that morphs through three pictures (60 × 60, padded by 10 cells,
# t = 32 steps between pictures) and holds the last one (4 frames: the last picture twice, the
# stable state at step 96). The paper's claim: the rule learns the sequence and the last
# picture is an attractor.
#
#   Experiments/fig7.sh [--quick] [OUT] [A.png B.png C.png]   (OUT defaults to experiments/fig7;
#                                                             without pictures: the built-in ring,
#                                                             cross and face)
#
# Full: the morph recipe (--preset morph) at the paper's size, 1000 epochs, then a rollout to
# 8 × 96 steps (OUT/rollout/: frames, contact sheet, GIF).
# --quick: 12 × 12 pictures, 2 epochs (CI runs it). Another budget: EPOCHS=n.
source "$(dirname "$0")/common.sh"
out="${1:-experiments/fig7}"
shift || true
pictures=()
if [ $# -gt 0 ]; then pictures=(--images "$@"); fi
if $quick; then
    size=(--image-size 12 --pad 2)
    epochs=2
else
    size=(--image-size 60 --pad 10)
    epochs="${EPOCHS:-1000}"
fi
if [ -f "$out/run/config.json" ] && [ ! -f "$out/run/report.html" ]; then
    "$nca" train --resume "$out/run"
elif [ ! -f "$out/run/report.html" ]; then
    mkdir -p "$out"
    "$nca" train --preset morph "${pictures[@]}" "${size[@]}" --hold-last 1 --epochs "$epochs" --out "$out/run"
fi
"$nca" rollout --model "$out/run/best.safetensors" --init "$out/run/data.npy" --frame 0 --entry 0 --steps 768 \
    --every 32 --out "$out/rollout" >/dev/null
echo "pictures: $out/rollout/contact_sheet.png, $out/rollout/rollout.gif"
