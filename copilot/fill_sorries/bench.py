"""``lean-companion bench DIR``: fill-sorries over a benchmark checkout, with a success table.

Knows two benchmarks (statement lists of both are described in docs/fill-sorries.md):

* **miniF2F-lean4** (a checkout with ``MiniF2F/Test`` and ``MiniF2F/Valid``): one theorem per
  file, one ``sorry`` each; success = the file's sorry filled (Lean accepted the proof, the
  statement unchanged). Reported per split and per problem source (mathd, amc, aime, imo, …).
* **Mathematics in Lean** (``MIL/Cxx_*/Sxx_*.lean`` exercise files): per-sorry success, and
  per-block success (a declaration whose sorries are all filled), per chapter.

Nothing is written to the checkout: the run is a ``--dry-run`` whose proofs were all checked
by Lean in their file.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .ray_runner import RayUnavailable, add_ray_arguments, import_ray, ray_options_from_args, run_on_ray
from .report import Report, SorryResult
from .runner import Options, run

MINIF2F_CATEGORIES = ("mathd", "amc", "aime", "imo", "algebra", "induction", "numbertheory", "imosl")


@dataclass
class Row:
    """One line of the success table."""

    group: str
    solved: int = 0
    total: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.solved / self.total if self.total else 0.0


@dataclass
class BenchTable:
    benchmark: str
    measure: str
    rows: list[Row] = field(default_factory=list)
    extra: list[Row] = field(default_factory=list)  # MIL: per-block rows

    @property
    def total(self) -> Row:
        row = Row("total")
        for r in self.rows:
            row.solved += r.solved
            row.total += r.total
            row.seconds += r.seconds
        return row


def detect(checkout: Path) -> str:
    """``minif2f`` or ``mil`` from the checkout's layout (ValueError otherwise)."""
    if (checkout / "MiniF2F").is_dir():
        return "minif2f"
    if (checkout / "MIL").is_dir():
        return "mil"
    raise ValueError(f"{checkout} is neither a miniF2F-lean4 nor a Mathematics in Lean checkout "
                     "(expected a MiniF2F/ or MIL/ folder)")


def benchmark_files(checkout: Path, benchmark: str, split: str = "test") -> list[Path]:
    """The files the benchmark runs over, sorted."""
    if benchmark == "minif2f":
        splits = {"test": ["Test"], "valid": ["Valid"], "all": ["Test", "Valid"]}[split]
        return sorted(p for s in splits for p in (checkout / "MiniF2F" / s).glob("*.lean"))
    pattern = re.compile(r"^C\d\d_")
    return sorted(
        p for chapter in (checkout / "MIL").iterdir() if chapter.is_dir() and pattern.match(chapter.name)
        for p in chapter.glob("S*.lean")
    )


def minif2f_category(name: str) -> str:
    """The problem source of a miniF2F theorem name (its prefix)."""
    for prefix in sorted(MINIF2F_CATEGORIES, key=len, reverse=True):
        if name.startswith(prefix):
            return prefix
    return "other"


def minif2f_table(results: Iterable[SorryResult]) -> BenchTable:
    """Solved theorems per category (a theorem is solved when its sorry was filled)."""
    rows: dict[str, Row] = {}
    for r in results:
        name = Path(r.file).stem
        row = rows.setdefault(minif2f_category(name), Row(minif2f_category(name)))
        row.total += 1
        row.solved += r.status == "filled"
        row.seconds += r.time_seconds
    return BenchTable("miniF2F", "theorems", sorted(rows.values(), key=lambda r: -r.total))


def mil_chapter(file: str) -> str:
    match = re.search(r"(C\d\d)_", file)
    return match.group(1) if match else "other"


def mil_table(results: Iterable[SorryResult]) -> BenchTable:
    """Per-sorry success per chapter, plus per-block success (all sorries of a declaration)."""
    per_sorry: dict[str, Row] = {}
    blocks: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in results:
        chapter = mil_chapter(r.file)
        row = per_sorry.setdefault(chapter, Row(chapter))
        row.total += 1
        row.solved += r.status == "filled"
        row.seconds += r.time_seconds
        blocks[(r.file, r.declaration or f"line {r.line}")].append(r.status == "filled")
    per_block: dict[str, Row] = {}
    for (file, _), filled in blocks.items():
        chapter = mil_chapter(file)
        row = per_block.setdefault(chapter, Row(chapter))
        row.total += 1
        row.solved += all(filled)
    table = BenchTable("Mathematics in Lean", "sorries", sorted(per_sorry.values(), key=lambda r: r.group))
    table.extra = sorted(per_block.values(), key=lambda r: r.group)
    return table


def table_for(benchmark: str, report: Report) -> BenchTable:
    return minif2f_table(report.results) if benchmark == "minif2f" else mil_table(report.results)


def render(table: BenchTable, budget: float) -> Table:
    """The rich table printed at the end."""
    out = Table(title=f"{table.benchmark}: {table.measure} filled (budget {budget:g}s each)")
    out.add_column("group")
    out.add_column("filled / total", justify="right")
    out.add_column("rate", justify="right")
    out.add_column("time", justify="right")
    for row in [*table.rows, table.total]:
        out.add_row(Text(row.group), f"{row.solved} / {row.total}", f"{100 * row.rate:.1f}%", f"{row.seconds:.0f}s")
    if table.extra:
        blocks = Row("blocks (all sorries of a declaration)")
        for row in table.extra:
            blocks.solved += row.solved
            blocks.total += row.total
        out.add_row(blocks.group, f"{blocks.solved} / {blocks.total}", f"{100 * blocks.rate:.1f}%", "")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lean-companion bench",
                                     description="Run fill-sorries over a miniF2F-lean4 or Mathematics in Lean checkout "
                                                 "at a fixed budget and print the success table (writes nothing).")
    parser.add_argument("checkout", type=Path, help="the benchmark checkout (built with `lake build` beforehand)")
    parser.add_argument("--split", choices=("test", "valid", "all"), default="test", help="miniF2F split (default test)")
    parser.add_argument("--budget", type=float, default=60.0, metavar="SECONDS", help="search time per sorry (default 60)")
    parser.add_argument("--max-expansions", type=int, default=200, metavar="N", help="search expansions per sorry (default 200)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="files processed in parallel (default 1)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N files")
    parser.add_argument("--model", dest="models", action="append", default=[], metavar="ID",
                        help="a model to use besides the built-in portfolio (repeatable)")
    parser.add_argument("--server-cmd", metavar='"CMD ..."', help="start this instead of `lake serve`")
    parser.add_argument("--report", type=Path, action="append", default=[], metavar="FILE",
                        help="also write a report: .json, .md or .sarif (repeatable)")
    parser.add_argument("--no-index", action="store_true", help="do not use the premise index")
    add_ray_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion bench``."""
    from .cli import write_reports

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    console = Console()
    checkout = args.checkout.resolve()
    try:
        benchmark = detect(checkout)
    except ValueError as exc:
        console.print(f"[red]bench:[/] {escape(str(exc))}")
        return 2
    files = benchmark_files(checkout, benchmark, args.split)[: args.limit]
    if not files:
        console.print(f"[red]bench:[/] no benchmark files found under {escape(str(checkout))}")
        return 2
    try:
        ray_options = ray_options_from_args(args)
        if ray_options is not None:
            import_ray()
    except (ValueError, RayUnavailable) as exc:
        console.print(f"[red]bench:[/] {escape(str(exc))}")
        return 2
    options = Options(
        project=checkout, paths=files, budget=args.budget, max_expansions=args.max_expansions, jobs=args.jobs,
        models=args.models, mode="dry-run", server_cmd=shlex.split(args.server_cmd) if args.server_cmd else None,
        use_index=not args.no_index,
    )
    console.print(f"{benchmark}: {len(files)} file(s), budget {args.budget:g}s per sorry")
    report = asyncio.run(run(options) if ray_options is None else run_on_ray(options, ray_options))
    for problem in write_reports(report, args.report):
        console.print(f"[yellow]bench:[/] {escape(problem)}")
    console.print(render(table_for(benchmark, report), args.budget))
    for error in report.errors:
        console.print(f"[yellow]bench:[/] {escape(error)}")
    return 0 if report.complete else 1
