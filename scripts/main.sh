#!/usr/bin/env bash
# The main job on its built-in default: install what is missing, build in release mode, then
# generate Gray-Scott data, initialise the paper's model, run it 32 steps from the data, and
# compute the loss and its BPTT gradients against the data 32 PDE steps later.
# Outputs go to demo/ (or the folder given as the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo}"
NCA_SKIP_PYTHON=1 bash scripts/setup.sh
swift build -c release --product nca
nca=".build/release/nca"
mkdir -p "$out"
set -x
"$nca" data gray-scott --size 64 --steps 1024 --time-sampling 32 --batches 16 --seed 1 --out "$out/gray-scott.npy"
"$nca" init --channels 8 --observable 2 --kernels identity,laplacian --hidden 32 --seed 0 --out "$out/model.safetensors"
"$nca" step --model "$out/model.safetensors" --state "$out/gray-scott.npy" --frame 0 --steps 32 --out "$out/x32.npy"
"$nca" grad --model "$out/model.safetensors" --state "$out/gray-scott.npy" --state-frame 0 \
    --target "$out/gray-scott.npy" --target-frame 1 --steps 32 --out "$out/gradients"
