"""The ``lean_companion`` Neovim module's own logic, in headless Neovim: the proxy command it
builds (lake serve in a Lake project, lean --server elsewhere), root detection, the user
commands it defines, and `autostart = false` (commands only, e.g. next to lean.nvim)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.editors.nvim_session import NVIM_VERSIONS, PLUGIN_DIR, nvim_env, require_nvim, run_session

pytestmark = pytest.mark.nvim

PROBE = r"""
vim.opt.runtimepath:prepend(os.getenv('LC_PLUGIN_DIR'))
local lc = require('lean_companion')
local root = os.getenv('LC_ROOT')
local out = {}
lc.setup({ serve_args = { '--log-file', '/tmp/x.log' } })
out.lake_cmd = lc.cmd(root .. '/lakeproj')
out.lean_cmd = lc.cmd(root .. '/plain')
out.root_nested = lc.find_root(root .. '/lakeproj/Sub/Dir/A.lean')
out.root_none = lc.find_root('/A.lean') or vim.NIL
lc.setup({ companion = '/opt/lc/bin/lean-companion', server_cmd = { 'lake', '+leanprover/lean4:v4.9.0', 'serve', '--' } })
out.custom_cmd = lc.cmd(root .. '/plain')
lc.setup({ cmd = { 'x', 'y' } })
out.override_cmd = lc.cmd(root .. '/lakeproj')
local names = {}
for name, _ in pairs(vim.api.nvim_get_commands({})) do
  if name:match('^LeanCompanion') then table.insert(names, name) end
end
table.sort(names)
out.commands = names
lc.setup({ autostart = false, cmd = { 'false' } })
vim.cmd('edit ' .. root .. '/plain/A.lean')
out.autostart_off_filetype = vim.bo.filetype
out.autostart_off_clients = #vim.lsp.get_active_clients()
local messages = {}
vim.notify = function(msg) table.insert(messages, msg) end
lc.suggest()
out.messages = messages
local f = io.open(os.getenv('LC_OUT'), 'w')
f:write(vim.fn.json_encode(out))
f:close()
vim.cmd('qa!')
"""


@pytest.mark.parametrize("version", NVIM_VERSIONS)
def test_module_builds_commands_and_finds_roots(tmp_path: Path, version: str) -> None:
    """`cmd(root)` wraps `lake serve --` for a Lake project and `lean --server` otherwise, after
    `lean-companion serve <serve_args> --`; explicit `server_cmd`/`cmd` win; the root is the
    nearest folder with a marker; all :LeanCompanion* commands exist; without a client the
    commands say so instead of failing."""
    nvim = require_nvim(version)
    (tmp_path / "lakeproj" / "Sub" / "Dir").mkdir(parents=True)
    (tmp_path / "lakeproj" / "lakefile.toml").write_text('name = "p"\n')
    (tmp_path / "plain").mkdir()
    probe = tmp_path / "probe.lua"
    probe.write_text(PROBE)
    out = tmp_path / "out.json"
    env = nvim_env(tmp_path)
    env.update(LC_PLUGIN_DIR=str(PLUGIN_DIR), LC_ROOT=str(tmp_path), LC_OUT=str(out))
    result = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {probe}"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert out.exists(), result.stderr
    got = json.loads(out.read_text())
    assert got["lake_cmd"] == ["lean-companion", "serve", "--log-file", "/tmp/x.log", "--", "lake", "serve", "--"]
    assert got["lean_cmd"] == ["lean-companion", "serve", "--log-file", "/tmp/x.log", "--", "lean", "--server"]
    assert got["root_nested"] == str(tmp_path / "lakeproj")
    assert got["root_none"] is None
    assert got["custom_cmd"] == ["/opt/lc/bin/lean-companion", "serve", "--", "lake", "+leanprover/lean4:v4.9.0", "serve", "--"]
    assert got["override_cmd"] == ["x", "y"]
    assert got["commands"] == sorted([
        "LeanCompanionFillAll", "LeanCompanionFillSorry", "LeanCompanionLog", "LeanCompanionPremises",
        "LeanCompanionStatus", "LeanCompanionSuggest", "LeanCompanionTry",
    ])
    assert len(got["messages"]) == 1 and "no lean-companion client" in got["messages"][0]
    assert got["autostart_off_filetype"] == "lean" and got["autostart_off_clients"] == 0


THREE_SORRIES = """\
theorem a (n : Nat) : n + 0 = n := by
  sorry
theorem b (n : Nat) : 0 + n = n := by
  sorry
theorem c : 2 + 2 = 4 := by
  sorry
"""


@pytest.mark.parametrize("version", NVIM_VERSIONS)
def test_commands_against_a_scripted_companion(tmp_path: Path, version: str) -> None:
    """The plugin's commands speak docs/editor-protocol.md correctly, checked against a scripted
    stand-in for the proxy's companion side (tests/editors/fake_companion_server.py, until
    copilot answers these for real): :LeanCompanionSuggest replaces the sorry with the tactic
    picked, :LeanCompanionFillSorry applies the returned edit, :LeanCompanionTry runs the
    "Fill sorry with a proof (search)" action's command (workspace/executeCommand, answered by
    a workspace/applyEdit), :LeanCompanionPremises inserts the name picked, :LeanCompanionStatus
    reports the model and index, and :LeanCompanionLog opens the log file status names."""
    record = tmp_path / "received.jsonl"
    log = tmp_path / "companion.log"
    log.write_text("fake log\n")
    server = [sys.executable, "-m", "tests.editors.fake_companion_server", "--record", str(record), "--log-file", str(log)]
    got = run_session(tmp_path, "commands", server, direct=True, text=THREE_SORRIES,
                      extra_env={"LC_EXPECT_DIAGNOSTICS": "0", "LC_LOG": str(log)}, nvim_version=version)
    assert got["suggest_applied"] and got["fill_applied"] and got["command_applied"] and got["premise_inserted"], got
    assert got["lines"][:5] == ["theorem a (n : Nat) : n + 0 = n := by", "  omega", "theorem b (n : Nat) : 0 + n = n := by",
                                "  simp", "theorem c : 2 + 2 = 4 := by"]
    assert "Nat.zero_add" in got["lines"][5] and "decide" in got["lines"][5]
    assert got["picks"][0] == ["omega  [closes, fake]", "induction n  [progress, fake]"]
    assert got["picks"][1] == ["Fill sorry with a proof (search)"]
    assert got["picks"][2] == ["Nat.zero_add : ∀ (n : Nat), 0 + n = n  (Init.Core)"]
    assert any("fake-model" in m and "index ready (42)" in m for m in got["messages"]), got["messages"]
    assert got["log_opened"] is True
    received = [json.loads(line) for line in record.read_text().splitlines()]
    by_method = {}
    for message in received:
        by_method.setdefault(message["method"], []).append(message)
    suggest = by_method["$/leanCompanion/suggest"][0]["params"]
    assert suggest["position"] == {"line": 1, "character": 2} and suggest["textDocument"]["uri"].endswith("/T.lean")
    assert isinstance(suggest["textDocument"]["version"], int)
    assert by_method["$/leanCompanion/fillSorry"][0]["params"]["scope"] == "position"
    assert by_method["$/leanCompanion/premises"][0]["params"]["k"] == 20
    (execute,) = by_method["workspace/executeCommand"]
    assert execute["params"]["command"].startswith("leanCompanion.proxy.") and execute["params"]["command"].endswith(".fillSorry")
    assert execute["params"]["arguments"][0]["position"] == {"line": 5, "character": 2}
    assert by_method["$/leanCompanion/status"][0]["params"] == {}
