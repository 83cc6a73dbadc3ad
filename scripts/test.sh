#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite, including the numpy/safetensors
# interop checks (python from .venv). With NCA_RELEASE_CHECKS=1 (set by .ci/run) it first runs
# the release-mode checks: training learns (scripts/check-training.sh, about 3 minutes; the
# image task, scripts/check-morph.sh, about 3 minutes) and
# kill -9 at 20 random moments loses nothing (scripts/kill-resume-check.sh, under a minute),
# data-parallel training under mpirun equals one process and survives a killed rank
# (scripts/mpi-check.sh, under a minute), every Experiments/ script runs at its quick size
# (scripts/check-experiments.sh, about a minute), the documentation builds with DocC without a
# warning and documents every public symbol (scripts/check-doc-coverage.py), every command the
# README and the DocC articles show runs at tiny size, the example target included
# (scripts/check-docs.py, a few minutes), and
# nca grad agrees with JAX's autodiff (Benchmarks/peers/run.sh --check, installs JAX from PyPI);
# and the sources follow .swift-format and the shape limits (scripts/check-format.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${NCA_RELEASE_CHECKS:-0}" = 1 ]; then
    python3 scripts/check-format.py
    bash scripts/check-training.sh
    bash scripts/check-morph.sh
    bash scripts/kill-resume-check.sh
    bash scripts/mpi-check.sh
    bash scripts/check-experiments.sh
    swift package generate-documentation --target NCA --warnings-as-errors >/dev/null
    python3 scripts/check-doc-coverage.py
    python3 scripts/check-docs.py
    bash Benchmarks/peers/run.sh --check
fi
export PATH="$PWD/.venv/bin:$PATH"
export NCA_PYTHON_INTEROP=1
swift test "$@"
