"""Ways to start the double: the `lake`/`lean` shims on PATH and TOML scenarios."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.double.driver import Driver
from tests.lean_double import PACKAGE_DIR, double_command
from tests.lean_double.elaborator import elaborate
from tests.lean_double.scenario import load_scenario

BIN = PACKAGE_DIR / "bin"


def test_shims_identify_themselves_as_the_test_double():
    """`lake --version` and `lean --version` say they are the test double, not Lean."""
    for tool in ("lake", "lean"):
        out = subprocess.run([str(BIN / tool), "--version"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "lean-test-double" in out.stdout
    bad = subprocess.run([str(BIN / "lake"), "build"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "only `lake serve" in bad.stderr


async def test_lake_serve_shim_on_path_runs_the_double(tmp_path):
    """`lake serve --` found on PATH starts the double with options from LEAN_DOUBLE_ARGS."""
    log = tmp_path / "log.jsonl"
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               LEAN_DOUBLE_ARGS=f"--elab-delay-ms 5 --log {log}")
    proc = await asyncio.create_subprocess_exec("lake", "serve", "--", cwd=tmp_path, env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    d = Driver(proc)
    await d.initialize()
    assert await d.shutdown() == 0
    assert log.read_text().count('"dir": "recv"') == 4


def test_double_command_uses_an_absolute_path():
    """double_command() gives an argv that works from any working directory."""
    argv = double_command("--help")
    assert argv[0] == sys.executable and os.path.isabs(argv[1])
    out = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=30)
    assert out.returncode == 0 and "not Lean" in out.stdout


def test_toml_scenarios_load(tmp_path):
    """A scenario in TOML works like its JSON equivalent."""
    path = tmp_path / "s.toml"
    path.write_text('[declarations]\n": True" = "⊢ True"\n\n[[tactics]]\ngoal = "⊢ True"\ntactic = "decide"\n'
                    'result = { error = "nope" }\n', encoding="utf-8")
    sc = load_scenario(path)
    [diag] = elaborate("example : True := by\n  decide\n", sc).diagnostics()
    assert diag.message == "nope"


def test_write_scenario_extends_the_basic_scenario(tmp_path):
    """write_scenario merges into basic.json; new tactic rules take precedence; errors surface early."""
    import pytest

    from tests.lean_double import write_scenario
    from tests.lean_double.scenario import ScenarioError

    path = write_scenario(tmp_path / "s.json",
                          declarations={"(n : Nat) : n * 1 = n": "n : Nat\n⊢ n * 1 = n"},
                          tactics=[{"goal": "⊢ n + 0 = n", "tactic": "simp", "result": {"error": "simp failed here"}}])
    sc = load_scenario(path)
    assert sc.initial_goal("(n : Nat) : n * 1 = n") == "n : Nat\n⊢ n * 1 = n"
    assert sc.initial_goal("(n : Nat) : n + 0 = n") == "n : Nat\n⊢ n + 0 = n"  # base kept
    [diag] = elaborate("theorem a (n : Nat) : n + 0 = n := by\n  simp\n", sc).diagnostics()
    assert diag.message == "simp failed here"
    with pytest.raises(ScenarioError):
        write_scenario(tmp_path / "bad.json", tactics=[{"tactic": "simp"}])
