#!/usr/bin/env bash
# Install PufferLib (pufferlib-core 3.0.10, built from its sdist) into a virtual environment.
#
#   bash scripts/install_pufferlib.sh [VENV]      (default: .venv)
#
# Why this recipe (see DEVELOPERS.md, section "PufferLib"):
#   * `pufferlib` 3.0.0 / 2.0.6 from PyPI do not build offline here;
#   * `pufferlib-core` >= 3.0.20 pins torch 2.9.0 (we use the installed torch 2.13.0);
#   * `pufferlib-core==3.0.10` builds from its sdist against the installed torch when pip
#     runs without build isolation and without dependencies, with nvcc off PATH (otherwise
#     the build tries to compile the CUDA kernels).
# Idempotent: does nothing beyond a check when pufferlib already imports.
set -euo pipefail

VENV="${1:-.venv}"
PUFFER_VERSION="3.0.10"
TORCH_VERSION="2.13.0"
DEPS=(numpy gymnasium psutil rich rich-argparse setuptools wheel pyro-ppl nvidia-ml-py)

say() { echo "install_pufferlib: $*"; }
die() { echo "install_pufferlib: ERROR: $*" >&2; exit 1; }

[ -d "$VENV" ] || die "no virtual environment at '$VENV' (run 'make setup' first, or pass the venv path)"
VENV="$(cd "$VENV" && pwd)"
PY="$VENV/bin/python"
[ -x "$PY" ] || die "'$PY' is missing or not executable: '$VENV' is not a virtual environment"

# A clean PATH: the venv first, then only system dirs. /usr/local/bin (where nvcc lives on
# GPU machines) is left out on purpose so that the sdist build does not try CUDA.
CLEAN_PATH="$VENV/bin:/usr/bin:/bin"
PIP=(env -u CUDA_HOME -u CUDA_PATH PATH="$CLEAN_PATH" "$PY" -m pip --disable-pip-version-check)

# pip's output without the "Location 'file:///opt/pypi/...' is ignored" noise of this
# machine's pip config; the status is pip's (pipefail).
pip_run() {
    "${PIP[@]}" "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

check() {
    "$PY" -c "import pufferlib, pufferlib.vector, pufferlib.emulation" 2>/dev/null
}

if check; then
    have="$("$PY" -c 'import importlib.metadata as m; print(m.version("pufferlib-core"))' 2>/dev/null || echo '?')"
    say "pufferlib already importable in $VENV (pufferlib-core $have); nothing to do."
    exit 0
fi

# 1. torch, pinned (an unpinned install pulls a multi-GB CUDA build).
if "$PY" -c "import torch" 2>/dev/null; then
    say "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed."
else
    say "installing torch==$TORCH_VERSION ..."
    pip_run install -q "torch==$TORCH_VERSION" || die "pip install torch==$TORCH_VERSION failed"
fi

# 2. The build/run dependencies that --no-deps below will not pull in.
say "installing build/run dependencies: ${DEPS[*]} ..."
pip_run install -q "${DEPS[@]}" || die "pip install of the dependencies (${DEPS[*]}) failed"

# 3. pufferlib-core from its sdist, against the installed torch (about a minute).
say "building pufferlib-core==$PUFFER_VERSION from source (no build isolation, no deps, CPU only; ~1 min) ..."
start=$SECONDS
if ! pip_run install --no-build-isolation --no-deps --no-cache-dir "pufferlib-core==$PUFFER_VERSION"; then
    die "building pufferlib-core==$PUFFER_VERSION failed (see pip's output above). Is nvcc on PATH? Is torch importable in $VENV?"
fi
say "built in $((SECONDS - start)) s."

# 4. Verify.
if ! err="$("$PY" -c "import pufferlib, pufferlib.vector, pufferlib.emulation" 2>&1)"; then
    echo "$err" >&2
    die "pufferlib-core installed but 'import pufferlib, pufferlib.vector, pufferlib.emulation' fails"
fi
say "OK: pufferlib-core $("$PY" -c 'import importlib.metadata as m; print(m.version("pufferlib-core"))') importable in $VENV."
