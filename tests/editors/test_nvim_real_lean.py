"""Headless Neovim through the lean_companion plugin and the proxy, in front of real Lean 4.35
(prelude mode): the file's diagnostics arrive and hover answers (tests/editors/nvim/real_lean.lua)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.editors.nvim_session import PLUGIN_DIR, make_project, nvim_env, require_nvim
from tests.real_lean.session import FILE_A, position

pytestmark = [pytest.mark.real_lean, pytest.mark.timeout(300)]

SCRIPT = REPO_ROOT / "tests" / "editors" / "nvim" / "real_lean.lua"


@pytest.mark.parametrize("proxy", [("lsp_proxy",), ("copilot.cli", "serve")], ids=["bare", "serve"])
def test_nvim_gets_real_lean_diagnostics_and_hover(real_lean: Path, tmp_path: Path, proxy: tuple[str, ...]) -> None:
    nvim = require_nvim()
    project = make_project(tmp_path, FILE_A)
    (project / ".lean-companion.toml").write_text("[index]\nenabled = false\n")
    out = tmp_path / "observations.json"
    log = tmp_path / "proxy.log"
    hover = position(FILE_A, "id_tt\n#check", 1)
    env = nvim_env(tmp_path)
    env.update(LC_PLUGIN_DIR=str(PLUGIN_DIR), LC_FILE=str(project / "T.lean"), LC_OUT=str(out),
               LC_CMD_JSON=json.dumps([sys.executable, "-m", *proxy, "--log-file", str(log), "--",
                                       str(real_lean), "--server"]),
               LC_HOVER_LINE=str(hover["line"]), LC_HOVER_CHAR=str(hover["character"]),
               LEAN_COMPANION_CONFIG_FILE=str(tmp_path / "user-config.toml"))
    result = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {SCRIPT}"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=240)
    assert out.exists(), f"nvim wrote nothing (rc {result.returncode}): {result.stderr[-2000:]}"
    observed = json.loads(out.read_text())
    assert observed["ok"], observed.get("problem")
    messages = [d["message"] for d in observed["diagnostics"]]
    unknown = [d for d in observed["diagnostics"] if "fals" in d["message"]]
    assert unknown and unknown[0]["lnum"] == FILE_A.splitlines().index("#check fals"), messages
    assert unknown[0]["severity"] == 1  # vim.diagnostic.severity.ERROR
    assert observed["hover"]["contents"]["value"].startswith("```lean\nid_tt : "), observed["hover"]
    assert observed["still_attached"]
