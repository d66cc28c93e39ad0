"""fill-sorries against real Lean 4.35 (``lean --server``, prelude mode: the files declare the few
types they use and no tactic exists, so the candidates given here are terms).

* the token-aware sorry scan agrees with Lean's own ``declaration uses `sorry` `` warnings;
* the whole write-back path: a term candidate source, the search checks candidates in shadow
  documents, the in-file re-check by Lean, the atomic write, and Lean elaborating the written file
  without a sorry warning for the filled declarations;
* the "data, not a proof" probe decided by Lean (a ``Nat``-valued def is skipped, a
  ``Prop``-valued one is filled);
* through the command line with a fake ``lake`` in the project's PATH whose ``lake serve`` execs the
  real ``lean --server`` (the default server command of a Lake project).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from copilot.fill_sorries.cli import main
from copilot.fill_sorries.report import from_json
from copilot.fill_sorries.runner import Options, cross_check, run
from copilot.proof_text import declarations, locate_sorries
from local_models.generation import Candidate
from lsp_proxy.headless import start_lean
from tests.copilot.test_real_lean_prelude_checker import PRELUDE

pytestmark = [pytest.mark.real_lean]
TIMEOUT = 120.0

GOALS = PRELUDE + """
theorem goal1 : And True True := sorry

theorem goal2 : And True True := And.intro sorry sorry

-- a comment that says sorry is not a sorry
theorem sorry_free_name : True := True.intro

def answer : Nat := sorry

def dp : And True True := sorry
"""


class TermSource:
    """Offers term proofs (and one wrong term), as a prover of terms would."""

    id = "terms"
    role = "tactic"

    async def generate(self, request, cancel=None):
        texts = ["And.intro True.intro True.intro", "True.intro", "Nat.zero", "not_a_term"]
        return [Candidate(text=t, score=-i, source=self.id) for i, t in enumerate(texts)]

    def close(self):
        pass


def _lean_warnings(real_lean: Path, path: Path) -> list[str]:
    done = subprocess.run([str(real_lean), str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    return [line for line in done.stdout.splitlines() if "uses `sorry`" in line]


def test_sorry_scan_agrees_with_real_lean_warnings(real_lean, tmp_path):
    """Every declaration the scan finds a sorry in gets Lean's sorry warning, and no other."""
    path = tmp_path / "Goals.lean"
    path.write_text(GOALS)

    async def diagnostics():
        client = await start_lean([str(real_lean), "--server"], tmp_path, request_timeout=TIMEOUT)
        try:
            await client.open(path.as_uri(), GOALS, 1, private=True)
            return await client.wait_for_diagnostics(path.as_uri(), 1, timeout=TIMEOUT)
        finally:
            await client.shutdown()

    found = asyncio.run(diagnostics())
    assert sum(1 for d in found if d.is_sorry_warning) >= 5
    assert cross_check(GOALS, found) == (set(), set())
    names = {loc.declaration for loc in locate_sorries(GOALS)}
    assert names == {"helper_sorried", "goal1", "goal2", "answer", "dp"}
    assert len([loc for loc in locate_sorries(GOALS) if loc.declaration == "goal2"]) == 2
    # and a disagreement is seen as one: drop the warnings of goal2
    index = next(i for i, d in enumerate(declarations(GOALS)) if d.name == "goal2")
    line = GOALS[: declarations(GOALS)[index].start].count("\n")
    without = [d for d in found if not (d.is_sorry_warning and d.range.start.line == line)]
    assert cross_check(GOALS, without) == ({index}, set())


def test_term_candidates_are_filled_rechecked_and_written(real_lean, tmp_path):
    """In-place with a term source: theorems and the Prop-valued def are filled, the Nat-valued def
    is skipped as data; the written file elaborates in real Lean with sorry warnings only where
    sorries remain."""
    path = tmp_path / "Goals.lean"
    path.write_text(GOALS)
    options = Options(project=tmp_path, paths=[path], budget=60, mode="in-place", use_index=False,
                      server_cmd=[str(real_lean), "--server"], extra_generators=[TermSource()], term_holes=True,
                      open_timeout=TIMEOUT)
    report = asyncio.run(run(options))
    assert not report.errors, report.errors
    status = {(r.declaration, r.column): r.status for r in report.results}
    by_decl = {r.declaration: r for r in report.results}
    assert by_decl["goal1"].status == "filled" and by_decl["goal1"].proof == "And.intro True.intro True.intro"
    assert [s for (d, _), s in status.items() if d == "goal2"] == ["filled", "filled"]
    assert by_decl["dp"].status == "filled"
    assert by_decl["answer"].status == "skipped" and "data, not a proof" in (by_decl["answer"].message or "")
    assert by_decl["helper_sorried"].status == "filled" and by_decl["helper_sorried"].proof == "True.intro"
    assert report.files_written == ["Goals.lean"]
    text = path.read_text()
    assert "theorem goal1 : And True True := And.intro True.intro True.intro" in text
    assert "theorem goal2 : And True True := And.intro (True.intro) (True.intro)" in text
    assert "def answer : Nat := sorry" in text
    assert "not_a_term" not in text and "Nat.zero" not in text
    warnings = _lean_warnings(real_lean, path)
    assert len(warnings) == 1 and f":{text[: text.index('def answer')].count(chr(10)) + 1}:" in warnings[0], warnings


def test_cli_through_a_lake_project_with_a_fake_lake(real_lean, tmp_path, monkeypatch, capsys):
    """`fill-sorries --in-place` in a Lake project: the default `lake serve --` is a fake lake that
    execs real `lean --server`; the theorem is written, the data def stays (exit 1: a sorry remains)."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- test project\n")
    path = project / "Goals.lean"
    path.write_text(PRELUDE + "\ntheorem goal1 : And True True := sorry\n\ndef answer : Nat := sorry\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lake = bin_dir / "lake"
    lake.write_text(f'#!/bin/sh\n[ "$1" = serve ] && exec "{real_lean}" --server\necho "fake lake: $*" >&2\nexit 2\n')
    lake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.chdir(project)
    report_path = tmp_path / "r.json"

    from copilot.fill_sorries import runner

    real_run = runner.run

    async def with_terms(options, events=None):  # the CLI has no term-source flag: add ours
        options.extra_generators.append(TermSource())
        options.term_holes = True
        return await real_run(options, events)

    monkeypatch.setattr("copilot.fill_sorries.cli.run", with_terms)
    code = main(["--in-place", "--no-index", "--budget", "60", "--report", str(report_path)])
    assert code == 1, capsys.readouterr().err
    report = from_json(report_path.read_bytes())
    assert {r.declaration: r.status for r in report.results if r.declaration in ("goal1", "answer")} == {
        "goal1": "filled", "answer": "skipped"}
    assert "theorem goal1 : And True True := And.intro True.intro True.intro" in path.read_text()
