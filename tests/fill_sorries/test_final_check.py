"""`fill-sorries --in-place --final-check`: Lake as the last gate, with a fake `lake` on PATH that
records how it was called (the proofs themselves come from the Lean test double)."""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from copilot.fill_sorries.cli import main
from copilot.fill_sorries.final_check import module_name
from copilot.fill_sorries.report import from_json
from tests.lean_double import double_command

A_LEAN = """theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry

theorem swap (p q : Prop) : p ∧ q → q ∧ p := by
  sorry
"""
NEW_LAKE_HELP = "Check this project against external checker(s)\n\nUSAGE:\n  lake check [OPTIONS]"
OLD_LAKE_HELP = "Lake version 5.0.0\n\nUSAGE:\n  lake [OPTIONS] <COMMAND>\n\nCOMMANDS:\n  build ..."

FAKE_LAKE = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["check", "--help"]:
    print(os.environ["FAKE_LAKE_HELP"])
    sys.exit(0)
code = int(os.environ.get("FAKE_LAKE_EXIT", "0"))
print("Proj/A.lean:2:2: error: unknown tactic" if code else "Build completed successfully.")
sys.exit(code)
"""


@pytest.fixture
def fake_lake(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lake = bin_dir / "lake"
    lake.write_text(FAKE_LAKE.format(python=sys.executable))
    lake.chmod(0o755)
    log = tmp_path / "lake.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_LAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_LAKE_HELP", NEW_LAKE_HELP)

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


def _project(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "proj"
    (project / "Proj").mkdir(parents=True)
    (project / "lakefile.lean").write_text("-- test project\n")
    target = project / "Proj" / "A.lean"
    target.write_text(A_LEAN)
    return project, target


def _args(project: Path, *extra: str) -> list[str]:
    server = shlex.join(double_command("--elab-delay-ms", "5"))
    return ["--project", str(project), "--server-cmd", server, "--budget", "20", "--no-index", "-q", *extra]


def test_lake_check_is_the_gate_where_it_exists(tmp_path, fake_lake):
    """A Lake with `lake check` (Lean >= 4.35): the files are written, `lake check` runs, exit 0."""
    project, target = _project(tmp_path)
    report_path = tmp_path / "r.json"
    code = main(_args(project, "--in-place", "--final-check", "--report", str(report_path)))
    assert code == 0
    assert "sorry" not in target.read_text()
    assert fake_lake() == [["check", "--help"], ["check"]]
    report = from_json(report_path.read_bytes())
    assert report.final_check is not None and report.final_check.ok and report.final_check.command[-1] == "check"


def test_older_lake_builds_the_changed_modules(tmp_path, fake_lake, monkeypatch):
    """A Lake without `check` answers `check --help` with its general help: `lake build Proj.A`."""
    monkeypatch.setenv("FAKE_LAKE_HELP", OLD_LAKE_HELP)
    project, _ = _project(tmp_path)
    code = main(_args(project, "--in-place", "--final-check"))
    assert code == 0
    assert fake_lake()[-1] == ["build", "Proj.A"]


def test_failed_gate_puts_the_files_back(tmp_path, fake_lake, monkeypatch):
    """When Lake fails, the written file gets its old text back, fills become errors, exit 2."""
    monkeypatch.setenv("FAKE_LAKE_EXIT", "1")
    project, target = _project(tmp_path)
    report_path = tmp_path / "r.json"
    code = main(_args(project, "--in-place", "--final-check", "--report", str(report_path)))
    assert code == 2
    assert target.read_text() == A_LEAN
    report = from_json(report_path.read_bytes())
    assert report.final_check is not None and not report.final_check.ok
    assert report.final_check.reverted == ["Proj/A.lean"] and report.files_written == []
    assert "unknown tactic" in (report.error or "")
    assert {r.status for r in report.results} == {"error"}


def test_no_gate_without_writes_or_without_in_place(tmp_path, fake_lake):
    """--final-check needs --in-place (exit 2 at once); a run that wrote nothing runs no gate."""
    project, _ = _project(tmp_path)
    assert main(_args(project, "--final-check")) == 2
    (project / "Proj" / "A.lean").write_text("theorem t : True := trivial\n")
    assert main(_args(project, "--in-place", "--final-check")) == 0
    assert fake_lake() == []


def test_module_names():
    assert module_name("Foo/Bar.lean") == "Foo.Bar"
    assert module_name("Main.lean") == "Main"
