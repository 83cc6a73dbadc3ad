#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite, including the numpy/safetensors
# interop checks (python from .venv). With NCA_TRAINING_CHECK=1 (set by .ci/run) it first runs
# the release-mode training check (scripts/check-training.sh, about 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${NCA_TRAINING_CHECK:-0}" = 1 ]; then bash scripts/check-training.sh; fi
export PATH="$PWD/.venv/bin:$PATH"
export NCA_PYTHON_INTEROP=1
swift test "$@"
