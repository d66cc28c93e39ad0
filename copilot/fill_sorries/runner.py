"""The fill-sorries pipeline: find files and sorries, search proofs, re-check, write.

For each file: open it in a headless Lean (no editor), wait for its diagnostics, find every
``sorry`` (token-aware source scan, cross-checked with Lean's sorry warnings), read each goal,
and run the Lean-checked proof search (:mod:`copilot.search`) within the budget. Proofs found
are then applied together and **re-checked in the real file**: no new error, exactly the filled
declarations lose their sorry warning, and every declaration's statement text is unchanged.
Only then is anything written (atomically, refusing a file changed since it was read).
"""
from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import msgspec

from copilot.checker import Checker, CheckerConfig, CheckTarget
from copilot.proof_text import SorryLocation, declarations, locate_sorries, lsp_to_offset, normalize_statement
from copilot.search import SearchConfig, SearchResult, search
from local_models.generation import TacticGenerator
from lsp_proxy.errors import LeanError
from lsp_proxy.lean_client import Diagnostic, LeanClient

from .final_check import run_final_check
from .report import Report, RunConfig, SorryResult, summarize
from .resume import ResumeCache, default_cache_path, result_key
from .writer import (
    ConcurrentModification,
    ReadOnlyFile,
    Snapshot,
    atomic_write,
    check_writable,
    read_snapshot,
    unified_diff,
    with_newlines,
)

log = logging.getLogger(__name__)

Mode = Literal["dry-run", "diff", "in-place"]
DEFAULT_EXCLUDES = (".lake/*", "*/.lake/*", "lake-packages/*", "build/*", ".git/*")
SHADOW_MARKER = ".lean-companion-shadow"
# Declarations whose value can be data; a sorry there is filled only when its goal is a Prop.
DATA_KEYWORDS = frozenset({"def", "instance", "abbrev", "example", "opaque"})
DATA_MESSAGE = "data, not a proof: its type is not a Prop (--fill-data fills it anyway)"
# Replaces a sorry in the data probe: Lean accepts it only where the expected type is a Prop.
PROP_PROBE = {"term": "(sorry : (_ : Prop))", "tactic": "exact (sorry : (_ : Prop))"}


class OutsideProject(ValueError):
    """A path given on the command line is not inside the project (``--allow-outside``)."""


@dataclass
class Options:
    """Everything one run needs (the CLI builds this)."""

    project: Path
    paths: list[Path] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    budget: float = 60.0
    max_expansions: int = 200
    models: list[str] = field(default_factory=list)
    jobs: int = 1
    mode: Mode = "diff"
    resume: bool = False
    server_cmd: list[str] | None = None
    use_index: bool = True
    server_per_job: bool = False
    open_timeout: float = 600.0
    heartbeats: int = 200_000
    batch_size: int = 8
    cache_path: Path | None = None
    force: bool = False  # write read-only files too
    allow_outside: bool = False  # accept paths outside the project
    fill_data: bool = False  # also fill sorries whose type is data (def/instance/abbrev values)
    final_check: bool = False  # after --in-place, `lake check` / `lake build` of the changed modules
    final_check_timeout: float = 3600.0
    # Programmatic use: term-position sorries (`:= sorry`) get candidates put in as terms
    # (`:= t`, for sources that produce terms, e.g. in a prelude file where no tactic exists).
    term_holes: bool = False
    # Programmatic use (tests, the bench harness): sources added to the portfolio and models.
    extra_generators: list[TacticGenerator] = field(default_factory=list)


class Events:
    """Progress callbacks (the CLI shows them with rich; tests record them)."""

    def files_found(self, files: Sequence[Path], sorries: int) -> None: ...

    def sorry_done(self, result: SorryResult) -> None: ...

    def file_done(self, path: Path, diff: str | None) -> None: ...


@dataclass
class _Fill:
    location: SorryLocation
    result: SorryResult


def default_server_cmd(project: Path) -> list[str]:
    """``lake serve --`` in a Lake project, else ``lean --server``."""
    if (project / "lakefile.lean").exists() or (project / "lakefile.toml").exists():
        return ["lake", "serve", "--"]
    return ["lean", "--server"]


def find_project_root(start: Path) -> Path | None:
    """The nearest folder upwards with a lakefile, or None when there is none."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / "lakefile.lean").exists() or (folder / "lakefile.toml").exists():
            return folder
    return None


def missing_executable(cmd: Sequence[str], cwd: Path) -> str | None:
    """Why ``cmd`` cannot be started at all (its program is not found), or None."""
    if not cmd:
        return "the server command is empty"
    program = cmd[0]
    if "/" in program:
        candidate = Path(program) if Path(program).is_absolute() else cwd / program
        return None if candidate.is_file() else f"{program} does not exist"
    if shutil.which(program) is None:
        advice = ("install Lean with elan (https://github.com/leanprover/elan) and open a new terminal, "
                  "or pass --server-cmd") if program in ("lake", "lean") else "check the command and PATH"
        return f"`{program}` was not found on PATH: {advice}"
    return None


def outside_project(paths: Sequence[Path], project: Path) -> list[Path]:
    """The ``paths`` that are not inside ``project``."""
    root = project.resolve()
    out = []
    for path in paths:
        resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
        if resolved != root and root not in resolved.parents:
            out.append(path)
    return out


def _relative(path: Path, project: Path) -> str:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def discover_files(options: Options) -> list[Path]:
    """The ``.lean`` files to process: PATHS (files or folders) or the whole project,
    filtered by ``--include``/``--exclude`` globs matched against project-relative paths."""
    roots = options.paths or [options.project]
    if not options.allow_outside:
        outside = outside_project(options.paths, options.project)
        if outside:
            raise OutsideProject(f"{outside[0]} is outside the project {options.project}; "
                                 "pass --project DIR for its project, or --allow-outside")
    found: set[Path] = set()
    for root in roots:
        root = root if root.is_absolute() else (Path.cwd() / root)
        if root.is_file():
            found.add(root.resolve())
        elif root.is_dir():
            found.update(p.resolve() for p in root.rglob("*.lean"))
        else:
            raise FileNotFoundError(f"no such file or folder: {root}")
    excludes = [*DEFAULT_EXCLUDES, *options.exclude]
    selected = []
    for path in sorted(found):
        rel = _relative(path, options.project)
        if SHADOW_MARKER in path.name:
            continue
        if options.include and not any(fnmatch.fnmatch(rel, g) for g in options.include):
            continue
        named = options.paths and path in {p.resolve() for p in options.paths}
        if any(fnmatch.fnmatch(rel, g) for g in excludes) and not named:
            continue
        selected.append(path)
    return selected


def _goal_text(goals: Sequence[str] | None) -> str | None:
    return "\n\n".join(goals) if goals else None


def _edit_span(old: str, new: str) -> tuple[int, int, str]:
    """The single edit turning ``old`` into ``new``: (start, end in old, inserted text)."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return prefix, len(old) - suffix, new[prefix : len(new) - suffix]


def apply_edits(text: str, edits: Sequence[tuple[int, int, str]]) -> str:
    """Apply non-overlapping code-point edits (from the end, so offsets stay valid)."""
    ordered = sorted(edits)
    for (_, a_end, _), (b_start, _, _) in itertools.pairwise(ordered):
        if b_start < a_end:
            raise ValueError("overlapping edits")
    for start, end, new in reversed(ordered):
        text = text[:start] + new + text[end:]
    return text


@dataclass
class RecheckOutcome:
    ok: bool
    reason: str = ""


def statements_unchanged(old: str, new: str) -> bool:
    """Every declaration keeps its statement text (up to ``:=``), in order."""
    before = [(d.keyword, d.name, normalize_statement(d.statement)) for d in declarations(old)]
    after = [(d.keyword, d.name, normalize_statement(d.statement)) for d in declarations(new)]
    return before == after


def _declaration_index(decls, offset: int) -> int | None:
    for index, decl in enumerate(decls):
        if decl.start <= offset < max(decl.end, decl.start + 1):
            return index
    return None


def _warned_declarations(text: str, diagnostics: Sequence[Diagnostic]) -> set[int]:
    """Top-level declarations (by index) with a sorry warning. Newest Lean warns once per
    auxiliary declaration too (``declaration `f.helper` uses `sorry` `` for a ``where``
    helper): those land inside their top-level declaration and count for it."""
    decls = declarations(text)
    warned = set()
    for d in diagnostics:
        if d.is_sorry_warning:
            index = _declaration_index(decls, lsp_to_offset(text, d.range.start.line, d.range.start.character))
            if index is not None:
                warned.add(index)
    return warned


def _sorry_declaration_indices(text: str) -> set[int]:
    decls = declarations(text)
    return {i for loc in locate_sorries(text) if (i := _declaration_index(decls, loc.start)) is not None}


def cross_check(text: str, diagnostics: Sequence[Diagnostic]) -> tuple[set[int], set[int]]:
    """Compare the source scan with Lean's sorry warnings, per top-level declaration (indices
    into :func:`declarations`): (declarations with a sorry Lean does not warn about,
    declarations Lean warns about where the scan found no sorry)."""
    scanned = _sorry_declaration_indices(text)
    warned = _warned_declarations(text, diagnostics)
    return scanned - warned, warned - scanned


def judge_recheck(old_text: str, new_text: str, before: list[Diagnostic], after: list[Diagnostic]) -> RecheckOutcome:
    """Decide whether the filled file is acceptable: statements unchanged, no new error, and
    no filled declaration still warning about ``sorry`` (compared per top-level declaration,
    which the unchanged statements keep in the same order)."""
    if not statements_unchanged(old_text, new_text):
        return RecheckOutcome(False, "a declaration's statement changed")
    old_errors = Counter(d.message for d in before if d.is_error)
    new_errors = Counter(d.message for d in after if d.is_error)
    extra = new_errors - old_errors
    if extra:
        message = next(iter(extra)).splitlines()[0]
        return RecheckOutcome(False, f"new error in the file: {message}")
    still_sorry = _sorry_declaration_indices(new_text)
    stray = _warned_declarations(new_text, after) - still_sorry
    if stray:
        name = declarations(new_text)[min(stray)].name or "an example"
        return RecheckOutcome(False, f"{name} still uses sorry after filling")
    lost = (_warned_declarations(old_text, before) & still_sorry) - _warned_declarations(new_text, after)
    if lost:
        name = declarations(new_text)[min(lost)].name or "an example"
        return RecheckOutcome(False, f"Lean no longer reports the remaining sorry in {name}: "
                                     "the file did not elaborate as expected")
    return RecheckOutcome(True)


class FileJob:
    """Fills the sorries of one file with one Lean client."""

    def __init__(
        self,
        path: Path,
        options: Options,
        client: LeanClient,
        checker: Checker,
        generators: Sequence[TacticGenerator],
        premises: Callable[[str, Path, int], list[str]] | None,
        cache: ResumeCache | None,
        run_config: RunConfig,
        events: Events,
    ) -> None:
        self.path = path
        self.options = options
        self.client = client
        self.checker = checker
        self.generators = generators
        self.premises = premises
        self.cache = cache
        self.run_config = run_config
        self.events = events
        self.rel = _relative(path, options.project)
        self.uri = path.resolve().as_uri()
        self.version = 1
        self.results: list[SorryResult] = []
        self.written = False
        self.original: Snapshot | None = None  # what was there before we wrote (for --final-check)
        self.new_text: str | None = None
        self.errors: list[str] = []

    def _base(self, loc: SorryLocation, **fields) -> SorryResult:
        return SorryResult(file=self.rel, line=loc.line + 1, column=loc.character + 1, declaration=loc.declaration, **fields)

    async def _goal(self, loc: SorryLocation) -> str | None:
        try:
            goal = await self.client.plain_goal(self.uri, loc.line, loc.character, timeout=60)
            if goal is not None and goal.goals:
                return _goal_text(goal.goals)
            term = await self.client.plain_term_goal(self.uri, loc.line, loc.character, timeout=60)
            return term.goal if term is not None else None
        except LeanError as exc:
            log.warning("%s:%d: could not read the goal: %s", self.rel, loc.line + 1, exc)
            return None

    def _read(self) -> Snapshot:
        """The file's text as this job works on it (the Ray workers get the driver's)."""
        return read_snapshot(self.path)

    async def run(self) -> list[SorryResult]:
        snapshot = self._read()
        text = snapshot.text
        locations = locate_sorries(text)
        if not locations:
            return []
        await self.client.open(self.uri, text, self.version, private=True)
        try:
            diagnostics = await self.client.wait_for_diagnostics(self.uri, self.version, timeout=self.options.open_timeout)
            self._cross_check(text, diagnostics)
            if not self.options.fill_data:
                data = await self._data_sorries(text, locations, diagnostics)
                for loc in data:
                    self._finish(self._base(loc, status="skipped", message=DATA_MESSAGE))
                locations = [loc for loc in locations if loc not in data]
            fills = await self._search_all(snapshot, locations)
            if fills:
                await self._recheck_and_write(snapshot, diagnostics, fills)
        finally:
            try:
                await asyncio.shield(self.client.close(self.uri))
            except (LeanError, ValueError) as exc:
                log.debug("closing %s: %s", self.uri, exc)
        return self.results

    async def _data_sorries(self, text: str, locations: list[SorryLocation],
                            original: list[Diagnostic]) -> list[SorryLocation]:
        """The sorries in def/instance/abbrev/example/opaque values whose goal is not a Prop.

        Lean decides: each such ``sorry`` becomes ``(sorry : (_ : Prop))`` in a shadow copy,
        which elaborates only where the expected type is a proposition. A probe with an error
        at it (or any new error that cannot be placed) counts as data: when in doubt, skip."""
        decls = declarations(text)
        candidates = []
        for loc in locations:
            index = _declaration_index(decls, loc.start)
            if index is not None and decls[index].keyword in DATA_KEYWORDS:
                candidates.append(loc)
        if not candidates:
            return []
        probe, spans = text, []
        for loc in sorted(candidates, key=lambda loc: loc.start, reverse=True):
            replacement = PROP_PROBE[loc.kind]
            probe = probe[:loc.start] + replacement + probe[loc.end:]
            shift = len(replacement) - (loc.end - loc.start)
            spans = [(a + shift, b + shift, other) for a, b, other in spans]
            spans.append((loc.start, loc.start + len(replacement), loc))
        async with self.checker.pool.acquire(self.uri) as doc:
            version = await self.checker.pool.set_text(doc, probe)
            after = await self.client.wait_for_diagnostics(doc.uri, version, timeout=self.options.open_timeout)
        known = Counter(d.message for d in original if d.is_error)
        data: list[SorryLocation] = []
        for diagnostic in (d for d in after if d.is_error):
            at = lsp_to_offset(probe, diagnostic.range.start.line, diagnostic.range.start.character)
            hit = next((loc for a, b, loc in spans if a <= at <= b), None)
            if hit is not None:
                data.append(hit)
            elif known[diagnostic.message] > 0:
                known[diagnostic.message] -= 1
            else:
                log.info("%s: data probe gave an error it cannot place (%s): every probed sorry counts as data",
                         self.rel, diagnostic.message.splitlines()[0] if diagnostic.message else "")
                return candidates
        return [loc for loc in candidates if loc in data]

    def _cross_check(self, text: str, diagnostics: list[Diagnostic]) -> None:
        only_source, only_lean = cross_check(text, diagnostics)
        if only_source or only_lean:
            decls = declarations(text)
            log.info(
                "%s: the scan and Lean disagree: sorries Lean does not warn about in %s, warnings without "
                "a sorry found in %s (errors elsewhere can hide a warning)", self.rel,
                [decls[i].name for i in sorted(only_source)], [decls[i].name for i in sorted(only_lean)],
            )

    async def _search_all(self, snapshot: Snapshot, locations: list[SorryLocation]) -> list[_Fill]:
        fills: list[_Fill] = []
        seen: Counter = Counter()
        for loc in locations:
            goal = await self._goal(loc)
            occurrence = seen[(loc.declaration, goal)]
            seen[(loc.declaration, goal)] += 1
            key = result_key(snapshot.sha256, loc.declaration, goal, occurrence, self.run_config)
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                result = msgspec.structs.replace(cached, file=self.rel, line=loc.line + 1, column=loc.character + 1)
            else:
                result = await self._search_one(snapshot, loc, goal)
                if self.cache is not None:
                    self.cache.put(key, result)
            if result.status == "filled":
                fills.append(_Fill(loc, result))
            else:
                self._finish(result)
        return fills

    async def _search_one(self, snapshot: Snapshot, loc: SorryLocation, goal: str | None) -> SorryResult:
        started = time.monotonic()
        try:
            target = CheckTarget.for_sorry(self.uri, snapshot.text, loc)
            if self.options.term_holes and loc.kind == "term":
                target = target.as_terms()
        except ValueError as exc:
            return self._base(loc, goal=goal, status="error", message=str(exc))
        premises: list[str] = []
        if self.premises is not None and goal:
            try:
                premises = await asyncio.to_thread(self.premises, goal, self.path, loc.line)
            except Exception as exc:  # the index is an aid; never fail a search on it
                log.warning("premise lookup failed: %s", exc)
        config = SearchConfig(time_budget=self.options.budget, max_expansions=self.options.max_expansions)
        try:
            outcome: SearchResult = await search(self.checker, target, self.generators, config=config, premises=premises)
        except LeanError as exc:
            return self._base(loc, goal=goal, status="error", message=f"Lean failed: {exc}",
                              time_seconds=round(time.monotonic() - started, 3))
        stats = outcome.stats
        common = dict(
            goal=goal, time_seconds=round(stats.elapsed_s, 3), expansions=stats.expansions,
            models=sorted(stats.proposals_by_source) if outcome.status != "proved" else list(dict.fromkeys(stats.proof_sources)),
        )
        if outcome.status == "proved" and outcome.new_text is not None:
            # search's new_text puts the proof in as tactics; a term target takes it as a term
            new_text = target.apply(outcome.proof) if target.term_mode and outcome.proof else outcome.new_text
            start, end, inserted = _edit_span(snapshot.text, new_text)
            inserted = with_newlines(inserted, snapshot.newline)  # keep a CRLF file CRLF
            return self._base(loc, status="filled", proof=outcome.proof, replacement=inserted,
                              replace_start=start, replace_end=end, **common)
        if outcome.status == "timeout":
            return self._base(loc, status="timeout", message=outcome.message, **common)
        if outcome.status == "cancelled":
            raise asyncio.CancelledError()
        if outcome.status == "no-goal":
            return self._base(loc, status="error", message=outcome.message, **common)
        if stats.rejected_unsafe and stats.candidates_checked == 0:
            return self._base(loc, status="rejected-unsafe",
                              message=f"all {stats.rejected_unsafe} candidates were refused as unsafe", **common)
        return self._base(loc, status="failed", message=outcome.message, **common)

    def _finish(self, result: SorryResult) -> None:
        self.results.append(result)
        self.events.sorry_done(result)

    async def _elaborate(self, text: str) -> list[Diagnostic]:
        self.version += 1
        await self.client.change(self.uri, text, self.version)
        return await self.client.wait_for_diagnostics(self.uri, self.version, timeout=self.options.open_timeout)

    async def _recheck(self, old: str, before: list[Diagnostic], fills: list[_Fill]) -> tuple[str, RecheckOutcome]:
        edits = [(f.result.replace_start, f.result.replace_end, f.result.replacement) for f in fills]
        try:
            new_text = apply_edits(old, edits)  # type: ignore[arg-type]
        except ValueError as exc:
            return old, RecheckOutcome(False, str(exc))
        after = await self._elaborate(new_text)
        return new_text, judge_recheck(old, new_text, before, after)

    async def _recheck_and_write(self, snapshot: Snapshot, before: list[Diagnostic], fills: list[_Fill]) -> None:
        new_text, outcome = await self._recheck(snapshot.text, before, fills)
        accepted = fills
        if not outcome.ok and len(fills) > 1:
            # Find the fills that pass one by one, then together.
            log.info("%s: combined re-check failed (%s); re-checking fills one at a time", self.rel, outcome.reason)
            accepted = []
            for fill in fills:
                _, single = await self._recheck(snapshot.text, before, [*accepted, fill])
                if single.ok:
                    accepted.append(fill)
                else:
                    self._finish(msgspec.structs.replace(
                        fill.result, status="error", message=f"proof rejected by the re-check in the file: {single.reason}"))
            new_text, outcome = (await self._recheck(snapshot.text, before, accepted)) if accepted else (snapshot.text, outcome)
        elif not outcome.ok:
            for fill in fills:
                self._finish(msgspec.structs.replace(
                    fill.result, status="error", message=f"proof rejected by the re-check in the file: {outcome.reason}"))
            accepted = []
        if not accepted or not outcome.ok:
            return
        diff = unified_diff(self.rel, snapshot.text, new_text)
        if self.options.mode == "in-place":
            try:
                atomic_write(snapshot, new_text, force=self.options.force)
                self.written = True
                self.original = snapshot
                self.new_text = new_text
            except (ConcurrentModification, ReadOnlyFile) as exc:
                self.errors.append(str(exc))
                for fill in accepted:
                    self._finish(msgspec.structs.replace(fill.result, status="error", message=str(exc)))
                return
        for fill in accepted:
            self._finish(fill.result)
        self.events.file_done(self.path, diff if self.options.mode == "diff" else None)


def _load_generators(options: Options) -> tuple[list[TacticGenerator], list[str]]:
    from local_models.portfolio import PortfolioGenerator

    toolchain = options.project / "lean-toolchain"
    lean_version = toolchain.read_text().strip() if toolchain.exists() else None
    generators: list[TacticGenerator] = [PortfolioGenerator(lean_version)]
    problems: list[str] = []
    if options.models:
        from local_models.config import load_config
        from local_models.loader import load_generator

        config = load_config(options.project)
        for model_id in options.models:
            try:
                generators.append(load_generator(model_id, config))
            except Exception as exc:  # a model problem costs that model, not the run
                problems.append(f"model {model_id}: {exc}")
    return generators, problems


def _premise_lookup(options: Options) -> Callable[[str, Path, int], list[str]] | None:
    if not options.use_index:
        return None
    try:
        from copilot.premises import PremiseIndex

        index = PremiseIndex.open(options.project)
    except Exception as exc:
        log.warning("premise index unavailable, searching without premises: %s", exc)
        return None

    def lookup(goal: str, path: Path, line: int) -> list[str]:
        return [hit.name for hit in index.search_goal(goal, 16, file=path, line=line)]

    return lookup


@dataclass
class RunStart:
    """What a run (local or on Ray) starts from: its report, the files to search, the sorries
    refused before any search, and whether nothing is left to do (``report`` is then final)."""

    report: Report
    run_config: RunConfig
    server_cmd: list[str]
    files: list[Path]
    refused: list[SorryResult]
    started_wall: float
    done: bool


def start_run(options: Options, events: Events, *, check_server: bool = True) -> RunStart:
    """The first steps of every run: the report, a server that cannot start said at once
    (``check_server``; a Ray driver on a remote cluster may have no Lean of its own), the files
    with sorries, and read-only files refused unless ``--force``."""
    started_wall = time.monotonic()
    server_cmd = options.server_cmd or default_server_cmd(options.project)
    run_config = RunConfig(
        budget_seconds=options.budget, max_expansions=options.max_expansions, models=list(options.models),
        jobs=options.jobs, mode=options.mode, server_cmd=server_cmd if options.server_cmd else [],
        lean_toolchain=_read_toolchain(options.project),
    )
    report = Report(
        project=str(options.project), tool_version=_version(),
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), config=run_config,
    )

    def finished(files: list[Path], refused: list[SorryResult], done: bool) -> RunStart:
        return RunStart(report, run_config, server_cmd, files, refused, started_wall, done)

    cannot_start = missing_executable(server_cmd, options.project) if check_server else None
    if cannot_start is not None:  # say the one true thing at once, before scanning anything
        _failed(report, f"Lean could not be started ({' '.join(server_cmd)}): {cannot_start}")
        return finished([], [], True)
    files = discover_files(options)
    counts = {path: len(locate_sorries(path.read_text(encoding="utf-8-sig", errors="replace"))) for path in files}
    files = [path for path in files if counts[path]]
    events.files_found(files, sum(counts.values()))
    if not files:
        report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return finished([], [], True)
    refused: list[SorryResult] = []
    if options.mode == "in-place" and not options.force:
        for path in list(files):
            try:
                check_writable(path)
            except ReadOnlyFile as exc:
                files.remove(path)
                report.errors.append(str(exc))
                refused.extend(_not_attempted(path, options, "the file is read-only: not searched (--force writes it)"))
            except FileNotFoundError:
                files.remove(path)
                report.errors.append(f"{_relative(path, options.project)}: deleted during the run; not searched")
    if not files:
        report.results = refused
        report.summary = summarize(refused, seconds=time.monotonic() - started_wall)
        report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return finished([], refused, True)
    return finished(files, refused, False)


async def run(options: Options, events: Events | None = None) -> Report:
    """Run fill-sorries; on cancellation (Ctrl-C) returns the partial report."""
    from lsp_proxy.headless import start_lean

    events = events or Events()
    begun = start_run(options, events)
    if begun.done:
        return begun.report
    report, run_config, server_cmd = begun.report, begun.run_config, begun.server_cmd
    files, refused, started_wall = begun.files, begun.refused, begun.started_wall
    generators, problems = await asyncio.to_thread(_load_generators, options)
    generators.extend(options.extra_generators)
    report.errors.extend(problems)
    premises = await asyncio.to_thread(_premise_lookup, options)
    cache = ResumeCache(options.cache_path or default_cache_path(options.project)) if options.resume else None
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for path in files:
        queue.put_nowait(path)
    jobs: list[FileJob] = []
    clients: list[LeanClient] = []
    checker_config = CheckerConfig(max_heartbeats=options.heartbeats, batch_size=options.batch_size)

    async def new_client() -> tuple[LeanClient, Checker]:
        client = await start_lean(server_cmd, options.project, init_timeout=options.open_timeout)
        clients.append(client)
        return client, Checker(client, checker_config)

    async def worker(shared: tuple[LeanClient, Checker] | None) -> None:
        client, checker = shared or await new_client()
        while True:
            try:
                path = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            job = FileJob(path, options, client, checker, generators, premises, cache, run_config, events)
            jobs.append(job)
            try:
                await job.run()
            except LeanError as exc:
                message = f"{job.rel}: Lean failed: {exc}"
                log.warning(message)
                job.errors.append(message)
                done = {(r.line, r.column) for r in job.results}
                text = path.read_text(encoding="utf-8-sig", errors="replace")
                for loc in locate_sorries(text):
                    if (loc.line + 1, loc.character + 1) not in done:
                        job._finish(job._base(loc, status="error", message=str(exc)))
            except (OSError, UnicodeDecodeError) as exc:
                job.errors.append(f"{job.rel}: {exc}")

    interrupted = False
    try:
        shared = None if options.server_per_job else await new_client()
        await asyncio.gather(*(worker(shared) for _ in range(max(1, options.jobs))))
    except asyncio.CancelledError:
        interrupted = True
    except (LeanError, OSError) as exc:
        report.errors.append(f"could not run Lean ({' '.join(server_cmd)}): {exc}")
        if not jobs:  # Lean never started: the run did nothing
            report.error = report.errors[-1]
    finally:
        await asyncio.shield(_shutdown(clients))
    if options.final_check and options.mode == "in-place" and not interrupted and any(job.written for job in jobs):
        await _final_gate(options, server_cmd, jobs, report)
    results = [*refused, *(r for job in jobs for r in job.results)]
    if interrupted:
        results.extend(_unattempted(files, results, options))
    report.results = sorted(results, key=lambda r: (r.file, r.line, r.column))
    report.files_written = sorted(job.rel for job in jobs if job.written)
    for job in jobs:
        report.errors.extend(job.errors)
    report.complete = not interrupted and report.error is None
    if interrupted:
        report.errors.append("interrupted by the user: partial report")
    report.summary = summarize(report.results, files_written=len(report.files_written), seconds=time.monotonic() - started_wall)
    report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return report


def _failed(report: Report, message: str) -> Report:
    """``report`` for a run that could not do its work at all."""
    report.error = message
    report.errors.append(message)
    report.complete = False
    report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return report


def _not_attempted(path: Path, options: Options, message: str) -> list[SorryResult]:
    """``error`` records for every sorry of a file that was not searched."""
    rel = _relative(path, options.project)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return [SorryResult(file=rel, line=loc.line + 1, column=loc.character + 1, declaration=loc.declaration,
                        status="error", message=message) for loc in locate_sorries(text)]


async def _final_gate(options: Options, server_cmd: Sequence[str], jobs: Sequence[FileJob], report: Report) -> None:
    """``--final-check``: run the Lake gate over the written files; when it fails, put every
    written file back (unless the user changed it since) and turn its fills into errors."""
    written = [job for job in jobs if job.written]
    outcome = await run_final_check(options.project, sorted(job.rel for job in written), server_cmd,
                                    timeout=options.final_check_timeout)
    report.final_check = outcome
    if outcome.ok:
        return
    first = next((line for line in outcome.output.splitlines() if "error" in line.lower()),
                 outcome.output.strip().splitlines()[-1] if outcome.output.strip() else "no output")
    for job in written:
        assert job.original is not None and job.new_text is not None
        try:
            current = read_snapshot(job.path)
            if current.text != job.new_text:
                report.errors.append(f"{job.rel}: changed after it was written; not put back")
                continue
            atomic_write(current, job.original.text, force=True)
        except (OSError, UnicodeDecodeError, ConcurrentModification) as exc:
            report.errors.append(f"{job.rel}: could not put the file back after the failed final check: {exc}")
            continue
        outcome.reverted.append(job.rel)
        job.written = False
        job.results = [msgspec.structs.replace(r, status="error", message="proof reverted: the final check failed")
                       if r.status == "filled" else r for r in job.results]
    report.error = f"the final check ({' '.join(outcome.command)}) failed: {first.strip()}"
    report.errors.append(report.error + (f"; put back: {', '.join(outcome.reverted)}" if outcome.reverted else ""))


def _unattempted(files: Sequence[Path], results: Sequence[SorryResult], options: Options) -> list[SorryResult]:
    """``skipped`` records for the sorries an interrupted run never decided."""
    decided = {(r.file, r.line, r.column) for r in results}
    skipped = []
    for path in files:
        rel = _relative(path, options.project)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        for loc in locate_sorries(text):
            if (rel, loc.line + 1, loc.character + 1) not in decided:
                skipped.append(SorryResult(file=rel, line=loc.line + 1, column=loc.character + 1,
                                           declaration=loc.declaration, status="skipped",
                                           message="not attempted: the run was interrupted"))
    return skipped


async def _shutdown(clients: list[LeanClient]) -> None:
    await asyncio.gather(*(client.shutdown(timeout=10) for client in clients), return_exceptions=True)


def _read_toolchain(project: Path) -> str:
    try:
        return (project / "lean-toolchain").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("lean-companion")
    except Exception:
        return "0+unknown"
