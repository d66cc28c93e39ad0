"""The benchmark harness (`lean-companion bench`) on checkouts rebuilt from the shared statement lists."""
from __future__ import annotations

import json
import shlex
from collections import defaultdict
from pathlib import Path

import pytest

from copilot.fill_sorries.bench import (
    benchmark_files,
    detect,
    main,
    mil_table,
    minif2f_category,
    minif2f_table,
)
from copilot.fill_sorries.report import SorryResult
from copilot.proof_text import declarations, locate_sorries
from tests.conftest import shared_data
from tests.lean_double import double_command


def _records(name: str) -> list[dict]:
    path = shared_data("benchmarks", name)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def minif2f(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A miniF2F-lean4 layout rebuilt exactly from the records (header + blank line + statement)."""
    records = _records("minif2f-lean4.jsonl")
    root = tmp_path_factory.mktemp("minif2f")
    (root / "lakefile.lean").write_text("-- rebuilt for tests\n")
    for r in records:
        path = root / r["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(r["header"] + "\n\n" + r["statement"])
    return root, records


@pytest.fixture(scope="module")
def mil(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A Mathematics in Lean layout with every exercise block at its recorded lines."""
    records = _records("mil-exercises.jsonl")
    root = tmp_path_factory.mktemp("mil")
    by_file: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_file[r["file"]].append(r)
    for file, blocks in by_file.items():
        lines = [""] * max(b["end_line"] for b in blocks)
        for b in blocks:
            lines[b["line"] - 1 : b["end_line"]] = b["decl_text"].split("\n")
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return root, records


def test_minif2f_layout_and_sorry_scan(minif2f):
    """244 test and 244 valid files are found; the scan finds exactly one sorry per file, in its theorem."""
    root, records = minif2f
    assert detect(root) == "minif2f"
    test_files = benchmark_files(root, "minif2f", "test")
    assert len(test_files) == 244 == sum(r["split"] == "test" for r in records)
    assert len(benchmark_files(root, "minif2f", "all")) == 488
    for path in test_files:
        sorries = locate_sorries(path.read_text())
        assert len(sorries) == 1 and sorries[0].declaration == path.stem, path


def test_minif2f_categories_match_the_documented_counts(minif2f):
    """Names map to the README's sources: mathd 260, amc 90, imo 39, algebra 36, aime 30, …"""
    _, records = minif2f
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        counts[minif2f_category(r["name"])] += 1
    assert dict(counts) == {"mathd": 260, "amc": 90, "imo": 39, "algebra": 36, "aime": 30,
                            "induction": 16, "numbertheory": 16, "imosl": 1}


def test_minif2f_table_counts_solved_theorems():
    """The table counts a theorem as solved only when its sorry was filled."""
    results = [
        SorryResult(file="MiniF2F/Test/mathd_algebra_1.lean", line=9, column=1, status="filled", time_seconds=2),
        SorryResult(file="MiniF2F/Test/mathd_algebra_2.lean", line=9, column=1, status="failed", time_seconds=60),
        SorryResult(file="MiniF2F/Test/imo_1959_p1.lean", line=9, column=1, status="timeout", time_seconds=60),
    ]
    table = minif2f_table(results)
    assert {(r.group, r.solved, r.total) for r in table.rows} == {("mathd", 1, 2), ("imo", 0, 1)}
    assert (table.total.solved, table.total.total, table.total.seconds) == (1, 3, 122)


def test_mil_layout_sorries_and_blocks_match_the_statement_list(mil):
    """The scan finds the 335 sorries of the 245 blocks, each attributed to its block."""
    root, records = mil
    assert detect(root) == "mil"
    files = benchmark_files(root, "mil")
    assert len(files) == len({r["file"] for r in records})
    total = 0
    for path in files:
        text = path.read_text()
        rel = path.relative_to(root).as_posix()
        for r in (r for r in records if r["file"] == rel):
            start = sum(len(line) + 1 for line in text.split("\n")[: r["line"] - 1])
            inside = [s for s in locate_sorries(text) if start <= s.start < start + len(r["decl_text"])]
            assert len(inside) == r["sorry_count"], (rel, r["line"])
            total += len(inside)
    assert total == sum(r["sorry_count"] for r in records) == 335
    kinds = ("theorem", "lemma", "example", "def", "instance")
    decl_count = sum(len([d for d in declarations(p.read_text()) if d.keyword in kinds]) for p in files)
    assert decl_count >= 245


def test_mil_table_has_per_sorry_and_per_block_success():
    """A block counts only when all of its sorries are filled."""
    results = [
        SorryResult(file="MIL/C03_Logic/S01_Implication.lean", line=5, column=3, declaration="a", status="filled"),
        SorryResult(file="MIL/C03_Logic/S01_Implication.lean", line=6, column=3, declaration="a", status="failed"),
        SorryResult(file="MIL/C03_Logic/S01_Implication.lean", line=9, column=3, declaration="b", status="filled"),
    ]
    table = mil_table(results)
    assert [(r.group, r.solved, r.total) for r in table.rows] == [("C03", 2, 3)]
    assert [(r.group, r.solved, r.total) for r in table.extra] == [("C03", 1, 2)]


def test_bench_command_runs_end_to_end_on_the_double(minif2f, capsys, tmp_path):
    """`lean-companion bench` runs fill-sorries (dry run) over the first files and prints the table.

    The Lean test double knows none of these Mathlib goals, so nothing is proved; the point is the
    harness wiring: files found, sorries attempted, table printed, checkout untouched.
    """
    root, _ = minif2f
    before = {p: p.read_text() for p in benchmark_files(root, "minif2f", "test")[:2]}
    server = shlex.join(double_command("--elab-delay-ms", "5"))
    code = main([str(root), "--limit", "2", "--budget", "3", "--no-index", "--server-cmd", server,
                 "--report", str(tmp_path / "bench.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "miniF2F: theorems filled" in out and "/ 2" in out
    report = json.loads((tmp_path / "bench.json").read_text())
    assert len(report["results"]) == 2
    assert all(p.read_text() == text for p, text in before.items())


def test_unknown_checkout_is_refused(tmp_path, capsys):
    """A folder that is neither benchmark gets exit 2 and a message."""
    assert main([str(tmp_path)]) == 2
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "neither a miniF2F-lean4 nor a Mathematics in Lean checkout" in out
