#!/usr/bin/env bash
# Build every release artefact into dist/ (or $1) and check it:
#   the Python wheel and sdist (python -m build, twine check) and the VS Code .vsix (vsce;
#   SKIP_VSIX=1 leaves it out).
# Builds from a clean copy of the sources, so the working tree gets no build/ or egg-info.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

# LICENSE: pyproject's license-files puts it in the wheel (.dist-info/licenses/) and the sdist.
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/LICENSE" "$STAGE/"
for pkg in lsp_proxy copilot local_models; do
  (cd "$ROOT" && find "$pkg" -name __pycache__ -prune -o -type f -print) | while read -r f; do
    mkdir -p "$STAGE/$(dirname "$f")"; cp "$ROOT/$f" "$STAGE/$f"
  done
done
# --no-isolation uses this environment's setuptools/wheel (offline); drop it to let build fetch them.
"$PY" -m build --no-isolation --outdir "$OUT" "$STAGE" >"$STAGE/build.log" 2>&1 || { tail -40 "$STAGE/build.log" >&2; exit 1; }
"$PY" -m twine check --strict "$OUT"/lean_companion-*.whl "$OUT"/lean_companion-*.tar.gz

if [[ -n "${SKIP_VSIX:-}" ]]; then
  :
elif command -v npm >/dev/null 2>&1 && [[ -d "$ROOT/vscode-extension/node_modules" ]]; then
  (cd "$ROOT/vscode-extension" && npm run --silent compile && npx --no-install vsce package --no-dependencies --allow-missing-repository --out "$OUT/") >/dev/null
else
  echo "skipping the .vsix: run 'npm ci' in vscode-extension first" >&2
fi
ls -l "$OUT"
