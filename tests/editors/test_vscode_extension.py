"""The VS Code extension's own test suite (node:test against a stubbed ``vscode`` module, the
generated shims run for real) and its packaging into a .vsix, driven from pytest so CI runs
them. Skips cleanly where npm or the extension's node_modules (``npm ci``) are absent."""
from __future__ import annotations

import json
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


def _compiled(npm: str) -> None:
    """Compile the extension unless out/ is newer than every source (npm test compiled it)."""
    pairs = [(src, EXTENSION / "out" / "src" / (src.stem + ".js")) for src in EXTENSION.glob("src/*.ts")]
    if pairs and all(out.exists() and out.stat().st_mtime >= src.stat().st_mtime for src, out in pairs):
        return
    result = subprocess.run([npm, "run", "compile"], cwd=EXTENSION, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


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
    _compiled(_require_node_modules())
    npx = shutil.which("npx")
    assert npx is not None
    out = tmp_path / "lean-companion.vsix"
    result = subprocess.run(
        [npx, "--no-install", "vsce", "package", "--no-dependencies", "--allow-missing-repository", "--out", str(out)],
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
    extras = {n for n in names
              if n.startswith("extension/out/") and not (n.startswith("extension/out/src/") and n.endswith(".js"))}
    assert not extras, f"build leftovers in the .vsix: {sorted(extras)}"
    assert not any(n.startswith("extension/src/") or "node_modules" in n for n in names), sorted(names)


NODE_SETTINGS_PROBE = r"""
const { readSettings, PROXY_SETTINGS } = require('./out/src/settings.js')
const sample = JSON.parse(process.argv[1])
const { overlay, problems } = readSettings({ inspect: key => ({ globalValue: sample[key] }) })
console.log(JSON.stringify({ keys: Object.keys(PROXY_SETTINGS), overlay, problems }))
"""


def test_settings_overlay_is_a_valid_companion_config() -> None:
    """The `$/leanCompanion/configure` overlay the extension builds from its settings is a valid
    partial `local_models.config.Config` (unknown keys are rejected there), and every value
    lands on the key it is meant for."""
    npm = _require_node_modules()
    msgspec = pytest.importorskip("msgspec")
    config = pytest.importorskip("local_models.config")
    _compiled(npm)
    sample = {
        "models.tactic": "smollm2-135m", "models.embedding": "all-minilm-l6-v2", "models.threads": 3,
        "suggest.enabled": False, "suggest.completions": False, "suggest.codeActions": False,
        "suggest.maxCandidates": 5, "suggest.timeoutSeconds": 3.5,
        "search.budgetSeconds": 30, "search.maxExpansions": 50, "safety.allowNativeDecide": True,
    }
    probe = subprocess.run(["node", "-e", NODE_SETTINGS_PROBE, json.dumps(sample)], cwd=EXTENSION,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)
    assert sorted(got["keys"]) == sorted(sample), "the sample must cover every proxy setting"
    assert got["problems"] == []
    cfg = msgspec.convert(got["overlay"], config.Config)
    assert cfg.models.tactic == ["smollm2-135m"] and cfg.models.embedding == "all-minilm-l6-v2" and cfg.models.threads == 3
    assert (cfg.suggest.enabled, cfg.suggest.completions, cfg.suggest.code_actions) == (False, False, False)
    assert (cfg.suggest.max_candidates, cfg.suggest.timeout_seconds) == (5, 3.5)
    assert (cfg.search.budget_seconds, cfg.search.max_expansions) == (30, 50)
    assert cfg.safety.allow_native_decide is True
