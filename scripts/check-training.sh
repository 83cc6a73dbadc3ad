#!/usr/bin/env bash
# Release-mode evidence that the Gray-Scott recipe learns, for seeds 0, 1 and 2: a short run of
# the gray-scott preset per seed (NCA_CHECK_EPOCHS, default 150, about a minute each on 2
# cores) must give a best.safetensors whose 2048-step loss from the paper's unseen test state
# is below NCA_CHECK_RATIO (default 0.6) times the do-nothing model's. Prints each seed's ratio
# and a "N passed, M failed" line; exits non-zero if any seed fails.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${NCA_CHECK_EPOCHS:-150}"
limit="${NCA_CHECK_RATIO:-0.6}"
swift build -c release --product nca
nca=.build/release/nca
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
for seed in 0 1 2; do
    "$nca" train --preset gray-scott --epochs "$epochs" --seed "$seed" --out "$dir/run$seed" > "$dir/log$seed"
    line=$(grep "^best model's test loss" "$dir/log$seed")
    ratio=$(echo "$line" | sed -E 's/.* = ([0-9.e+-]+) × the do-nothing.*/\1/')
    if awk -v r="$ratio" -v l="$limit" 'BEGIN { exit !(r + 0 > 0 && r < l) }'; then
        passed=$((passed + 1))
        verdict=ok
    else
        failed=$((failed + 1))
        verdict=FAILED
    fi
    echo "training check: seed $seed, $epochs epochs: $line [$verdict: limit $limit ×]"
done
echo "training check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
