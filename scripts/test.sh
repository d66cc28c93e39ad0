#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -m lean, scripts/test.sh -k framing).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh" --dev
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
