"""``fill-sorries`` / ``lean-companion fill-sorries``: the command line of the batch filler.

The default mode is ``--diff``: proofs are searched and re-checked, the changes are shown as
unified diffs, and **nothing is written**. ``--in-place`` writes (atomically, only proofs Lean
accepted in the real file); ``--dry-run`` only reports.

Exit codes: 0 no sorry left unfilled, 1 some sorries remain (or the run was interrupted),
2 error (bad arguments, no project, Lean could not be started, a file could not be read or
written, a read-only file or one outside the project, a model that did not load, a failed
``--final-check``).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.text import Text

from .ray_runner import RayOptions, RayUnavailable, add_ray_arguments, import_ray, ray_options_from_args, run_on_ray
from .report import Report, SorryResult, remaining, summary_table, to_json, to_markdown
from .runner import Events, Options, find_project_root, outside_project, run
from .sarif import to_sarif

EXIT_OK, EXIT_REMAINING, EXIT_ERROR = 0, 1, 2


def build_parser(prog: str = "fill-sorries") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fill the sorries of a Lean project with proofs that Lean accepted. "
        "By default shows the changes as diffs and writes nothing (use --in-place to write).",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the whole project)")
    parser.add_argument("--project", type=Path, help="project root (default: the nearest folder with a lakefile)")
    parser.add_argument("--model", dest="models", action="append", default=[], metavar="ID",
                        help="a model to use besides the built-in portfolio (repeatable; see `lean-companion models list`)")
    parser.add_argument("--budget", type=float, default=60.0, metavar="SECONDS", help="search time per sorry (default 60)")
    parser.add_argument("--max-expansions", type=int, default=200, metavar="N", help="search expansions per sorry (default 200)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="files processed in parallel (default 1)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", dest="mode", action="store_const", const="dry-run",
                      help="report only; write nothing")
    mode.add_argument("--diff", dest="mode", action="store_const", const="diff",
                      help="print unified diffs; write nothing (default)")
    mode.add_argument("--in-place", dest="mode", action="store_const", const="in-place",
                      help="write the verified proofs into the files")
    parser.set_defaults(mode="diff")
    parser.add_argument("--report", type=Path, action="append", default=[], metavar="FILE",
                        help="write a report: .json, .md or .sarif (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="skip sorries already decided by an earlier run with the same settings")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB", help="only files matching (project-relative)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files matching (project-relative)")
    parser.add_argument("--server-cmd", metavar='"CMD ..."',
                        help='start this instead of `lake serve` (e.g. "lake env lean --server")')
    parser.add_argument("--final-check", action="store_true",
                        help="with --in-place: afterwards run `lake check` (Lean >= 4.35) or `lake build` of the "
                             "changed modules, and put the files back if it fails")
    parser.add_argument("--force", action="store_true", help="with --in-place: also write read-only files")
    parser.add_argument("--allow-outside", action="store_true", help="accept files outside the project")
    parser.add_argument("--fill-data", action="store_true",
                        help="also fill sorries whose type is data, not a proposition (def/instance/abbrev values)")
    parser.add_argument("--no-index", action="store_true", help="do not use the premise index")
    parser.add_argument("--server-per-job", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log-file", type=Path, help="write a debug log here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table")
    add_ray_arguments(parser)
    return parser


def _error(console: Console, message: str) -> None:
    """``fill-sorries: message`` in red; the message is plain text, never markup."""
    console.print(Text.assemble(("fill-sorries:", "red"), " ", message), soft_wrap=True)  # URLs stay whole


def _warn(console: Console, message: str) -> None:
    console.print(Text.assemble(("fill-sorries:", "yellow"), " ", message), soft_wrap=True)


class _RichEvents(Events):
    """Progress bar (done / filled / failed) and diffs on the terminal."""

    def __init__(self, console: Console, progress: Progress | None, show_diffs: bool) -> None:
        self.console = console
        self.progress = progress
        self.show_diffs = show_diffs
        self.task = None
        self.filled = self.failed = 0

    def _describe(self) -> str:
        return f"filled [green]{self.filled}[/] · not filled [yellow]{self.failed}[/]"

    def files_found(self, files, sorries) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task(self._describe(), total=sorries)

    def sorry_done(self, result: SorryResult) -> None:
        if result.status == "filled":
            self.filled += 1
        else:
            self.failed += 1
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, description=self._describe())

    def file_done(self, path, diff) -> None:
        if diff and self.show_diffs:
            self.console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def write_reports(report: Report, paths: Sequence[Path]) -> list[str]:
    """Write each requested report by extension; returns error messages."""
    import json

    problems = []
    for path in paths:
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                data = to_json(report)
            elif suffix == ".md":
                data = to_markdown(report).encode()
            elif suffix == ".sarif":
                log = to_sarif(report, project_uri=Path(report.project).resolve().as_uri())
                data = (json.dumps(log, indent=2, ensure_ascii=False) + "\n").encode()
            else:
                problems.append(f"{path}: unknown report format (use .json, .md or .sarif)")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            problems.append(f"{path}: {exc}")
    return problems


def _setup_logging(path: Path | None) -> None:
    if path is None:
        logging.basicConfig(level=logging.WARNING, handlers=[logging.NullHandler()])
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)


async def _run_cancellable(options: Options, events: Events, ray_options: RayOptions | None = None) -> Report:
    """Run with SIGINT/SIGTERM cancelling the run (it then returns the partial report)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    inner = asyncio.ensure_future(run(options, events) if ray_options is None else run_on_ray(options, ray_options, events))
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, inner.cancel)
        except (NotImplementedError, RuntimeError):  # not the main thread / Windows
            pass
    try:
        return await inner
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass


def main(argv: Sequence[str] | None = None, *, prog: str = "fill-sorries") -> int:
    """Entry point; see the module docstring for modes and exit codes."""
    parser = build_parser(prog)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    _setup_logging(args.log_file)
    start = args.project or (args.paths[0] if args.paths else Path.cwd())
    start = start if start.is_dir() else start.parent
    if not start.exists():
        _error(err, f"no such folder: {start}")
        return EXIT_ERROR
    project = args.project.resolve() if args.project else find_project_root(start)
    if project is None:
        _error(err, f"no Lake project at or above {start.resolve()} (no lakefile.lean or lakefile.toml): "
                    "run it inside a project, or name the project with --project DIR")
        return EXIT_ERROR
    outside = [] if args.allow_outside else outside_project(args.paths, project)
    if outside:
        _error(err, f"{outside[0]} is outside the project {project}: name its project with --project DIR, "
                    "or pass --allow-outside")
        return EXIT_ERROR
    if args.jobs < 1 or args.budget <= 0 or args.max_expansions < 1:
        _error(err, "--jobs, --budget and --max-expansions must be positive")
        return EXIT_ERROR
    if args.final_check and args.mode != "in-place":
        _error(err, "--final-check checks written files: use it with --in-place")
        return EXIT_ERROR
    try:
        ray_options = ray_options_from_args(args)
        if ray_options is not None:
            import_ray()
    except (ValueError, RayUnavailable) as exc:
        _error(err, str(exc))
        return EXIT_ERROR
    try:
        server_cmd = shlex.split(args.server_cmd) if args.server_cmd else None
    except ValueError as exc:
        _error(err, f"--server-cmd: {exc}")
        return EXIT_ERROR
    options = Options(
        project=project, paths=[p.resolve() for p in args.paths], include=args.include, exclude=args.exclude,
        budget=args.budget, max_expansions=args.max_expansions, models=args.models, jobs=args.jobs,
        mode=args.mode, resume=args.resume, server_cmd=server_cmd, use_index=not args.no_index,
        server_per_job=args.server_per_job, force=args.force, allow_outside=args.allow_outside,
        fill_data=args.fill_data, final_check=args.final_check,
    )
    show = not args.quiet
    progress = Progress(
        TextColumn("[bold]fill-sorries"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=err, transient=True,
    ) if show and err.is_terminal else None
    events = _RichEvents(console, progress, show_diffs=args.mode == "diff")
    try:
        if progress is not None:
            with progress:
                report = asyncio.run(_run_cancellable(options, events, ray_options))
        else:
            report = asyncio.run(_run_cancellable(options, events, ray_options))
    except (FileNotFoundError, RayUnavailable) as exc:
        _error(err, str(exc))
        return EXIT_ERROR
    problems = write_reports(report, args.report)
    if report.error is not None and not report.results:
        # The run could not do its work (Lean did not start): say that, and only that.
        _error(err, report.error)
        for message in [*(e for e in report.errors if e != report.error), *problems]:
            _warn(err, message)
        return EXIT_ERROR
    if show and report.results:
        console.print(summary_table(report))
    elif show:
        console.print("No sorries found.")
    for message in [*report.errors, *problems]:
        _warn(err, message)
    if show and report.final_check is not None:
        check = report.final_check
        line = Text.assemble(("final check: ", "bold"), " ".join(check.command), " ",
                             ("passed", "green") if check.ok else ("failed", "red"))
        console.print(line)
    if problems or report.error is not None:
        return EXIT_ERROR
    if not report.complete:  # interrupted: partial report
        return EXIT_REMAINING if remaining(report) else EXIT_OK
    if report.errors:
        return EXIT_ERROR
    return EXIT_REMAINING if remaining(report) else EXIT_OK
