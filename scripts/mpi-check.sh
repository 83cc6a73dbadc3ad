#!/usr/bin/env bash
# Release-mode check of data-parallel training under Open MPI on this machine's loopback:
#   1. `mpirun -np 2` and `-np 3` give the loss curve and final weights of one process to 1e-6
#      relative (8 epochs; stochastic mask, range penalty and noise augmentation on). The
#      processes add the gradient in another order than one process does, so the runs differ by
#      rounding, and training amplifies it: about 1e-7 after 10 epochs, 1e-6 to 1e-5 after 20,
#      as between one process at 1 and at 2 threads (Docs/scale.md);
#   2. killing one rank stops the job with a non-zero status, and `--resume` under mpirun then
#      finishes the run bit for bit like an uninterrupted 2-process run;
#   3. a run stopped in one process (--stop-after) resumes under `mpirun -np 2`, and a
#      2-process run stopped resumes in one process, both ending within 1e-6 of the one-process
#      run (10 epochs, stopped after 5).
# Needs Open MPI (scripts/setup.sh installs it) and the .venv's numpy and safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
swift build -c release --product nca >/dev/null
nca="$PWD/.build/release/nca"
py="$PWD/.venv/bin/python3"
dir=$(mktemp -d)
[ -n "${NCA_KEEP_CHECK_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
cd "$dir"
# Root in CI; shared memory between the processes of this one node; no core binding (2 cores,
# up to 3 processes).
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
failed=0

"$nca" data gray-scott --size 16 --steps 32 --time-sampling 4 --batches 4 --seed 3 --out data.npy >/dev/null
common=(--data data.npy --channels 6 --observable 2 --time-sampling 4 --minibatch-size 5 --skip-probability 0.5
    --range-penalty 0.01 --noise-augment 0.05 --seed 7)

# compare A B TOLERANCE: metrics.csv (loss, gradient norm, learning rate, range penalty) and
# model.safetensors of two runs, worst relative difference.
compare() {
    "$py" - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
from safetensors.numpy import load_file
a_dir, b_dir, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
def rows(folder):
    lines = open(folder + "/metrics.csv").read().split("\n")[1:]
    return np.array([[float(f) for i, f in enumerate(l.split(",")) if i in (1, 2, 3, 5)] for l in lines if l])
a, b = rows(a_dir), rows(b_dir)
if a.shape != b.shape:
    print(f"    {a_dir} has {len(a)} epochs, {b_dir} {len(b)}"); sys.exit(1)
metrics = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30)))
wa, wb = load_file(a_dir + "/model.safetensors"), load_file(b_dir + "/model.safetensors")
weights = max(float(np.max(np.abs(wa[k] - wb[k])) / max(float(np.max(np.abs(wa[k]))), 1e-30)) for k in wa)
ok = metrics <= tolerance and weights <= tolerance
print(f"    {len(a)} epochs: metrics differ by at most {metrics:.1e} (relative), weights {weights:.1e}"
      f" (limit {tolerance:g}) -> {'agrees' if ok else 'DIFFERS'}")
sys.exit(0 if ok else 1)
PY
}

# wait_rows RUN N: until RUN/metrics.csv has N epochs (60 s at most).
wait_rows() {
    for _ in $(seq 600); do
        if [ -f "$1/metrics.csv" ] && [ "$(($(wc -l <"$1/metrics.csv") - 1))" -ge "$2" ]; then return 0; fi
        sleep 0.1
    done
    echo "    $1 did not reach epoch $2 within 60 s"
    return 1
}

echo "== 1. the same run in 1, 2 and 3 processes (8 epochs)"
"$nca" train "${common[@]}" --epochs 8 --out one >/dev/null
"${mpi[@]}" -np 2 "$nca" train "${common[@]}" --epochs 8 --out two >two.log 2>&1 || { cat two.log; failed=$((failed + 1)); }
compare one two 1e-6 || failed=$((failed + 1))
"${mpi[@]}" -np 3 "$nca" train "${common[@]}" --epochs 8 --out three >three.log 2>&1 || { cat three.log; failed=$((failed + 1)); }
compare one three 1e-6 || failed=$((failed + 1))
[ -f two/report.html ] || { echo "    no report.html from rank 0"; failed=$((failed + 1)); }

echo "== 2. kill -9 one rank of a 2-process run, then resume it under mpirun"
long=("${common[@]}" --epochs 400 --checkpoint-every 10)
"${mpi[@]}" -np 2 "$nca" train "${long[@]}" --out whole >/dev/null 2>&1
"${mpi[@]}" -np 2 "$nca" train "${long[@]}" --out killed >killed.log 2>&1 &
job=$!
wait_rows killed 25 || failed=$((failed + 1))
rank1=$(pgrep -f -- "--out killed" | grep -v "^$job\$" | while read -r pid; do
    [ "$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -c '^OMPI_COMM_WORLD_RANK=1$')" = 1 ] && echo "$pid"
done | head -1)
if [ -z "$rank1" ]; then
    echo "    could not find rank 1"
    failed=$((failed + 1))
else
    kill -9 "$rank1"
fi
status=0
wait "$job" || status=$?
if [ "$status" = 0 ]; then
    echo "    the job finished although rank 1 was killed"
    failed=$((failed + 1))
else
    echo "    mpirun stopped the job (status $status): $(grep -m1 'rank 1' killed.log || echo 'no message naming rank 1')"
fi
"${mpi[@]}" -np 2 "$nca" train --resume killed >resumed.log 2>&1 || { cat resumed.log; failed=$((failed + 1)); }
compare whole killed 0 || failed=$((failed + 1))

echo "== 3. across process counts: 1 → 2 and 2 → 1 (10 epochs, the first session stops after 5)"
short=("${common[@]}" --epochs 10)
"$nca" train "${short[@]}" --out alone >/dev/null
"$nca" train "${short[@]}" --stop-after 5 --out up >up.log 2>&1 || { cat up.log; failed=$((failed + 1)); }
"${mpi[@]}" -np 2 "$nca" train --resume up >up-resumed.log 2>&1 || { cat up-resumed.log; failed=$((failed + 1)); }
compare alone up 1e-6 || failed=$((failed + 1))
"${mpi[@]}" -np 2 "$nca" train "${short[@]}" --stop-after 5 --out down >down.log 2>&1 || { cat down.log; failed=$((failed + 1)); }
"$nca" train --resume down >down-resumed.log 2>&1 || { cat down-resumed.log; failed=$((failed + 1)); }
compare alone down 1e-6 || failed=$((failed + 1))

if [ "$failed" -gt 0 ]; then
    echo "mpi-check: $failed check(s) failed"
    exit 1
fi
echo "mpi-check: all passed"
