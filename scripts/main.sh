#!/usr/bin/env bash
# The main job on its built-in default: install what is missing, build in release mode, and
# train the paper's Gray-Scott model with the built-in preset (its own data, a budget of under
# 10 minutes on 2 cores). Prints where the run folder and report.html are.
# Extra arguments go to `nca train` (e.g. --epochs 4000 for the paper's budget).
set -euo pipefail
cd "$(dirname "$0")/.."
NCA_SKIP_PYTHON=1 bash scripts/setup.sh
swift build -c release --product nca
mkdir -p runs
.build/release/nca train --preset gray-scott "$@"
