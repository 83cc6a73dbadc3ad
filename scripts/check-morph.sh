#!/usr/bin/env bash
# Release-mode evidence that the image task learns: a short run of the morph preset (built-in
# ring -> cross -> face, 200 epochs, about a minute on 2 cores) must roll out from the first
# picture (best.safetensors) with less than 60% of the loss of the do-nothing model, which keeps the first
# picture. Prints both losses; exits non-zero otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${NCA_CHECK_EPOCHS:-200}"
swift build -c release --product nca
nca=.build/release/nca
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
line=$("$nca" train --preset morph --epochs "$epochs" --out "$dir/run" | grep "^best model's rollout loss")
echo "$line"
trained=$(echo "$line" | sed -E 's/.*first training trajectory ([0-9.e+-]+) .*/\1/')
nothing=$(echo "$line" | sed -E 's/.*do-nothing model: ([0-9.e+-]+)\).*/\1/')
echo "morph check: $epochs epochs; rollout loss over the training sequence: trained $trained, do-nothing $nothing"
if awk -v a="$trained" -v b="$nothing" 'BEGIN { exit !(a + 0 > 0 && a < 0.6 * b) }'; then
    echo "morph check: 1 passed, 0 failed"
else
    echo "morph check: 0 passed, 1 failed"
    exit 1
fi
