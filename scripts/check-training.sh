#!/usr/bin/env bash
# Release-mode evidence that training learns: a short run of the gray-scott preset must beat
# the do-nothing model (W1 = v = 0, which keeps the initial state) on an unseen initial
# condition. Prints both test losses; exits non-zero if the trained model is not at least 5%
# better over the first 256 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${NCA_CHECK_EPOCHS:-60}"  # the preset's default budget
swift build -c release --product nca
nca=.build/release/nca
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$nca" train --preset gray-scott --epochs "$epochs" --out "$dir/run" | tail -n 3
"$nca" init --out "$dir/nothing.safetensors" >/dev/null
"$nca" evaluate --model "$dir/run/model.safetensors" --data "$dir/run/test.npy" --steps 256 --json "$dir/trained.json" >/dev/null
"$nca" evaluate --model "$dir/nothing.safetensors" --data "$dir/run/test.npy" --steps 256 --json "$dir/nothing.json" >/dev/null
loss() { sed -E 's/^\{"loss": ([^,]+),.*/\1/' "$1" | head -n 1; }
trained=$(loss "$dir/trained.json")
nothing=$(loss "$dir/nothing.json")
echo "training check: $epochs epochs; test loss over 256 steps from an unseen initial condition: trained $trained, do-nothing $nothing"
if awk -v a="$trained" -v b="$nothing" 'BEGIN { exit !(a != "null" && a < 0.95 * b) }'; then
    echo "training check: 1 passed, 0 failed"
else
    echo "training check: 0 passed, 1 failed"
    exit 1
fi
