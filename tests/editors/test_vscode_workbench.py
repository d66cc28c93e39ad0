"""Lean Companion in the real VS Code workbench, end to end, as a user meets it.

code-server 4.96.4 (VS Code 1.96) runs on 127.0.0.1 with our packaged .vsix and the
vscode-lean4 stand-in (tests/editors/vscode_host/lean4-standin: the real vscode-lean4 cannot be
installed here) in a fresh profile; Chromium, driven by playwright-core, opens a Lake project
whose Lean is the Lean test double (tests/lean_double/bin/lake, reached through
``lean4.envPathExtensions``; the fill-sorry flow needs tactics, which the prelude-only real Lean
lacks). Steps, each asserted on the DOM and saved as a screenshot under the test's folder:
workspace trust; the consent notification, accepted; Lean restarted through our shim →
``lean-companion serve`` → Lean; diagnostics in the Problems panel; Ctrl+. on a ``sorry`` lists
our actions and "Fill sorry with a proof" replaces it; the status bar item; "Disable companion"
puts plain Lean back.

Set-up: scripts/setup-editor-tests.sh (skips with its reason where a part is missing).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.editors.vscode_host import workbench

pytestmark = pytest.mark.slow

DOUBLE_BIN = REPO_ROOT / "tests" / "lean_double" / "bin"
SCENARIO = REPO_ROOT / "tests" / "lean_double" / "scenarios" / "basic.json"
LEAN_FILE = """\
theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry
"""
SORRY_LINE = 1
# Real Lean (prelude only: no Init, no tactics) in a folder without a lakefile: `lean --server`.
REAL_LEAN_FILE = """\
prelude
inductive Two where
  | one | two
def pick : Two := Two.three
"""


def _lean_companion() -> str:
    """This checkout's ``lean-companion`` (the venv's console script)."""
    found = Path(sys.executable).with_name("lean-companion")
    if not found.exists():
        found = Path(shutil.which("lean-companion") or "")
    if not found.is_file():
        pytest.skip("lean-companion is not installed in this environment (scripts/setup.sh)")
    return str(found)


def _run_workbench(tmp: Path, files: dict[str, str], envpath: Path, drive: dict, env: dict[str, str]) -> dict[str, dict]:
    """code-server on a project made of ``files``, ``envpath`` as the user's own entry of
    lean4.envPathExtensions (where the stand-in finds Lean), then the driver; its steps by name."""
    workbench.require_workbench()
    companion = _lean_companion()
    project = tmp / "proj"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    (project / ".lean-companion.toml").write_text("[index]\nenabled = false\n")
    out = tmp / "screens"
    out.mkdir()
    vsix = workbench.package_extension(tmp)
    settings = {
        # the user's own PATH entry for Lean (the double, or the real Lean launcher)
        "lean4.envPathExtensions": [str(envpath)],
        "leanCompanion.path": companion,
        "security.workspace.trust.startupPrompt": "always",
        "security.workspace.trust.untrustedFiles": "open",
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "update.mode": "none",
        "editor.lightbulb.enabled": "on",
    }
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **env,
    }
    (tmp / "home").mkdir()
    with workbench.running_code_server(tmp / "profile", project, [workbench.STANDIN_VSIX, vsix], settings, env,
                                       tmp / "code-server.log") as url:
        recorded = workbench.drive({"url": url, "file": str(project / "T.lean"), "timeoutMs": 90_000, **drive}, out)
    by_name = {s["name"]: s for s in recorded}
    by_name["_out"] = {"dir": str(out)}
    return by_name


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The whole flow with the Lean test double behind `lake serve` (a Lake project)."""
    workbench.require_workbench()
    tmp = tmp_path_factory.mktemp("vscode-workbench")
    files = {"lakefile.toml": 'name = "proj"\n', "lean-toolchain": "leanprover/lean4:v4.30.0\n", "T.lean": LEAN_FILE}
    return _run_workbench(tmp, files, DOUBLE_BIN, {"sorryLine": SORRY_LINE, "tool": "lake"},
                          {"LEAN_DOUBLE_ARGS": f"--scenario {SCENARIO} --elab-delay-ms 50"})


def _step(steps: dict[str, dict], name: str) -> dict:
    step = steps.get(name)
    errors = [s.get("error") for s in steps.values() if s.get("error")]
    assert step is not None, f"the driver never reached step {name!r}: {errors}"
    assert step["ok"], f"step {name!r} failed: {step.get('error')} (screenshot {steps['_out']['dir']}/{step['screenshot']})"
    assert (Path(steps["_out"]["dir"]) / step["screenshot"]).stat().st_size > 10_000
    return step


def test_workbench_opens_and_asks_for_trust(steps: dict[str, dict]) -> None:
    """The VS Code workbench renders; its workspace-trust dialog is answered."""
    _step(steps, "workbench")
    assert "trust" in _step(steps, "trust")["dialog"].lower()


def test_lean_starts_plain_before_consent(steps: dict[str, dict]) -> None:
    """The stand-in starts `lake` by bare name from PATH + lean4.envPathExtensions: before the
    user says yes it is the user's own `lake` (here the double's)."""
    opened = _step(steps, "open")
    assert opened["server"] == f"Lean server: {DOUBLE_BIN / 'lake'}"
    assert "sorry" in opened["text"]


def test_consent_notification_is_shown_and_accepted(steps: dict[str, dict]) -> None:
    """Our notification asks once to add the shim folder to lean4.envPathExtensions."""
    consent = _step(steps, "consent")
    assert "Lean Companion starts Lean's server through its proxy" in consent["message"]
    assert consent["buttons"][:2] == ["For all workspaces", "This workspace only"]


def test_server_restarts_through_the_shim_and_companion(steps: dict[str, dict]) -> None:
    """After consent Lean's server restarts as shim → lean-companion serve → Lean: the stand-in
    resolves `lake` to our shim, and our status bar item shows the proxy's status."""
    restarted = _step(steps, "restarted-through-shim")
    assert restarted["server"].endswith("/shim/lake"), restarted
    assert "portfolio" in restarted["companion"], restarted


def test_diagnostics_reach_the_problems_panel(steps: dict[str, dict]) -> None:
    """Lean's diagnostics pass through the proxy into the Problems panel."""
    rows = _step(steps, "problems")["rows"]
    assert any("declaration uses" in row and "sorry" in row for row in rows), rows


def test_quick_fix_lists_our_actions_and_fill_sorry_changes_the_text(steps: dict[str, dict]) -> None:
    """Ctrl+. on the sorry lists "Fill sorry with a proof (search)" (and checked "Try:"
    suggestions); applying it replaces the sorry with a proof Lean accepted."""
    actions = _step(steps, "quick-fix")["actions"]
    assert "Fill sorry with a proof (search)" in actions, actions
    assert any(a.startswith("Try: ") for a in actions), actions
    filled = _step(steps, "filled")
    assert "sorry" not in filled["line"] and filled["line"].strip(), filled
    assert filled["sorryWarnings"] == 0, filled


def test_status_bar_shows_the_state(steps: dict[str, dict]) -> None:
    """The status bar item: active model · premise index · last suggestion latency."""
    status = _step(steps, "status-bar")
    model, index, latency = (part.strip() for part in status["companion"].split("·"))
    assert model.endswith("portfolio"), status
    assert index and latency, status


def test_disable_restores_plain_lean(steps: dict[str, dict]) -> None:
    """"Lean Companion: Disable companion" takes the shim out and restarts Lean without it."""
    disabled = _step(steps, "disable")
    assert disabled["server"] == f"Lean server: {DOUBLE_BIN / 'lake'}"
    assert disabled["companionVisible"] is False


# ---------------------------------------------------------------- the real Lean tier


@pytest.fixture(scope="module")
def real_steps(tmp_path_factory: pytest.TempPathFactory, real_lean: Path) -> dict[str, dict]:
    """The flow as far as real Lean allows (no tactics, so no sorry to fill): Lean 4.35's real
    frontend started as `lean --server` by bare name, through our shim and the proxy."""
    workbench.require_workbench()
    tmp = tmp_path_factory.mktemp("vscode-workbench-real-lean")
    return _run_workbench(tmp, {"T.lean": REAL_LEAN_FILE}, real_lean.parent,
                          {"tool": "lean", "problem": "Two.three", "fill": False}, {})


@pytest.mark.real_lean
def test_real_lean_through_the_companion_in_the_workbench(real_steps: dict[str, dict], real_lean: Path) -> None:
    """With real Lean: consent, restart through the `lean` shim and the proxy, Lean's own error
    in the Problems panel, the status bar, and Disable gives plain Lean back."""
    assert _step(real_steps, "open")["server"] == f"Lean server: {real_lean}"
    _step(real_steps, "consent")
    restarted = _step(real_steps, "restarted-through-shim")
    assert restarted["server"].endswith("/shim/lean") and "portfolio" in restarted["companion"], restarted
    rows = _step(real_steps, "problems")["rows"]
    assert any("Two.three" in row for row in rows), rows
    assert "portfolio" in _step(real_steps, "status-bar")["companion"]
    disabled = _step(real_steps, "disable")
    assert disabled["server"] == f"Lean server: {real_lean}" and disabled["companionVisible"] is False
