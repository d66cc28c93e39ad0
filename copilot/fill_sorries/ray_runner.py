"""fill-sorries on a Ray cluster (``fill-sorries --ray [ADDRESS]``, ``lean-companion bench --ray``).

The **driver** (the process you run) finds the files and sorries, reads each file once, splits
the work into units and hands them to Ray **workers** (actors). Each worker owns its own Lean
server (``lake serve`` in the project's checkout on its node), its models and premise index,
and runs the same search and in-file re-check as the local runner (:class:`FileJob`). Workers
never write: they return results, and only the driver applies the accepted edits (atomically,
refusing a file changed since it was read), feeds the ``--resume`` cache and writes reports.

Units are whole files; a file with more than ``split_above`` sorries is split by declaration
(all sorries of a declaration stay together, so resume keys are the same as in a local run),
and its fills are then re-checked together in the file by one more unit. A worker that dies
loses only its in-flight units: each is retried once on another worker. Ctrl-C cancels the
cluster work and returns the partial report. Ray is imported lazily (``lean-companion[ray]``).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import msgspec

from copilot.proof_text import SorryLocation, locate_sorries
from lsp_proxy.errors import LeanError

from .report import Report, RunConfig, SorryResult, summarize
from .resume import ResumeCache, default_cache_path
from .runner import (
    Events,
    FileJob,
    Options,
    _Fill,
    _final_gate,
    _load_generators,
    _premise_lookup,
    _relative,
    _unattempted,
    apply_edits,
    default_server_cmd,
    start_run,
)
from .writer import ConcurrentModification, ReadOnlyFile, Snapshot, atomic_write, read_snapshot, unified_diff

log = logging.getLogger(__name__)

UnitKind = Literal["file", "search", "recheck"]
RAY_EXTRA_HINT = "pip install 'lean-companion[ray]'"


class RayUnavailable(RuntimeError):
    """``--ray`` was asked for but the ``ray`` extra is not installed."""


def import_ray() -> Any:
    """``import ray``, or :class:`RayUnavailable` with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"--ray needs the optional `ray` extra, which is not installed: {RAY_EXTRA_HINT}") from exc
    return ray


@dataclass
class RayOptions:
    """How to use the cluster (the CLI builds this from the ``--ray`` flags)."""

    address: str | None = None  # None: start a local cluster with ray.init()
    workers: int | None = None  # default: the cluster's CPUs / cpus_per_worker
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    upload_project: bool = False  # ship the project as runtime_env.working_dir
    upload_excludes: list[str] = field(default_factory=lambda: [".git", "*.olean.tmp"])
    worker_project: Path | None = None  # the checkout's path on the workers (default: the driver's)
    runtime_env: dict[str, Any] = field(default_factory=dict)  # merged into each worker's runtime_env
    split_above: int = 8  # files with more sorries are split by declaration
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # extra ray.init() arguments (local cluster)
    shutdown_timeout: float = 15.0


class RayEvents(Events):
    """Progress callbacks of the cluster run, besides the per-sorry ones of :class:`Events`."""

    def worker_started(self, name: str, node: str, project: str) -> None: ...

    def unit_dispatched(self, worker: str, file: str, attempt: int) -> None: ...

    def worker_died(self, worker: str, files: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class Unit:
    """One piece of work for a worker: a whole file, a search over some of its declarations,
    or the combined re-check of the fills found by those searches."""

    id: int
    rel: str
    text: str
    sha256: str
    kind: UnitKind = "file"
    declarations: tuple[str | None, ...] | None = None  # search units: only these declarations
    fills: tuple[SorryResult, ...] = ()  # recheck units: the fills to re-check together
    bom: bool = False  # the file starts with a UTF-8 byte-order mark (not in ``text``)


@dataclass
class UnitResult:
    """What a worker sends back for one unit."""

    unit_id: int
    results: list[SorryResult]  # decided sorries (for file/recheck units: after the re-check)
    fills: list[SorryResult]  # search units: proofs found, to be re-checked together
    decisions: list[tuple[str, SorryResult]]  # new resume-cache entries, recorded by the driver
    errors: list[str]


class _CacheView:
    """The driver's resume cache as a worker sees it: lookups from the copy the driver sent,
    new decisions collected to be returned (only the driver writes the cache file)."""

    def __init__(self, cache: ResumeCache | None) -> None:
        self.cache = cache
        self.decisions: list[tuple[str, SorryResult]] = []

    def get(self, key: str) -> SorryResult | None:
        return self.cache.get(key) if self.cache is not None else None

    def put(self, key: str, result: SorryResult) -> None:
        self.decisions.append((key, result))


class _UnitJob(FileJob):
    """:meth:`FileJob.run` for one :class:`Unit`, on the driver's snapshot of the file: the same
    steps as a local run (open, cross-check, data sorries, search, re-check), restricted to the
    unit's declarations; a search unit keeps its fills for the driver instead of re-checking
    them, a re-check unit re-checks the fills it was given instead of searching. Never writes
    (the worker's options are a dry run)."""

    def __init__(self, unit: Unit, *args: Any) -> None:
        super().__init__(*args)
        self.unit = unit
        self.wanted = set(unit.declarations) if unit.declarations is not None else None
        self.given = {(r.line, r.column) for r in unit.fills}
        self.found: list[SorryResult] = []

    def _read(self) -> Snapshot:
        return Snapshot(self.path, self.unit.text, self.unit.sha256, self.unit.bom)

    def _mine(self, result: SorryResult) -> bool:
        if self.unit.kind == "recheck":
            return (result.line, result.column) in self.given
        return self.wanted is None or result.declaration in self.wanted

    def _finish(self, result: SorryResult) -> None:
        if self._mine(result):
            super()._finish(result)

    async def _search_all(self, snapshot: Snapshot, locations: list[SorryLocation]) -> list[_Fill]:
        if self.unit.kind == "recheck":
            at = {(loc.line + 1, loc.character + 1): loc for loc in locations}
            return [_Fill(at[(r.line, r.column)], r) for r in self.unit.fills if (r.line, r.column) in at]
        if self.wanted is not None:
            locations = [loc for loc in locations if loc.declaration in self.wanted]
        fills = await super()._search_all(snapshot, locations)
        if self.unit.kind == "search":
            self.found = [fill.result for fill in fills]
            return []
        return fills


class FillWorker:
    """The Ray actor: one Lean server, the models and the premise index of one worker.

    Async actor: several units run concurrently on its event loop (``options.jobs`` of them,
    like ``--jobs`` on one machine: Lean's watchdog elaborates each open file in its own process).
    """

    def __init__(self, options: Options, project: str | None, run_config: RunConfig, cache: ResumeCache | None) -> None:
        root = Path(project) if project else Path.cwd()  # cwd: the runtime_env working_dir copy
        self.options = replace(options, project=root, mode="dry-run", paths=[], resume=False, cache_path=None)
        self.run_config = run_config
        self.cache = cache
        self.client: Any = None
        self.checker: Any = None
        self.generators: list[Any] = []
        self.premises: Any = None

    async def start(self) -> dict[str, Any]:
        """Start Lean in the project and load the models; returns where it runs and any model problems."""
        from copilot.checker import Checker, CheckerConfig
        from lsp_proxy.headless import start_lean

        server_cmd = self.options.server_cmd or default_server_cmd(self.options.project)
        self.client = await start_lean(server_cmd, self.options.project, init_timeout=self.options.open_timeout)
        self.checker = Checker(self.client, CheckerConfig(max_heartbeats=self.options.heartbeats,
                                                          batch_size=self.options.batch_size))
        generators, problems = await asyncio.to_thread(_load_generators, self.options)
        self.generators = [*generators, *self.options.extra_generators]
        self.premises = await asyncio.to_thread(_premise_lookup, self.options)
        return {"node": _node_address(), "pid": os.getpid(), "project": str(self.options.project), "problems": problems}

    async def process(self, unit: Unit) -> UnitResult:
        """Search (and re-check) one unit; decided sorries come back, nothing is written."""
        view = _CacheView(self.cache)
        job = _UnitJob(unit, self.options.project / unit.rel, self.options, self.client, self.checker, self.generators,
                       self.premises, view, self.run_config, Events())
        try:
            await job.run()
        except LeanError as exc:
            message = f"{unit.rel}: Lean failed: {exc}"
            log.warning(message)
            job.errors.append(message)
            job.results.extend(_undecided(unit, job.results, status="error", message=str(exc)))
            job.found = []
        return UnitResult(unit.id, job.results, job.found, view.decisions, job.errors)

    async def shutdown(self) -> None:
        """Stop this worker's Lean server."""
        if self.client is not None:
            await self.client.shutdown(timeout=10)
            self.client = None


def _node_address() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:
        return "?"


def _undecided(unit: Unit, decided: Sequence[SorryResult], *, status: str, message: str) -> list[SorryResult]:
    """Records with ``status`` for the sorries of ``unit`` not in ``decided``."""
    done = {(r.line, r.column) for r in decided}
    if unit.kind == "recheck":
        return [msgspec.structs.replace(r, status=status, message=message, replacement=None, replace_start=None,  # type: ignore[arg-type]
                                        replace_end=None) for r in unit.fills if (r.line, r.column) not in done]
    wanted = set(unit.declarations) if unit.declarations is not None else None
    records = []
    for loc in locate_sorries(unit.text):
        if wanted is not None and loc.declaration not in wanted:
            continue
        if (loc.line + 1, loc.character + 1) not in done:
            records.append(SorryResult(file=unit.rel, line=loc.line + 1, column=loc.character + 1,
                                       declaration=loc.declaration, status=status, message=message))  # type: ignore[arg-type]
    return records


def split_units(rel: str, snapshot: Snapshot, split_above: int, ids: itertools.count) -> list[Unit]:
    """One unit for the file, or (more than ``split_above`` sorries in several declarations)
    search units of whole declarations with about ``split_above`` sorries each."""
    locations = locate_sorries(snapshot.text)
    groups: dict[str | None, int] = {}
    for loc in locations:
        groups[loc.declaration] = groups.get(loc.declaration, 0) + 1
    if len(locations) <= split_above or len(groups) < 2:
        return [Unit(next(ids), rel, snapshot.text, snapshot.sha256, bom=snapshot.bom)]
    units: list[Unit] = []
    chunk: list[str | None] = []
    size = 0
    for declaration, count in groups.items():
        if chunk and size + count > split_above:
            units.append(Unit(next(ids), rel, snapshot.text, snapshot.sha256, "search", tuple(chunk), bom=snapshot.bom))
            chunk, size = [], 0
        chunk.append(declaration)
        size += count
    units.append(Unit(next(ids), rel, snapshot.text, snapshot.sha256, "search", tuple(chunk), bom=snapshot.bom))
    return units


@dataclass
class _FileState:
    """One file on the driver. ``written``/``original``/``new_text``/``results`` are what the
    runner's ``--final-check`` gate reads (and reverts) on a :class:`FileJob`."""

    path: Path
    rel: str
    snapshot: Snapshot
    searches_left: int = 0
    fills: list[SorryResult] = field(default_factory=list)
    done: bool = False
    results: list[SorryResult] = field(default_factory=list)
    written: bool = False
    original: Snapshot | None = None
    new_text: str | None = None


@dataclass
class _Worker:
    name: str
    handle: Any
    in_flight: int = 0
    alive: bool = True


class _Driver:
    """The scheduling loop on the driver: units to workers, results to the report."""

    def __init__(self, ray: Any, options: Options, ray_options: RayOptions, events: Events, report: Report,
                 cache: ResumeCache | None) -> None:
        self.ray = ray
        self.options = options
        self.ray_options = ray_options
        self.events = events
        self.hooks = events if isinstance(events, RayEvents) else RayEvents()
        self.report = report
        self.cache = cache
        self.run_id = uuid.uuid4().hex[:8]
        self.workers: list[_Worker] = []
        self.handles: list[Any] = []
        self.starting: dict[asyncio.Future, tuple[str, Any]] = {}
        self.start_failures: list[str] = []
        self.spawned = 0
        self.files: dict[str, _FileState] = {}
        self.queue: deque[tuple[Unit, int]] = deque()  # (unit, attempt)
        self.in_flight: dict[asyncio.Future, tuple[_Worker, Unit, int, Any]] = {}
        self.actor_class: Any = None
        self.actor_options: dict[str, Any] = {}
        self.init_args: tuple = ()
        self.ids = itertools.count()

    # -- workers -------------------------------------------------------------------------
    def prepare(self, run_config: RunConfig) -> None:
        worker_options = replace(self.options, paths=[], include=[], exclude=[])
        if self.ray_options.upload_project:
            project = None
        else:
            project = str(self.ray_options.worker_project or self.options.project)
        cache_ref = self.ray.put(self.cache) if self.cache is not None else None
        self.init_args = (worker_options, project, run_config, cache_ref)
        resources: dict[str, Any] = {"num_cpus": self.ray_options.cpus_per_worker}
        if self.ray_options.gpus_per_worker:
            resources["num_gpus"] = self.ray_options.gpus_per_worker
        if self.ray_options.runtime_env:
            resources["runtime_env"] = dict(self.ray_options.runtime_env)
        self.actor_class = self.ray.remote(FillWorker)
        self.actor_options = {"max_restarts": 0, "max_task_retries": 0, **resources}

    def spawn(self, count: int) -> None:
        """Launch ``count`` workers; each takes work as soon as its Lean server is up (a slow
        node holds up nobody)."""
        for _ in range(count):
            name = f"lean-companion-fill-{self.run_id}-{self.spawned}"
            self.spawned += 1
            handle = self.actor_class.options(name=name, **self.actor_options).remote(*self.init_args)
            self.handles.append(handle)
            self.starting[asyncio.ensure_future(_as_future(handle.start.remote()))] = (name, handle)

    def _started(self, future: asyncio.Future, name: str, handle: Any) -> None:
        try:
            info = future.result()
        except Exception as exc:  # RayTaskError (Lean did not start), RayActorError (no node)
            self.start_failures.append(f"worker {name}: {_first_line(getattr(exc, 'cause', None) or exc)}")
            self._kill(handle)
            return
        for problem in info["problems"]:
            if problem not in self.report.errors:
                self.report.errors.append(problem)
        log.info("worker %s on %s (pid %s, project %s)", name, info["node"], info["pid"], info["project"])
        self.hooks.worker_started(name, info["node"], info["project"])
        self.workers.append(_Worker(name, handle))

    def report_start_failures(self) -> None:
        """Workers that never started: an error when none did (no Lean anywhere), else a note."""
        if not self.start_failures:
            return
        if not self.workers:
            server = " ".join(self.options.server_cmd or default_server_cmd(self.options.project))
            self.report.error = f"could not run Lean ({server}) on any Ray worker: {self.start_failures[0]}"
            self.report.errors.append(self.report.error)
        else:
            self.report.errors.extend(f"Ray {failure} did not start; the others carried on" for failure in self.start_failures)

    def _kill(self, handle: Any) -> None:
        try:
            self.ray.kill(handle, no_restart=True)
        except Exception as exc:
            log.debug("ray.kill: %s", exc)

    async def shutdown_workers(self) -> None:
        for future in self.starting:  # workers still starting when the work ran out (or Ctrl-C)
            future.cancel()
        alive = [w for w in self.workers if w.alive]
        refs = [w.handle.shutdown.remote() for w in alive]
        if refs:
            await asyncio.wait([asyncio.ensure_future(_as_future(ref)) for ref in refs],
                               timeout=self.ray_options.shutdown_timeout)
        for handle in self.handles:  # also those still starting when Ctrl-C came
            self._kill(handle)
        for w in self.workers:
            w.alive = False

    # -- scheduling ----------------------------------------------------------------------
    def _dispatch(self) -> None:
        slots = max(1, self.options.jobs)
        while self.queue:
            free = [w for w in self.workers if w.alive and w.in_flight < slots]
            if not free:
                return
            unit, attempt = self.queue.popleft()  # a retry lands elsewhere: its dead worker is not free
            worker = min(free, key=lambda w: w.in_flight)
            ref = worker.handle.process.remote(unit)
            worker.in_flight += 1
            self.in_flight[asyncio.ensure_future(_as_future(ref))] = (worker, unit, attempt, ref)
            self.hooks.unit_dispatched(worker.name, unit.rel, attempt)

    async def loop(self, target: int) -> None:
        """Until every unit is decided: dispatch, wait for a result or a worker coming up."""
        while self.queue or self.in_flight:
            self._dispatch()
            if not self.in_flight and not self.starting:
                if not self.workers:
                    return  # no worker ever started: Lean cannot run (reported by the caller)
                if self.spawned >= 2 * max(1, target):
                    for unit, _ in list(self.queue):
                        self._give_up(unit, "no Ray worker left to run it")
                    self.queue.clear()
                    return
                self.spawn(max(1, target))  # every worker is gone: fresh ones, at most as many again
            done, _ = await asyncio.wait([*self.in_flight, *self.starting], return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                if future in self.starting:
                    self._started(future, *self.starting.pop(future))
                    continue
                worker, unit, attempt, _ = self.in_flight.pop(future)
                worker.in_flight -= 1
                self._collect(future, worker, unit, attempt)

    def _collect(self, future: asyncio.Future, worker: _Worker, unit: Unit, attempt: int) -> None:
        ray = self.ray
        try:
            outcome: UnitResult = future.result()
        except ray.exceptions.RayActorError as exc:
            if worker.alive:  # not an error of the run: its units are retried (a second loss is one)
                worker.alive = False
                lost = [u.rel for (w, u, _, _) in self.in_flight.values() if w is worker] + [unit.rel]
                log.warning("Ray worker %s died; its %d unit(s) in flight are retried once on another worker (%s)",
                            worker.name, len(lost), _first_line(exc))
                self.hooks.worker_died(worker.name, lost)
            if attempt == 0:
                self.queue.appendleft((unit, 1))
            else:
                self._give_up(unit, "its Ray worker died twice")
            return
        except ray.exceptions.RayTaskError as exc:  # a bug in the worker's code: not retried
            cause = getattr(exc, "cause", None) or exc
            self.report.errors.append(f"{unit.rel}: worker {worker.name} failed: {_first_line(cause)}")
            self._give_up(unit, f"worker failed: {_first_line(cause)}")
            return
        self._accept(unit, outcome)

    def _give_up(self, unit: Unit, why: str) -> None:
        state = self.files[unit.rel]
        verb = "re-checked" if unit.kind == "recheck" else "searched"
        records = _undecided(unit, [], status="error", message=f"not {verb}: {why}")
        for record in records:
            self._decided(state, record)
        if unit.kind == "search":
            state.searches_left -= 1
            self._maybe_recheck(state)
        else:
            state.done = True

    def _decided(self, state: _FileState, result: SorryResult) -> None:
        state.results.append(result)
        self.events.sorry_done(result)

    def _accept(self, unit: Unit, outcome: UnitResult) -> None:
        state = self.files[unit.rel]
        if self.cache is not None:
            for key, result in outcome.decisions:
                self.cache.put(key, result)
        self.report.errors.extend(outcome.errors)
        if unit.kind == "search":
            for result in outcome.results:
                self._decided(state, result)
            state.fills.extend(outcome.fills)
            state.searches_left -= 1
            self._maybe_recheck(state)
            return
        filled = [r for r in outcome.results if r.status == "filled"]
        for result in outcome.results:
            if result.status != "filled":
                self._decided(state, result)
        self._write(state, filled)

    def _maybe_recheck(self, state: _FileState) -> None:
        if state.searches_left > 0 or state.done:
            return
        if not state.fills:
            state.done = True
            return
        fills = tuple(sorted(state.fills, key=lambda r: (r.line, r.column)))
        unit = Unit(next(self.ids), state.rel, state.snapshot.text, state.snapshot.sha256, "recheck",
                    tuple(dict.fromkeys(r.declaration for r in fills)), fills, bom=state.snapshot.bom)
        self.queue.append((unit, 0))

    def _write(self, state: _FileState, filled: list[SorryResult]) -> None:
        """The driver's only write: apply the re-checked fills to the text as read, atomically."""
        state.done = True
        if not filled:
            return
        snapshot = state.snapshot
        edits = [(r.replace_start, r.replace_end, r.replacement) for r in filled]
        new_text = apply_edits(snapshot.text, edits)  # type: ignore[arg-type]
        diff = unified_diff(state.rel, snapshot.text, new_text)
        if self.options.mode == "in-place":
            try:
                atomic_write(snapshot, new_text, force=self.options.force)
                state.written, state.original, state.new_text = True, snapshot, new_text
            except (ConcurrentModification, ReadOnlyFile) as exc:
                self.report.errors.append(str(exc))
                for result in filled:
                    self._decided(state, msgspec.structs.replace(result, status="error", message=str(exc)))
                return
        for result in filled:
            self._decided(state, result)
        self.events.file_done(state.path, diff if self.options.mode == "diff" else None)

    def add_files(self, files: Sequence[Path]) -> None:
        for path in files:
            rel = _relative(path, self.options.project)
            snapshot = read_snapshot(path)
            units = split_units(rel, snapshot, self.ray_options.split_above, self.ids)
            self.files[rel] = _FileState(path, rel, snapshot, searches_left=sum(u.kind == "search" for u in units))
            self.queue.extend((unit, 0) for unit in units)

    def cancel_in_flight(self) -> None:
        for _, _, _, ref in self.in_flight.values():
            try:
                self.ray.cancel(ref)
            except Exception as exc:
                log.debug("ray.cancel: %s", exc)
        for future in [*self.in_flight, *self.starting]:
            future.cancel()


async def _as_future(ref: Any) -> Any:
    return await ref


def _first_line(exc: BaseException | object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def keep_local_cluster_on_loopback() -> None:
    """Make a local cluster (``ray.init()`` with no address) bind and talk on 127.0.0.1.

    Ray otherwise picks the machine's outward-facing address for its GCS and workers even for a
    single-node cluster. Its loopback mode is switched by ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
    (``ray._private.ray_constants.ENABLE_RAY_CLUSTER``, read when ``ray`` is imported and
    inherited by the processes Ray starts); a user's own setting wins."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray._private.ray_constants as constants
    except ImportError:  # a Ray without that module: nothing to adjust
        return
    if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        constants.ENABLE_RAY_CLUSTER = False


def _connect(ray: Any, ray_options: RayOptions, project: Path) -> bool:
    """Connect to the cluster (or start a local one); True when this call started Ray.

    ``--ray-upload-project`` is a job-level ``runtime_env.working_dir`` (Ray uploads a local
    folder only for a whole job), so it needs this run to be the one that connects."""
    if ray.is_initialized():
        if ray_options.upload_project:
            raise ValueError("--ray-upload-project: Ray is already initialised in this process, "
                             "so the project cannot be attached to the job")
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}  # stdout may be a diff
    if ray_options.upload_project:
        kwargs["runtime_env"] = {"working_dir": str(project), "excludes": list(ray_options.upload_excludes)}
    if ray_options.address:
        kwargs["address"] = ray_options.address
    else:
        kwargs["include_dashboard"] = False
        kwargs.update(ray_options.init_kwargs)
        keep_local_cluster_on_loopback()
    ray.init(**kwargs)
    return True


async def run_on_ray(options: Options, ray_options: RayOptions | None = None, events: Events | None = None) -> Report:
    """Run fill-sorries with Ray workers; on cancellation (Ctrl-C) returns the partial report.

    Raises :class:`RayUnavailable` when the ``ray`` extra is missing.
    """
    ray = import_ray()
    ray_options = ray_options or RayOptions()
    events = events or Events()
    # The workers start Lean on their nodes, with their own environment (runtime_env), so the
    # driver's PATH decides nothing: a Lean that cannot start is reported by the workers.
    begun = start_run(options, events, check_server=False)
    if begun.done:
        return begun.report
    report, run_config, server_cmd = begun.report, begun.run_config, begun.server_cmd
    files, refused, started_wall = begun.files, begun.refused, begun.started_wall
    cache = ResumeCache(options.cache_path or default_cache_path(options.project)) if options.resume else None
    driver = _Driver(ray, options, ray_options, events, report, cache)
    started_ray = False
    interrupted = False
    try:
        started_ray = await asyncio.to_thread(_connect, ray, ray_options, options.project)
        _check_feasible(ray, ray_options)
        driver.add_files(files)
        driver.prepare(run_config)
        cpus = ray.cluster_resources().get("CPU", 1)
        wanted = ray_options.workers or max(1, int(cpus // max(ray_options.cpus_per_worker, 0.001)))
        target = max(1, min(wanted, len(driver.queue)))
        driver.spawn(target)
        await driver.loop(target)
    except asyncio.CancelledError:
        interrupted = True
        driver.cancel_in_flight()
    except (OSError, ValueError, ray.exceptions.RayError, ConnectionError) as exc:  # ValueError: a bad runtime_env
        report.error = f"Ray failed: {_first_line(exc)}"
        report.errors.append(report.error)
    finally:
        await asyncio.shield(_stop(driver, ray, started_ray))
    driver.report_start_failures()
    states = list(driver.files.values())
    if options.final_check and options.mode == "in-place" and not interrupted and any(s.written for s in states):
        await _final_gate(options, server_cmd, states, report)  # type: ignore[arg-type]  # duck-typed FileJobs
    results = [*refused, *(r for state in states for r in state.results)]
    if interrupted:
        results.extend(_unattempted(files, results, options))
    report.results = sorted(results, key=lambda r: (r.file, r.line, r.column))
    report.files_written = sorted(state.rel for state in states if state.written)
    report.complete = not interrupted and report.error is None
    if interrupted:
        report.errors.append("interrupted by the user: partial report")
    report.summary = summarize(report.results, files_written=len(report.files_written), seconds=time.monotonic() - started_wall)
    report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return report


def _check_feasible(ray: Any, ray_options: RayOptions) -> None:
    """A worker that no node can hold would wait for resources forever: refuse at once."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    for key, need, flag in (("CPU", ray_options.cpus_per_worker, "--cpus-per-worker"),
                            ("GPU", ray_options.gpus_per_worker, "--gpus-per-worker")):
        most = max((resources.get(key, 0.0) for resources in nodes), default=0.0)
        if need and most < need:
            raise ValueError(f"no node of the Ray cluster has {need:g} {key}(s) for a worker (the most on one node: "
                             f"{most:g}); lower {flag}")


async def _stop(driver: _Driver, ray: Any, started_ray: bool) -> None:
    try:
        await driver.shutdown_workers()
    finally:
        if started_ray:
            await asyncio.to_thread(ray.shutdown)


# -- command line ------------------------------------------------------------------------
def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--ray`` flags, shared by ``fill-sorries`` and ``lean-companion bench``."""
    group = parser.add_argument_group("Ray cluster (needs lean-companion[ray]; see docs/ray.md)")
    group.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run on a Ray cluster: ADDRESS (auto, or the head's HOST:PORT) or, without one, a local cluster")
    group.add_argument("--workers", type=int, metavar="N",
                       help="Ray workers, each with its own Lean server (default: CPUs / --cpus-per-worker)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="N", help="CPUs reserved per worker (default 1)")
    group.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="N", help="GPUs reserved per worker (default 0)")
    group.add_argument("--ray-upload-project", action="store_true",
                       help="copy the project to the workers (runtime_env working_dir) instead of a shared filesystem")
    group.add_argument("--worker-project", type=Path, metavar="DIR",
                       help="the project's path on the worker nodes (default: the same path as here)")


def ray_options_from_args(args: argparse.Namespace) -> RayOptions | None:
    """:class:`RayOptions` from parsed flags, or None when ``--ray`` was not given."""
    if args.ray is None:
        flags = (("--workers", args.workers is not None), ("--cpus-per-worker", args.cpus_per_worker != 1.0),
                 ("--gpus-per-worker", args.gpus_per_worker != 0.0), ("--ray-upload-project", args.ray_upload_project),
                 ("--worker-project", args.worker_project is not None))
        given = [flag for flag, on in flags if on]
        if given:
            raise ValueError(f"{', '.join(given)} only apply with --ray")
        return None
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be positive")
    if args.cpus_per_worker < 0 or args.gpus_per_worker < 0:
        raise ValueError("--cpus-per-worker and --gpus-per-worker must not be negative")
    if args.ray_upload_project and args.worker_project:
        raise ValueError("--ray-upload-project and --worker-project exclude each other")
    return RayOptions(address=args.ray or None, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                      gpus_per_worker=args.gpus_per_worker, upload_project=args.ray_upload_project,
                      worker_project=args.worker_project)
