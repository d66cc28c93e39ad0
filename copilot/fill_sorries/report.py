"""The fill-sorries report: one record per sorry, and its JSON, Markdown and terminal forms.

The JSON form is versioned; its schema is generated from these Structs
(:func:`json_schema`) and kept in ``docs/fill-sorries-report.schema.json``. Regenerate it with
``python -m copilot.fill_sorries.report --write docs/fill-sorries-report.schema.json``
(``--check FILE`` exits 1 when the file is stale).
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Literal

import msgspec

from .final_check import FinalCheck

SCHEMA_VERSION = 1

Status = Literal["filled", "failed", "timeout", "rejected-unsafe", "error", "skipped"]
STATUSES: tuple[str, ...] = ("filled", "failed", "timeout", "rejected-unsafe", "error", "skipped")


class SorryResult(msgspec.Struct, kw_only=True):
    """What happened to one ``sorry``.

    ``line``/``column`` are 1-based (as editors show them); ``column`` counts UTF-16 code
    units, like LSP and SARIF. The ``sorry`` token spans ``column`` to ``column + 5`` on
    ``line``. ``proof`` is the text that replaces the ``sorry`` token (present when
    ``status == "filled"``, also in ``--dry-run`` runs, where nothing is written), as the
    tactic sequence; ``replacement`` is the exact text that replaces the characters
    ``replace_start:replace_end`` (code-point offsets) of the file as it was read.
    """

    file: str
    line: int
    column: int
    declaration: str | None = None
    goal: str | None = None
    status: Status
    proof: str | None = None
    replacement: str | None = None
    replace_start: int | None = None
    replace_end: int | None = None
    time_seconds: float = 0.0
    expansions: int = 0
    models: list[str] = msgspec.field(default_factory=list)
    message: str | None = None
    cached: bool = False


class RunConfig(msgspec.Struct, kw_only=True):
    """The settings a run used (part of the resume key, and shown in reports)."""

    budget_seconds: float
    max_expansions: int
    models: list[str] = msgspec.field(default_factory=list)
    jobs: int = 1
    mode: Literal["dry-run", "diff", "in-place"] = "dry-run"
    server_cmd: list[str] = msgspec.field(default_factory=list)
    lean_toolchain: str = ""


class Summary(msgspec.Struct, kw_only=True):
    total: int = 0
    filled: int = 0
    failed: int = 0
    timeout: int = 0
    rejected_unsafe: int = 0
    error: int = 0
    skipped: int = 0
    files: int = 0
    files_written: int = 0
    seconds: float = 0.0


class Report(msgspec.Struct, kw_only=True):
    """A whole run. ``complete`` is false when the run was interrupted (Ctrl-C) or could not
    do its work; ``error`` then says why when it was not the user (e.g. Lean could not be
    started), and the exit code is 2. ``errors`` lists every problem (files that could not be
    read or written, models that did not load, ...). ``final_check`` is the ``--final-check``
    gate's outcome."""

    schema_version: int = SCHEMA_VERSION
    tool: str = "lean-companion fill-sorries"
    tool_version: str = ""
    project: str
    started_at: str
    finished_at: str | None = None
    complete: bool = True
    config: RunConfig
    summary: Summary = msgspec.field(default_factory=Summary)
    results: list[SorryResult] = msgspec.field(default_factory=list)
    files_written: list[str] = msgspec.field(default_factory=list)
    errors: list[str] = msgspec.field(default_factory=list)
    error: str | None = None
    final_check: FinalCheck | None = None


def summarize(results: Iterable[SorryResult], *, files_written: int = 0, seconds: float = 0.0) -> Summary:
    """Count results by status."""
    results = list(results)
    counts = Counter(r.status for r in results)
    return Summary(
        total=len(results),
        filled=counts["filled"],
        failed=counts["failed"],
        timeout=counts["timeout"],
        rejected_unsafe=counts["rejected-unsafe"],
        error=counts["error"],
        skipped=counts["skipped"],
        files=len({r.file for r in results}),
        files_written=files_written,
        seconds=round(seconds, 3),
    )


def remaining(report: Report) -> int:
    """How many sorries are still unfilled (drives the exit code)."""
    return sum(1 for r in report.results if r.status != "filled")


_encoder = msgspec.json.Encoder()


def to_json(report: Report) -> bytes:
    """The report as indented JSON (UTF-8)."""
    return msgspec.json.format(_encoder.encode(report), indent=2) + b"\n"


def from_json(data: bytes | str) -> Report:
    """Parse a report written by :func:`to_json` (raises ``msgspec.ValidationError``)."""
    return msgspec.json.decode(data, type=Report)


def _clean_descriptions(node: object) -> object:
    """Descriptions as :func:`inspect.cleandoc` leaves them: msgspec copies docstrings verbatim
    up to 0.22 and dedents them from 0.23 on, so the schema must not depend on which one ran."""
    if isinstance(node, dict):
        return {key: inspect.cleandoc(value) if key == "description" and isinstance(value, str)
                else _clean_descriptions(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node


def json_schema() -> dict:
    """The JSON Schema of :class:`Report` (what docs/fill-sorries-report.schema.json holds)."""
    schema = _clean_descriptions(msgspec.json.schema(Report))
    assert isinstance(schema, dict)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lean-companion fill-sorries report"
    return schema


def schema_text() -> str:
    """:func:`json_schema` as the documented file holds it (2-space indent, UTF-8, final newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, *, max_rows: int = 200) -> str:
    """A Markdown summary suitable for a pull-request comment."""
    s = report.summary
    lines = [
        "## Lean Companion: fill-sorries",
        "",
        f"**{s.filled} of {s.total} sorries filled** in {s.files} file(s)"
        + ("" if report.complete else " — *run interrupted, partial report*")
        + f"; budget {report.config.budget_seconds:g}s per sorry, {s.seconds:.1f}s total.",
        "",
        "| status | count |",
        "|---|---:|",
    ]
    for status, count in (
        ("filled", s.filled), ("failed", s.failed), ("timeout", s.timeout),
        ("rejected-unsafe", s.rejected_unsafe), ("error", s.error), ("skipped", s.skipped),
    ):
        if count:
            lines.append(f"| {status} | {count} |")
    lines += ["", "| file | line | declaration | status | time | proof |", "|---|---:|---|---|---:|---|"]
    for r in report.results[:max_rows]:
        proof = f"`{_md_escape(r.proof)}`" if r.proof else (_md_escape(r.message or "") if r.message else "")
        lines.append(
            f"| {_md_escape(r.file)} | {r.line} | {_md_escape(r.declaration or '')} | {r.status} "
            f"| {r.time_seconds:.1f}s | {proof} |"
        )
    if len(report.results) > max_rows:
        lines.append(f"\n… and {len(report.results) - max_rows} more (see the JSON report).")
    return "\n".join(lines) + "\n"


def summary_table(report: Report):
    """A rich Table summarising the run for the terminal."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="fill-sorries", show_lines=False, expand=True)
    # Short columns never wrap (an 80-column terminal must not show "rejected-unsa / fe"); the
    # long ones share the rest, the proof getting most of it, and wrap at spaces.
    table.add_column("file", overflow="fold", ratio=2)
    table.add_column("line", no_wrap=True, justify="right")
    table.add_column("name", overflow="fold", ratio=2)  # the declaration's
    table.add_column("status", no_wrap=True)
    table.add_column("time", no_wrap=True, justify="right")
    table.add_column("proof / reason", overflow="fold", ratio=4)
    styles = {"filled": "green", "failed": "yellow", "timeout": "yellow", "rejected-unsafe": "red", "error": "red"}
    for r in report.results:
        detail = r.proof if r.status == "filled" else (r.message or "")
        # Text cells, never markup: proofs, names and Lean's messages are full of brackets
        # (`rw [h]`, `simp [add_comm]`, `[/x]`) that rich would eat or choke on.
        table.add_row(
            Text(r.file), str(r.line), Text(r.declaration or ""), Text(r.status, style=styles.get(r.status, "")),
            f"{r.time_seconds:.1f}s", Text((detail or "").strip().replace("\n", " ⏎ ")[:120]),
        )
    s = report.summary
    table.caption = (f"{s.filled}/{s.total} filled · {s.failed} failed · {s.timeout} timeout · "
                     f"{s.rejected_unsafe} unsafe · {s.error} error")
    return table


def main(argv: list[str] | None = None) -> int:
    """``python -m copilot.fill_sorries.report``: print, write or check the JSON Schema."""
    parser = argparse.ArgumentParser(prog="python -m copilot.fill_sorries.report",
                                     description="Print the fill-sorries report's JSON Schema, "
                                     "or write/check the documented copy.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", help="write the schema to FILE (docs/fill-sorries-report.schema.json)")
    group.add_argument("--check", metavar="FILE", help="exit 1 when FILE differs from the generated schema")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.write:
        with open(args.write, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        return 0
    if args.check:
        with open(args.check, encoding="utf-8") as handle:
            same = json.loads(handle.read()) == json.loads(text)
        if not same:
            print(f"{args.check} is stale: run python -m copilot.fill_sorries.report --write {args.check}",  # cli-output
                  file=sys.stderr)
        return 0 if same else 1
    sys.stdout.write(text)  # cli-output
    return 0


if __name__ == "__main__":
    sys.exit(main())
