#!/usr/bin/env bash
# Release-mode check that no run is lost: kill -9 a real `nca train` at random moments (at
# least 20 times), resume it each time, and require the final model to equal, bit for bit, the
# model of an uninterrupted run with the same seed and thread count.
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${NCA_KILLS:-20}"
swift build -c release --product nca >/dev/null
nca="$PWD/.build/release/nca"
dir=$(mktemp -d)
[ -n "${NCA_KEEP_CHECK_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
export NCA_THREADS=2
"$nca" data gray-scott --size 16 --steps 96 --time-sampling 8 --batches 3 --seed 4 --out "$dir/data.npy" >/dev/null
train=(train --data "$dir/data.npy" --time-sampling 8 --minibatch-size 8 --epochs 1500 --checkpoint-every 7 --skip-probability 0.2 --seed 9)
start_ns=$(date +%s%N)
"$nca" "${train[@]}" --out "$dir/whole" >/dev/null
whole_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
# Each start runs for a random time up to the whole run's share per kill, so the kills together
# cover about half of the run on a machine of any speed (a start also makes less progress than
# its time: process start, work lost since the last checkpoint), and the run does not finish
# before the last kill.
max_ms=$(( whole_ms / kills ))
[ "$max_ms" -ge 60 ] || max_ms=60

killed=0
started=0
progressed=0  # kills that came after the run had checkpointed further than before
last_rows=0
finished=false
while ! $finished; do
    if [ -f "$dir/cut/config.json" ]; then
        "$nca" train --resume "$dir/cut" >/dev/null 2>&1 &
    else
        "$nca" "${train[@]}" --out "$dir/cut" >/dev/null 2>&1 &
    fi
    pid=$!
    started=$((started + 1))
    if [ "$killed" -lt "$kills" ]; then
        delay_ms=$(( 50 + RANDOM % (max_ms - 40) ))
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
        if wait "$pid" 2>/dev/null; then finished=true; fi  # it finished before the kill
        now_rows=0
        [ ! -f "$dir/cut/metrics.csv" ] || now_rows=$(wc -l < "$dir/cut/metrics.csv")
        if [ "$now_rows" -gt "$last_rows" ]; then progressed=$((progressed + 1)); last_rows=$now_rows; fi
    else
        wait "$pid"
        finished=true
    fi
done
rows=$(($(wc -l < "$dir/cut/metrics.csv") - 1))
if [ "$killed" -ge "$kills" ] && [ "$progressed" -ge $((kills / 2)) ] \
    && cmp -s "$dir/whole/model.safetensors" "$dir/cut/model.safetensors" \
    && cmp -s "$dir/whole/best.safetensors" "$dir/cut/best.safetensors" \
    && cmp -s <(cut -d, -f1-4 "$dir/whole/metrics.csv") <(cut -d, -f1-4 "$dir/cut/metrics.csv"); then
    echo "kill/resume check: $killed kills over $started starts (uninterrupted run ${whole_ms} ms, kills after 50-${max_ms} ms, $progressed of them after new checkpoints); final model, best model and loss curve ($rows epochs) equal the uninterrupted run"
    echo "kill/resume check: 1 passed, 0 failed"
elif [ "$killed" -lt "$kills" ]; then
    echo "kill/resume check: the run finished after $killed kills (of $kills wanted) over $started starts; lengthen it (--epochs)"
    echo "kill/resume check: 0 passed, 1 failed"
    exit 1
elif [ "$progressed" -lt $((kills / 2)) ]; then
    echo "kill/resume check: only $progressed of $killed kills came after the run had checkpointed further; the check did not exercise resuming"
    echo "kill/resume check: 0 passed, 1 failed"
    exit 1
else
    echo "kill/resume check: $killed kills over $started starts; the resumed run differs from the uninterrupted one"
    diff <(cut -d, -f1-4 "$dir/whole/metrics.csv") <(cut -d, -f1-4 "$dir/cut/metrics.csv") | head -5 || true
    echo "kill/resume check: 0 passed, 1 failed"
    exit 1
fi
