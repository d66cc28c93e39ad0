#!/usr/bin/env bash
# Set up (first time only) and run lean-companion with the given arguments, e.g.
#   scripts/run.sh serve --cwd ~/my-lean-project
#   scripts/run.sh fill-sorries --project ~/my-lean-project
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh" >&2
exec "$ROOT/.venv/bin/lean-companion" "$@"
