#!/usr/bin/env bash
# Create .venv and install everything the demo and the tests need; safe to run again.
#   scripts/bootstrap.sh            python packages only (enough for the demo)
#   scripts/bootstrap.sh --browser  also Debian's chromium, for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# A CPU build of torch; an unpinned torch pulls a CUDA build of several GB. The spec is held as a
# pip constraint for the whole resolve, so no other package (fastai's torchvision) can swap it.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0+cpu}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.ig-widgets-installed
want=$( (cat pyproject.toml scripts/bootstrap.sh; echo "$TORCH_SPEC") | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing $TORCH_SPEC and the package with its test extra (a few minutes)"
  constraints=.venv/torch-constraints.txt
  echo "$TORCH_SPEC" > "$constraints"
  # --no-compile: Python writes the bytecode of the modules it imports on first use; compiling
  # every module at install time added 440 MB of .pyc files nobody imports.
  .venv/bin/python -m pip install -q --no-compile -c "$constraints" "$TORCH_SPEC" -e ".[test]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  # fastai pulls a torchvision that cannot load beside the CPU torch; fastai's text models never
  # import it, but transformers does: without it, transformers' model classes import cleanly.
  .venv/bin/python -c "import torchvision" >/dev/null 2>&1 \
    || .venv/bin/python -m pip uninstall -q -y torchvision >/dev/null 2>&1 || true
  .venv/bin/python -c "import torch, fastai, captum, ipyvuetify, ig_widgets" \
    || { echo "bootstrap: the install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "bootstrap: installing Debian's chromium for the browser tests"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null || { echo "bootstrap: chromium did not install" >&2; exit 1; }
fi
