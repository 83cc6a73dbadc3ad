#!/usr/bin/env bash
# Release-mode evidence that the image task learns and that its last picture is an attractor: a
# run of the morph preset (built-in ring -> cross -> face; its own 1000 epochs, about 2.5 minutes
# on 2 cores; NCA_CHECK_EPOCHS overrides, but 300 or 600 epochs do not yet hold the last picture)
# must, from the first picture (best.safetensors),
#   - roll out with less than 60 % of the do-nothing model's loss over the sequence,
#   - reach the last picture: loss to it at the horizon T at most NCA_CHECK_HORIZON (default 0.3)
#     x the do-nothing model's (which keeps the first picture),
#   - stay there: run on to 8 T, the loss to the last picture at every t steps at most
#     NCA_CHECK_GROWTH (default 1.5) x its value at T, and every value in [-0.5, 1.5].
# Prints the measurements; exits non-zero when one fails.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${NCA_CHECK_EPOCHS:-1000}"
horizon_limit="${NCA_CHECK_HORIZON:-0.3}"
growth_limit="${NCA_CHECK_GROWTH:-1.5}"
swift build -c release --product nca
nca=.build/release/nca
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$nca" train --preset morph --epochs "$epochs" --out "$dir/run" > "$dir/out.txt"
rollout=$(grep "^best model's rollout loss" "$dir/out.txt")
beyond=$(grep "^best model past the horizon" "$dir/out.txt")
echo "$rollout"
echo "$beyond"
number='([0-9.e+-]+|nan|inf)'
trained=$(echo "$rollout" | sed -E "s/.*first training trajectory $number .*/\1/")
nothing=$(echo "$rollout" | sed -E "s/.*do-nothing model: $number\).*/\1/")
at=$(echo "$beyond" | sed -E "s/.*loss to the last frame $number at the horizon.*/\1/")
nothing_at=$(echo "$beyond" | sed -E "s/.*at the horizon \(step [0-9]+; do-nothing model: $number\).*/\1/")
worst=$(echo "$beyond" | sed -E "s/.*: worst $number at step.*/\1/")
range=$(echo "$beyond" | sed -E 's/.*observable values in (.*)$/\1/')
lo=$(echo "$range" | sed -E "s/^\[$number, $number\]$/\1/")
hi=$(echo "$range" | sed -E "s/^\[$number, $number\]$/\2/")
passed=0
failed=0
check() {  # name, awk condition over a..f
    if awk -v a="$trained" -v b="$nothing" -v c="$at" -v d="$nothing_at" -v e="$worst" -v lo="$lo" -v hi="$hi" \
        -v h="$horizon_limit" -v g="$growth_limit" "BEGIN { exit !($2) }" 2>/dev/null; then
        echo "morph check: $1 [ok]"; passed=$((passed + 1))
    else
        echo "morph check: $1 [FAILED]"; failed=$((failed + 1))
    fi
}
check "rollout loss $trained < 0.6 x the do-nothing model's $nothing" 'a + 0 > 0 && a < 0.6 * b'
check "loss to the last picture at the horizon $at <= $horizon_limit x the do-nothing model's $nothing_at" 'c + 0 > 0 && c <= h * d'
check "worst loss to it up to 8 x the horizon $worst <= $growth_limit x its value at the horizon" 'e + 0 > 0 && e <= g * c'
check "values past the horizon in $range, within [-0.5, 1.5]" 'lo != "" && lo + 0 >= -0.5 && hi + 0 <= 1.5 && lo ~ /^[-0-9]/'
echo "morph check ($epochs epochs): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
