#!/usr/bin/env bash
# Set up (first time only) and run lean-companion with the given arguments, e.g.
#   scripts/run.sh serve --cwd ~/my-lean-project
#   scripts/run.sh fill-sorries --project ~/my-lean-project
# The first set-up installs the package into .venv (a minute or two). llama-cpp-python (the GGUF
# backend, a 6-13 minute build on 2 cores) is built only when the configuration names a GGUF
# model: in the foreground with progress for every command but `serve`; for `serve` in the
# background (the editor is waiting: the proxy starts at once with the built-in portfolio, the
# editor is told the GGUF model is off, and the model is used from the next start once built).
# `scripts/run.sh install-gguf` builds it now. Nothing here writes to stdout (serve's LSP wire).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LEAN_COMPANION_NO_GGUF=1 "$ROOT/scripts/setup.sh" >&2
PY="$ROOT/.venv/bin/python"
folder="."
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --cwd|--project) folder="${args[$((i + 1))]:-.}" ;;
    --cwd=*|--project=*) folder="${args[$i]#*=}" ;;
  esac
done
if [[ "${1:-}" != install-gguf ]] && "$PY" -m copilot.install_gguf --needed "$folder" 2>/dev/null; then
  if [[ "${1:-}" == serve ]]; then
    log="${XDG_CACHE_HOME:-$HOME/.cache}/lean-companion/install-gguf.log"
    mkdir -p "$(dirname "$log")"
    if ! pgrep -f "copilot.install_gguf --python $PY" >/dev/null 2>&1; then
      echo "lean-companion: a GGUF model is configured: building llama-cpp-python in the background (log: $log)" >&2
      nohup setsid "$PY" -m copilot.install_gguf --python "$PY" >"$log" 2>&1 </dev/null &
    fi
  else
    "$PY" -m copilot.install_gguf --python "$PY" >&2
  fi
fi
exec "$ROOT/.venv/bin/lean-companion" "$@"
