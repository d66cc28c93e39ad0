#!/usr/bin/env bash
# Build (once, cached by version and CPU flags) and install llama-cpp-python, the GGUF backend,
# with explicit CPU flags and build progress. A thin wrapper over `lean-companion install-gguf`
# (copilot/install_gguf.py: standard library only, so it runs before the package is installed):
#   PYTHON=.venv/bin/python scripts/install-llama-cpp.sh [--print-cmake-args] [--rebuild]
# LLAMA_CPP_PYTHON_VERSION picks the version, LEAN_COMPANION_LLAMA_CMAKE_ARGS overrides the flags.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m copilot.install_gguf --python "$PY" "$@"
