#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite, including the numpy/safetensors
# interop checks (python from .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export NCA_PYTHON_INTEROP=1
swift test "$@"
