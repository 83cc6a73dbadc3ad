#!/usr/bin/env bash
# Peer comparison in one run: creates .venv-peers with JAX and, for the full run, tensorflow-cpu
# and torch from PyPI (whichever install; PyPI's torch wheel brings about 3 GB of CUDA packages,
# the CPU-only index is not a PyPI package), checks that `nca grad` agrees with every formulation
# of each framework's own autodiff (float64, reflect boundary, tanh, three kernels, 10 steps), then
# (compare.py) times the HEAD and BIG training epochs and a HEAD rollout, nca and every peer
# formulation alternately, each in a fresh process, and prints the tables and the ratios to the
# fastest peer. Each peer script lists its formulations (`python3 jax_nca.py formulations`).
# With --check, only the gradient agreement with JAX's formulations runs (CI uses this). Other
# arguments go to compare.py (--rounds N, --only head|big|rollout).
set -euo pipefail
check_only=false
[ "${1:-}" = "--check" ] && { check_only=true; shift; }
cd "$(dirname "$0")/../.."
root="$PWD"
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
mkdir -p ours ours-penalty
"$nca" grad --model model.safetensors --state x0.npy --target y.npy --steps 10 --precision float64 --out ours >/dev/null
"$nca" grad --model model.safetensors --state x0wide.npy --target y.npy --steps 10 --range-penalty 0.05 --precision float64 \
    --out ours-penalty >/dev/null
compare() {  # peer-folder name [our folder] [our loss key]
    "$py" - "$1" "$2" "${3:-ours}" "${4:-loss}" <<'PY'
import json, sys
import numpy as np
folder, name, mine, key = sys.argv[1:5]
worst = abs(json.load(open(f"{mine}/loss.json"))[key] - json.load(open(f"{folder}/loss.json"))["loss"])
errors = [f"loss {worst:.1e}"]
for key in ["dW2", "dW1", "dv", "dx0"]:
    a, b = np.load(f"{mine}/{key}.npy"), np.load(f"{folder}/{key}.npy")
    err = np.linalg.norm(a - b) / np.linalg.norm(b)
    errors.append(f"{key} {err:.1e}")
    worst = max(worst, err)
ok = worst < 1e-10
print(f"  {name}: {', '.join(errors)} (relative) -> {'agrees' if ok else 'DISAGREES'}")
sys.exit(0 if ok else 1)
PY
}
peers=("$peer")
$have_tf && peers+=("$tfpeer")
$have_torch && peers+=("$torchpeer")
failed=0
for p in "${peers[@]}"; do
    framework=$(basename "$p" _nca.py)
    for f in $("$py" "$p" formulations); do
        out="$framework-$f"
        mkdir -p "$out"
        # TensorFlow's start-up notes about oneDNN go to stderr; errors still show.
        "$py" "$p" grad --formulation "$f" --model model.safetensors --state x0.npy --target y.npy --steps 10 --out "$out" \
            2> >(grep -v -e oneDNN -e "^I0000" -e "^WARNING: All log messages" >&2)
        compare "$out" "$framework $f" || failed=$((failed + 1))
    done
done
for f in $("$py" "$peer" formulations); do
    mkdir -p "jax-$f-penalty"
    "$py" "$peer" grad --formulation "$f" --model model.safetensors --state x0wide.npy --target y.npy --steps 10 \
        --range-penalty 0.05 --out "jax-$f-penalty"
    compare "jax-$f-penalty" "jax $f, loss + range penalty 0.05" ours-penalty total || failed=$((failed + 1))
done
total=$(( $(for p in "${peers[@]}"; do "$py" "$p" formulations; done | wc -l) + $("$py" "$peer" formulations | wc -l) ))
echo "gradient agreement with the peers: $((total - failed)) passed, $failed failed"
[ $failed -eq 0 ]
$check_only && exit 0

peer_args=()
for p in "${peers[@]}"; do peer_args+=(--peer "$p"); done
"$py" "$root/Benchmarks/peers/compare.py" --nca "$nca" --python "$py" "${peer_args[@]}" "$@"
