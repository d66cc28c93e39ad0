"""The VS Code extension's own test suite (node:test against a stubbed ``vscode`` module, the
generated shims run for real) and its packaging into a .vsix, driven from pytest so CI runs
them. Skips cleanly where npm or the extension's node_modules (``npm ci``) are absent."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

EXTENSION = REPO_ROOT / "vscode-extension"


def _require_node_modules() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node not installed")
    if not (EXTENSION / "node_modules" / "typescript").is_dir():
        pytest.skip("vscode-extension/node_modules missing: run `npm ci` in vscode-extension (scripts/setup.sh --dev does)")
    return npm


def test_npm_test_passes() -> None:
    """`npm test` compiles the extension and its whole node:test suite passes with no failure
    and nothing skipped (the shim-chain test runs the real proxy)."""
    npm = _require_node_modules()
    # PYTHON: the shim-chain test runs this interpreter's `lean-companion serve` behind the shim.
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run([npm, "test"], cwd=EXTENSION, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "# fail 0" in output, output[-3000:]
    passed = [line for line in output.splitlines() if line.startswith("# pass ")]
    assert passed and int(passed[-1].split()[-1]) >= 40, output[-3000:]
    skipped = [line for line in output.splitlines() if line.startswith("# skipped ")]
    assert skipped and skipped[-1] == "# skipped 0", output[-3000:]


def test_vsce_packages_a_vsix(tmp_path: Path) -> None:
    """`vsce package --no-dependencies` builds a .vsix offline holding the compiled extension,
    the manifest, README and LICENSE, and none of the sources or tests."""
    _require_node_modules()
    npx = shutil.which("npx")
    assert npx is not None
    out = tmp_path / "lean-companion.vsix"
    result = subprocess.run(
        [npx, "--no-install", "vsce", "package", "--no-dependencies", "--out", str(out)],
        cwd=EXTENSION, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    names = set(zipfile.ZipFile(out).namelist())
    for required in (
        "extension.vsixmanifest",
        "extension/package.json",
        "extension/readme.md",
        "extension/LICENSE.txt",
        "extension/out/src/extension.js",
        "extension/out/src/shims.js",
    ):
        assert required in names, sorted(names)
    extras = {n for n in names if n.startswith("extension/out/") and not (n.startswith("extension/out/src/") and n.endswith(".js"))}
    assert not extras, f"build leftovers in the .vsix: {sorted(extras)}"
    assert not any(n.startswith("extension/src/") or "node_modules" in n for n in names), sorted(names)
