#!/usr/bin/env bash
# Fetch, on this machine, the wheels that the lent GPU machine's image lacks, into .whl/
# (git-ignored), for scripts/device_check.sh to install there: that machine has Python 3.12,
# torch, numba, numpy, rich, tensorboard and matplotlib, but no network and none of the
# packages below. The versions are the ones this project's .venv runs.
#
#     bash scripts/device_wheels.sh [PYTHON]      # PYTHON: one with pip (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl gymnasium==1.4.0 farama-notifications==0.0.6 pettingzoo==1.27.0 openskill==6.2.0
ls .whl
