#!/usr/bin/env bash
# Installs what the toolkit needs and is missing on a Debian machine with the Swift toolchain:
# OpenBLAS + LAPACKE, libxsmm, Open MPI, FFTW3, libpng and giflib (apt), and a Python virtual environment in .venv with numpy and safetensors
# (PyPI) for the interop tests. Safe to run again: it only installs what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libopenblas-dev liblapacke-dev libxsmm-dev libopenmpi-dev openmpi-bin libfftw3-dev libpng-dev libgif-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${NCA_SKIP_PYTHON:-0}" != 1 ]; then
    if [ ! -x .venv/bin/python3 ]; then
        echo "setup: creating .venv"
        python3 -m venv .venv
    fi
    if ! .venv/bin/python3 -c 'import numpy, safetensors' >/dev/null 2>&1; then
        echo "setup: installing numpy and safetensors into .venv"
        .venv/bin/python3 -m pip install -q --disable-pip-version-check numpy safetensors
    fi
fi
