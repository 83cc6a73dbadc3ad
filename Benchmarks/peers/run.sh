#!/usr/bin/env bash
# Peer comparison in one run: creates .venv-peers with JAX and, for the full run, tensorflow-cpu
# and torch from PyPI (whichever install; PyPI's torch wheel brings about 3 GB of CUDA packages,
# the CPU-only index is not a PyPI package), checks that `nca grad` agrees with each framework's
# own autodiff (float64, reflect boundary, tanh, three kernels, 10 steps), then times a training
# step (forward, loss, backward, gradient normalisation, Nadam) of the HEAD and BIG workloads and
# a HEAD-shaped rollout, nca and the peers alternately, and prints the ratios. Each timing runs in
# a fresh process, so peak RSS is that workload's.
# With --check, only the gradient agreement with JAX runs (CI uses this).
set -euo pipefail
check_only=false
[ "${1:-}" = "--check" ] && check_only=true
cd "$(dirname "$0")/../.."
NCA_SKIP_PYTHON=1 bash scripts/setup.sh
venv=.venv-peers
[ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
"$venv/bin/python3" -c 'import jax, numpy, safetensors' 2>/dev/null \
    || "$venv/bin/python3" -m pip install -q --disable-pip-version-check jax numpy safetensors
swift build -c release --product nca >/dev/null
nca="$PWD/.build/release/nca"
py="$PWD/$venv/bin/python3"
peer="$PWD/Benchmarks/peers/jax_nca.py"
tfpeer="$PWD/Benchmarks/peers/tf_nca.py"
torchpeer="$PWD/Benchmarks/peers/torch_nca.py"
have_tf=false
have_torch=false
if ! $check_only; then
    if "$py" -c 'import tensorflow' 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check tensorflow-cpu; then
        have_tf=true
    else
        echo "note: tensorflow-cpu did not install; leaving TensorFlow out"
    fi
    if "$py" -c 'import torch' 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check torch; then
        have_torch=true
    else
        echo "note: torch did not install; leaving PyTorch out"
    fi
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

echo "== gradients: nca grad against the peers' autodiff (float64)"
"$nca" init --channels 4 --observable 2 --kernels identity,grad-x,laplacian --activation tanh --boundary reflect \
    --hidden 6 --precision float64 --seed 3 --out fresh.safetensors >/dev/null
"$py" - <<'PY'
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
w = load_file("fresh.safetensors")
meta = safe_open("fresh.safetensors", "np").metadata()
rng = np.random.default_rng(5)
w["W1"] = rng.uniform(-0.3, 0.3, w["W1"].shape)  # non-zero W1, so every weight gets gradient
w["v"] = rng.uniform(-0.1, 0.1, w["v"].shape)
save_file(w, "model.safetensors", metadata=meta)
np.save("x0.npy", rng.random((2, 9, 9, 4)))
np.save("y.npy", rng.random((2, 9, 9, 2)))
np.save("x0wide.npy", rng.uniform(-0.6, 1.6, (2, 9, 9, 4)))  # outside [0, 1]: the range penalty acts
PY
mkdir -p ours jax tf torch
"$nca" grad --model model.safetensors --state x0.npy --target y.npy --steps 10 --precision float64 --out ours >/dev/null
"$py" "$peer" grad --model model.safetensors --state x0.npy --target y.npy --steps 10 --out jax
$have_tf && "$py" "$tfpeer" grad --model model.safetensors --state x0.npy --target y.npy --steps 10 --out tf
$have_torch && "$py" "$torchpeer" grad --model model.safetensors --state x0.npy --target y.npy --steps 10 --out torch
compare() {  # peer-folder name [our folder] [our loss key]
    "$py" - "$1" "$2" "${3:-ours}" "${4:-loss}" <<'PY'
import json, sys
import numpy as np
folder, name, mine, key = sys.argv[1:5]
worst = abs(json.load(open(f"{mine}/loss.json"))[key] - json.load(open(f"{folder}/loss.json"))["loss"])
print(f"  {name}: loss difference {worst:.2e}")
for key in ["dW2", "dW1", "dv", "dx0"]:
    a, b = np.load(f"{mine}/{key}.npy"), np.load(f"{folder}/{key}.npy")
    err = np.linalg.norm(a - b) / np.linalg.norm(b)
    print(f"  {name}: {key:4s} relative error {err:.2e}")
    worst = max(worst, err)
ok = worst < 1e-10
print(f"gradient agreement with {name}: {1 if ok else 0} passed, {0 if ok else 1} failed")
sys.exit(0 if ok else 1)
PY
}
compare jax JAX
mkdir -p ours-penalty jax-penalty
"$nca" grad --model model.safetensors --state x0wide.npy --target y.npy --steps 10 --range-penalty 0.05 --precision float64 \
    --out ours-penalty >/dev/null
"$py" "$peer" grad --model model.safetensors --state x0wide.npy --target y.npy --steps 10 --range-penalty 0.05 --out jax-penalty
compare jax-penalty "JAX (loss + range penalty 0.05)" ours-penalty total
$have_tf && compare tf TensorFlow
$have_torch && compare torch PyTorch
$check_only && exit 0

peers=("$peer")
$have_tf && peers+=("$tfpeer")
$have_torch && peers+=("$torchpeer")
row() {  # name seconds cell-steps flops-per-cell-step rss ratio
    awk -v n="$1" -v t="$2" -v cs="$3" -v f="$4" -v m="$5" -v r="$6" 'BEGIN {
        printf "  %-28s %9.3f %12.2f %9.1f %9.0f %9s\n", n, t, cs / t / 1e6, cs * f / t / 1e9, m, r }'
}
field() { echo "$1" | sed -E "s/.*\"$2\": \"?([^,\"}]+)\"?.*/\1/"; }
for config in head big; do
    if [ $config = head ]; then
        echo "== HEAD training step (S 64, C 8, identity+laplacian, H 32, relu, R 16, t 32, p 0), alternating, median of 15 passes (nca) or 5 (peers) each"
        cells=$((16 * 64 * 64 * 32)); flops=5280; rounds=5
    else
        echo "== BIG training step (S 64, C 16, identity+grad-x+grad-y+laplacian, H 64, relu, R 8, t 32, p 0.5), alternating, median of 15 passes (nca) or 5 (peers) each"
        cells=$((8 * 64 * 64 * 32)); flops=33216; rounds=3
    fi
    printf "  %-28s %9s %12s %9s %9s %9s\n" "framework" "s/step" "Mcell-st/s" "GFLOP/s" "peak MB" "vs nca"
    best_ratios=()
    for round in $(seq 1 $rounds); do
        # nca's pass is short, so it takes more repeats for a median as robust as the peers'.
        line=$("$nca" bench --json --config $config --repeats 15)
        ours=$(field "$line" training_step_s)
        row "nca (round $round)" "$ours" $cells $flops "$(field "$line" peak_rss_mb)" 1.00
        fastest=""
        for p in "${peers[@]}"; do
            line=$("$py" "$p" bench --config $config --repeats 5 2>/dev/null)
            theirs=$(field "$line" training_step_s)
            ratio=$(awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "%.2f", t / o }')
            row "$(field "$line" framework)" "$theirs" $cells $flops "$(field "$line" peak_rss_mb)" "$ratio"
            if [ -z "$fastest" ] || awk -v a="$theirs" -v b="$fastest" 'BEGIN { exit !(a < b) }'; then fastest=$theirs; fi
        done
        best_ratios+=("$(awk -v o="$ours" -v t="$fastest" 'BEGIN { printf "%.2f", t / o }')")
    done
    sorted=$(printf "%s\n" "${best_ratios[@]}" | sort -g | tr '\n' ' ')
    median=$(printf "%s\n" "${best_ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    echo "  fastest peer / nca per round: $sorted-> median ${median}x"
done

echo "== HEAD-shaped rollout (R 1, S 64, C 8, 256 steps, no gradients), alternating, median of 5 each"
printf "  %-28s %12s %10s\n" "framework" "µs/step" "vs nca"
for round in 1 2 3; do
    ours=$("$nca" bench --json --repeats 5 | sed -E 's/.*"rollout_step_s": ([0-9.]+).*/\1/')
    awk -v o="$ours" -v r="$round" 'BEGIN { printf "  %-28s %12.1f %10s\n", "nca (round " r ")", o * 1e6, "1.00" }'
    for p in "$peer" $($have_torch && echo "$torchpeer"); do
        line=$("$py" "$p" rollout --repeats 5 2>/dev/null)
        theirs=$(echo "$line" | sed -E 's/.*"rollout_step_s": ([0-9.e-]+).*/\1/')
        name=$(echo "$line" | sed -E 's/.*"framework": "([^"]+)".*/\1/')
        awk -v o="$ours" -v t="$theirs" -v n="$name" 'BEGIN { printf "  %-28s %12.1f %10.2f\n", n, t * 1e6, t / o }'
    done
done
