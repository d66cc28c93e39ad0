"""fill-sorries on the user's files: line endings, byte-order marks, read-only files, paths outside
the project, files deleted mid-run, data that must not be "proved", Lean missing, and output that
shows proofs with brackets as they are. Against the Lean test double (scripted semantics)."""
from __future__ import annotations

import io
import json
import os
import shlex
import stat
from pathlib import Path

import pytest
from rich.console import Console

from copilot.fill_sorries import cli as fill_cli
from copilot.fill_sorries.cli import main
from copilot.fill_sorries.report import Report, RunConfig, SorryResult, from_json, summarize, summary_table
from tests.lean_double import double_command, write_scenario

A_LEAN = """theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry

theorem swap (p q : Prop) : p ∧ q → q ∧ p := by
  sorry
"""


def _project(tmp_path: Path, text: str = A_LEAN, name: str = "A.lean") -> tuple[Path, Path]:
    project = tmp_path / "proj"
    (project / "Proj").mkdir(parents=True)
    (project / "lakefile.lean").write_text("-- test project\n")
    target = project / "Proj" / name
    target.write_bytes(text.encode("utf-8"))
    return project, target


def _server(scenario: Path | None = None) -> str:
    if scenario is None:
        return shlex.join(double_command("--elab-delay-ms", "5"))
    return shlex.join(double_command("--elab-delay-ms", "5", scenario=scenario))


def _args(project: Path, *extra: str, server: str | None = None) -> list[str]:
    return ["--project", str(project), "--server-cmd", server or _server(), "--budget", "20", "--no-index", "-q", *extra]


# ---------------------------------------------------------------- rich markup never eats text


def _render(renderable) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=300, color_system=None, highlight=False).print(renderable)
    return buffer.getvalue()


def test_summary_table_shows_proofs_with_brackets_verbatim():
    """`rw [h]`, `simp [add_comm]`, `rw [h] at h2` and a `[/x]` in a message print as written."""
    results = [
        SorryResult(file="A.lean", line=1, column=3, declaration="a", status="filled", proof="rw [h]"),
        SorryResult(file="A.lean", line=2, column=3, declaration="b", status="filled", proof="simp [add_comm]"),
        SorryResult(file="A.lean", line=3, column=3, declaration="c[bold]", status="filled", proof="rw [h] at h2"),
        SorryResult(file="[red]B.lean", line=4, column=3, declaration="d", status="failed",
                    message="unknown tactic [/x] near [gguf]"),
    ]
    report = Report(project="p", started_at="now", config=RunConfig(budget_seconds=1, max_expansions=1),
                    results=results, summary=summarize(results))
    text = _render(summary_table(report))
    for shown in ("rw [h]", "simp [add_comm]", "rw [h] at h2", "unknown tactic [/x] near [gguf]", "c[bold]", "[red]B.lean"):
        assert shown in text, (shown, text)


def test_cli_messages_are_plain_text(capsys):
    """Warnings keep their brackets and a closing tag does not raise."""
    err = Console(stderr=True, color_system=None, highlight=False, width=300)
    fill_cli._warn(err, "model x: [gguf] backend missing [/x]")
    fill_cli._error(err, "bad [/] input")
    out = capsys.readouterr().err
    assert "model x: [gguf] backend missing [/x]" in out and "bad [/] input" in out


# ---------------------------------------------------------------- Lean missing, no project


def test_lean_missing_says_only_that(tmp_path, capsys):
    """An unknown server program: exit 2, one message naming it, no "No sorries found." and a
    report that says the run failed (not complete, with the error)."""
    project, _ = _project(tmp_path)
    report_path = tmp_path / "r.json"
    code = main(["--project", str(project), "--server-cmd", "definitely-not-lake serve", "--no-index",
                 "--report", str(report_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert "No sorries found" not in captured.out + captured.err
    assert "`definitely-not-lake` was not found on PATH" in " ".join(captured.err.split())
    report = from_json(report_path.read_bytes())
    assert report.complete is False and report.error and "could not be started" in report.error


def test_lakefile_without_lake_is_an_error_in_the_report(tmp_path, monkeypatch, capsys):
    """A Lake project on a machine without `lake`: exit 2 and the report says Lean could not start
    (it used to say complete: true, total: 0)."""
    project, _ = _project(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    report_path = tmp_path / "r.json"
    code = main(["--project", str(project), "--no-index", "--report", str(report_path)])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "`lake` was not found on PATH" in err and "elan" in err
    data = json.loads(report_path.read_text())
    assert data["complete"] is False and "lake serve" in data["error"]


def test_lake_that_cannot_start_lean_is_an_error(tmp_path, monkeypatch):
    """A `lake` that exits at once (broken toolchain) is an error too, with Lean's stderr."""
    project, _ = _project(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lake = bin_dir / "lake"
    lake.write_text("#!/bin/sh\necho 'error: toolchain not installed' >&2\nexit 1\n")
    lake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    report_path = tmp_path / "r.json"
    code = main(["--project", str(project), "--no-index", "-q", "--report", str(report_path)])
    assert code == 2
    report = from_json(report_path.read_bytes())
    assert report.complete is False and report.error and "toolchain not installed" in report.error


def test_outside_a_lake_project_stops_at_once(tmp_path, monkeypatch, capsys):
    """No lakefile at or above the folder and no --project: say so and stop (no scan)."""
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "X.lean").write_text("theorem x : True := sorry\n")
    monkeypatch.chdir(loose)
    code = main(["--server-cmd", _server(), "--no-index"])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no Lake project at or above" in err and "--project" in err


# ---------------------------------------------------------------- the user's files


def test_crlf_file_keeps_its_line_endings(tmp_path):
    """A CRLF file gets CRLF in the inserted proof lines too."""
    project, target = _project(tmp_path, A_LEAN.replace("\n", "\r\n"))
    code = main(_args(project, "--in-place", str(target)))
    data = target.read_bytes()
    assert code == 0, data
    assert b"sorry" not in data
    assert data.count(b"\n") == data.count(b"\r\n"), data
    assert b"intro h\r\n  constructor\r\n" in data


def test_bom_file_first_declaration_is_filled_and_bom_kept(tmp_path):
    """A file starting with a UTF-8 byte-order mark: its first declaration is found and filled,
    and the mark is still there after writing."""
    project, target = _project(tmp_path, "\ufeff" + A_LEAN)
    report_path = tmp_path / "r.json"
    code = main(_args(project, "--in-place", "--report", str(report_path), str(target)))
    data = target.read_bytes()
    assert code == 0
    assert data.startswith(b"\xef\xbb\xbftheorem add_zero'") and b"sorry" not in data
    report = from_json(report_path.read_bytes())
    first = next(r for r in report.results if r.line == 2)
    assert first.declaration == "add_zero'" and first.status == "filled"


def test_read_only_file_is_refused_unless_forced(tmp_path, capsys):
    """--in-place does not overwrite a read-only file (exit 2, clear message); --force does,
    and the file stays read-only."""
    project, target = _project(tmp_path)
    target.chmod(0o444)
    try:
        code = main(_args(project, "--in-place", str(target)))
        assert code == 2
        assert "read-only" in capsys.readouterr().err
        assert target.read_text() == A_LEAN
        code = main(_args(project, "--in-place", "--force", str(target)))
        assert code == 0
        assert "sorry" not in target.read_text()
        assert stat.S_IMODE(target.stat().st_mode) == 0o444
    finally:
        target.chmod(0o644)


def test_path_outside_the_project_is_refused_unless_allowed(tmp_path, capsys):
    """A file outside --project is not processed (exit 2) unless --allow-outside."""
    project, _ = _project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stray = elsewhere / "S.lean"
    stray.write_text(A_LEAN)
    code = main(_args(project, "--in-place", str(stray)))
    assert code == 2
    assert "outside the project" in capsys.readouterr().err
    assert stray.read_text() == A_LEAN
    code = main(_args(project, "--in-place", "--allow-outside", str(stray)))
    assert code == 0 and "sorry" not in stray.read_text()


@pytest.mark.parametrize("when", ["before-writing", "before-reading"])
def test_file_deleted_during_the_run_exits_2(tmp_path, monkeypatch, when):
    """The documented code for a file that vanished under us is 2 (it was 1), whether it went
    between the search and the write or before it was read."""
    from copilot.fill_sorries import runner

    project, target = _project(tmp_path)
    if when == "before-writing":
        original = runner.FileJob._recheck_and_write

        async def delete_then_write(self, *args):
            target.unlink()
            return await original(self, *args)

        monkeypatch.setattr(runner.FileJob, "_recheck_and_write", delete_then_write)
    else:
        original_found = fill_cli._RichEvents.files_found

        def delete_when_found(self, files, sorries):
            target.unlink()
            original_found(self, files, sorries)

        monkeypatch.setattr(fill_cli._RichEvents, "files_found", delete_when_found)
    report_path = tmp_path / "r.json"
    code = main(_args(project, "--in-place", "--report", str(report_path), str(target)))
    assert code == 2
    assert not target.exists()
    errors = from_json(report_path.read_bytes()).errors
    assert any("deleted" in e or "No such file" in e for e in errors), errors


# ---------------------------------------------------------------- data is not a proof

DATA_LEAN = """def answer : Nat := sorry

theorem swap (p q : Prop) : p ∧ q → q ∧ p := by
  sorry
"""


def _data_scenario(tmp_path: Path) -> Path:
    # What Lean does with the probe: in a Nat-valued def `(sorry : (_ : Prop))` is a type mismatch
    # (checked against the real frontend in test_real_lean.py); where the goal is a Prop it
    # elaborates. `exact 0` closes `⊢ Nat`, as it would in Lean.
    return write_scenario(
        tmp_path / "data.json",
        diagnostics=[{
            "pattern": r"def answer : Nat := (\(sorry : \(_ : Prop\)\))", "group": 1, "severity": 1,
            "message": "Type mismatch\n  sorry\nhas type\n  ?m.2\nof sort `Prop` but is expected to have type\n"
                       "  Nat\nof sort `Type`"}],
        tactics=[{"goal": "⊢ p ∧ q → q ∧ p", "tactic": "exact (sorry : (_ : Prop))", "result": []},
                 {"goal": "⊢ Nat", "tactic": "exact 0", "result": []}],
    )


class _Zero:
    """A source that proposes `exact 0` for everything: it "proves" `Nat`."""

    id = "zero"
    role = "tactic"

    async def generate(self, request, cancel=None):
        from local_models.generation import Candidate

        return [Candidate(text="exact 0", score=0.0, source=self.id)]

    def close(self):
        pass


@pytest.mark.parametrize("fill_data", [False, True])
def test_sorry_in_data_is_skipped_unless_opted_in(tmp_path, fill_data):
    """`def answer : Nat := sorry` is data: skipped with "data, not a proof" while the theorem is
    filled; with fill_data (--fill-data) a source that offers `exact 0` fills it."""
    import asyncio

    from copilot.fill_sorries.runner import Options, run

    project, target = _project(tmp_path, DATA_LEAN)
    options = Options(project=project, paths=[target], budget=10, mode="in-place", use_index=False,
                      server_cmd=shlex.split(_server(_data_scenario(tmp_path))), extra_generators=[_Zero()],
                      fill_data=fill_data)
    report = asyncio.run(run(options))
    by_decl = {r.declaration: r for r in report.results}
    assert by_decl["swap"].status == "filled"
    if fill_data:
        assert by_decl["answer"].status == "filled"
        assert "sorry" not in target.read_text()
    else:
        assert by_decl["answer"].status == "skipped" and "data, not a proof" in (by_decl["answer"].message or "")
        assert target.read_text().startswith("def answer : Nat := sorry\n")


def test_cli_skips_data_and_exits_1(tmp_path):
    """Through the command line: the data sorry remains (exit 1), the theorem is written."""
    project, target = _project(tmp_path, DATA_LEAN)
    code = main(_args(project, "--in-place", str(target), server=_server(_data_scenario(tmp_path))))
    assert code == 1
    text = target.read_text()
    assert text.startswith("def answer : Nat := sorry\n") and text.count("sorry") == 1


def test_proof_obligation_inside_a_def_is_still_filled(tmp_path):
    """A def whose sorry's goal is a Prop is a proof: the probe elaborates, it is searched."""
    text = "def swap_fn (p q : Prop) : p ∧ q → q ∧ p := by\n  sorry\n"
    project, target = _project(tmp_path, text)
    code = main(_args(project, "--in-place", str(target), server=_server(_data_scenario(tmp_path))))
    assert code == 0 and "sorry" not in target.read_text()


def test_summary_table_fits_80_columns_without_breaking_short_words():
    """At 80 columns the status, line, time and header words stay whole; the proof wraps at spaces."""
    results = [
        SorryResult(file="Mathlib/Algebra/Order/Field/Basic.lean", line=120, column=3,
                    declaration="div_le_div_of_nonneg_left_of_something", status="filled", time_seconds=12.3,
                    proof="rw [div_le_div_iff (by positivity) (by positivity)]\nnlinarith [sq_nonneg (a - b), mul_pos ha hb]"),
        SorryResult(file="Foo.lean", line=1, column=3, declaration="x", status="rejected-unsafe",
                    message="all 3 candidates were refused as unsafe"),
    ]
    report = Report(project="p", started_at="now", config=RunConfig(budget_seconds=1, max_expansions=1),
                    results=results, summary=summarize(results))
    buffer = io.StringIO()
    Console(file=buffer, width=80, color_system=None).print(summary_table(report))
    text = buffer.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    for word in ("rejected-unsafe", "12.3s", "(by positivity)", "proof / reason"):
        assert word in text, (word, text)
