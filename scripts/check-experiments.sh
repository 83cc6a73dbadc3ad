#!/usr/bin/env bash
# Runs every experiment script of Experiments/ at its --quick size, so that the scripts never
# rot (release-mode checks of .ci/run; about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product nca >/dev/null
export NCA="$PWD/.build/release/nca"
dir=$(mktemp -d)
[ -n "${NCA_KEEP_CHECK_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
failed=0
for script in Experiments/fig4.sh Experiments/fig6.sh Experiments/fig7.sh Experiments/fig8-9.sh; do
    name=$(basename "$script" .sh)
    if bash "$script" --quick "$dir/$name" >"$dir/$name.log" 2>&1; then
        echo "experiments: $name --quick ok"
    else
        echo "experiments: $name --quick FAILED; its output:"
        tail -20 "$dir/$name.log"
        failed=$((failed + 1))
    fi
done
# A grid finished elsewhere: the quick grid planned again, one configuration run, the rest
# taken from the first report.
if ONLY=2 ROWS_FROM="$dir/fig4/sweep.csv" bash Experiments/fig4.sh --quick "$dir/fig4-again" >"$dir/fig4-again.log" 2>&1 \
    && grep -q "4 of 4 finished" "$dir/fig4-again.log" && [ -f "$dir/fig4-again/runs/002/report.html" ] \
    && [ ! -d "$dir/fig4-again/runs/000" ]; then
    echo "experiments: fig4 ONLY + ROWS_FROM ok"
else
    echo "experiments: fig4 ONLY=2 ROWS_FROM=… FAILED; its output:"
    tail -20 "$dir/fig4-again.log"
    failed=$((failed + 1))
fi
# Every sweep reported every configuration as finished.
for csv in "$dir"/fig4/sweep.csv "$dir"/fig6/sweep.csv "$dir"/fig8-9/*/sweep.csv; do
    if grep -v '^index' "$csv" | grep -qv ',finished,'; then
        echo "experiments: $csv has unfinished configurations"
        failed=$((failed + 1))
    fi
done
[ -f "$dir/fig7/rollout/contact_sheet.png" ] || { echo "experiments: fig7 made no pictures"; failed=$((failed + 1)); }
sheets=$(ls "$dir"/fig8-9/*/pictures/*/contact_sheet.png 2>/dev/null | wc -l)
[ "$sheets" = 8 ] || { echo "experiments: fig8-9 made $sheets pictures, not 8"; failed=$((failed + 1)); }
[ "$failed" = 0 ] || exit 1
echo "experiments: all quick runs passed"
