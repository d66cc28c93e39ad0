"""``CompanionContext``: everything the editor features share in one proxy session.

The router (hooks, document mirror, requests both ways), one :class:`LeanClient` over it, the
merged configuration (files + editor overlay), the candidate sources, the premise index, one
:class:`Checker` (shadow documents), the suggestion cache and the in-flight jobs per document.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from copilot.checker import Checker, CheckerConfig
from copilot.features.premises import PremiseService
from copilot.features.settings import apply_overlay
from copilot.features.sources import SourceSet
from copilot.safety import DEFAULT_SET_OPTION_ALLOW, SafetyPolicy
from copilot.shadow import ShadowPool
from local_models.config import Config, find_project_root, load_config
from lsp_proxy.lean_client import LeanClient

logger = logging.getLogger(__name__)

CACHE_SIZE = 256
IDLE_SHADOW_SECONDS = 300.0


def uri_to_path(uri: str) -> Path | None:
    """A ``file:`` URI as a path (``None`` for other schemes)."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.path))


@dataclass(eq=False)
class Job:
    """Background or request work on one document; cancelled when an edit makes it stale."""

    uri: str
    task: asyncio.Task
    kind: str
    check_text: str | None = None  # line jobs survive edits that keep this text
    line: int = -1
    stop: Callable[[], None] | None = None  # how to stop it (default: cancel the task)

    def cancel(self) -> None:
        if self.stop is not None:
            self.stop()
        else:
            self.task.cancel()


@dataclass
class CompanionContext:
    """Shared state of the features (see the module docstring)."""

    router: Any
    client: LeanClient
    config: Config = field(default_factory=Config)
    base_config: Config = field(default_factory=Config)
    overlay: dict = field(default_factory=dict)
    sources: SourceSet = field(default_factory=SourceSet)
    premises: PremiseService = field(default_factory=PremiseService)
    checker: Checker | None = None
    project_root: Path | None = None
    client_capabilities: dict = field(default_factory=dict)
    initialized: bool = False
    cache: OrderedDict = field(default_factory=OrderedDict)
    inflight: dict = field(default_factory=dict)  # key -> asyncio.Task producing a SuggestResult
    jobs: dict[str, set[Job]] = field(default_factory=dict)
    tokens: dict[str, Callable[[], None]] = field(default_factory=dict)
    last_latency_ms: int | None = None
    lean_running: bool = True
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.monotonic)

    # ------------------------------------------------------------------ configuration

    def load(self, project_root: Path | None) -> None:
        """Read the configuration files for ``project_root`` (errors: defaults, logged)."""
        self.project_root = project_root
        try:
            self.base_config = load_config(project_root)
        except Exception as exc:
            logger.error("configuration not loaded (%s); using defaults", exc)
            self.base_config = Config()
        self._apply()

    def set_overlay(self, overlay: Any) -> list[str]:
        """Replace the editor's overlay; returns the keys that were ignored (and why)."""
        self.overlay = overlay if isinstance(overlay, dict) else {}
        return self._apply()

    def _apply(self) -> list[str]:
        config, problems = apply_overlay(self.base_config, self.overlay)
        for problem in problems:
            logger.warning("editor setting ignored: %s", problem)
        self.config = config
        self.checker = self._make_checker(config)
        if self.initialized:
            self.sources.configure(config)
        self.cache.clear()
        return problems

    def _make_checker(self, config: Config) -> Checker:
        policy = SafetyPolicy(
            allow_native=config.safety.allow_native_decide,
            set_option_allow=DEFAULT_SET_OPTION_ALLOW | frozenset(config.safety.allowed_set_options),
        )
        checker_config = CheckerConfig(
            max_heartbeats=config.search.heartbeats,
            wall_timeout=config.search.check_timeout_seconds,
            batch_size=max(1, config.search.batch_size),
            policy=policy,
        )
        pool = self.checker.pool if self.checker is not None else ShadowPool(self.client)
        return Checker(self.client, checker_config, pool)

    def start(self) -> None:
        """After the editor's handshake: load models, open the index, start the idle timer."""
        self.initialized = True
        # A model that finishes loading after a file was opened is used for that file at once,
        # not only after its next edit: suggestions cached without it are dropped.
        self.sources.on_ready = self.cache.clear
        self.sources.configure(self.config)
        # The premise index reads a whole project: only a real one (a lakefile, a toolchain file
        # or our own config file at or above the root), never an arbitrary folder such as $HOME.
        lake_root = find_project_root(self.project_root) if self.project_root is not None else None
        self.premises.start(lake_root, self.config)
        self.spawn(self._close_idle_shadows(), "close-idle-shadows")

    async def _close_idle_shadows(self) -> None:
        while True:
            await asyncio.sleep(60)
            if self.checker is not None:
                try:
                    closed = await self.checker.pool.close_idle(IDLE_SHADOW_SECONDS)
                    if closed:
                        logger.info("closed %d idle shadow document(s)", closed)
                except Exception:
                    logger.warning("closing idle shadows failed", exc_info=True)

    @staticmethod
    def project_root_from(init_params: dict | None) -> Path | None:
        """The project root from ``initialize`` (rootUri / workspace folder), else the cwd's."""
        candidates: list[Path] = []
        if isinstance(init_params, dict):
            for folder in init_params.get("workspaceFolders") or []:
                path = uri_to_path(str(folder.get("uri", ""))) if isinstance(folder, dict) else None
                if path is not None:
                    candidates.append(path)
            root_uri = init_params.get("rootUri")
            if isinstance(root_uri, str):
                path = uri_to_path(root_uri)
                if path is not None:
                    candidates.append(path)
            root_path = init_params.get("rootPath")
            if isinstance(root_path, str) and root_path:
                candidates.append(Path(root_path))
        candidates.append(Path.cwd())
        for candidate in candidates:
            if candidate.is_dir():
                return find_project_root(candidate) or candidate
        return None

    # ------------------------------------------------------------------ jobs

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task:
        """A task whose failure is logged (never raised into the proxy)."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(_log_failure)
        return task

    def track(self, job: Job) -> Job:
        """Register ``job`` for its document; it leaves the registry when done."""
        jobs = self.jobs.setdefault(job.uri, set())
        jobs.add(job)
        job.task.add_done_callback(lambda _t: jobs.discard(job))
        return job

    def busy(self) -> bool:
        return any(not j.task.done() for jobs in self.jobs.values() for j in jobs) or any(
            not t.done() for t in self.inflight.values())

    def remember(self, key: Any, value: Any) -> None:
        self.cache[key] = value
        self.cache.move_to_end(key)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)

    def cached(self, key: Any) -> Any:
        value = self.cache.get(key)
        if value is not None:
            self.cache.move_to_end(key)
        return value

    def close(self) -> None:
        for jobs in self.jobs.values():
            for job in jobs:
                job.cancel()
        for task in self.inflight.values():
            task.cancel()
        self.sources.close()
        self.premises.close()


def _log_failure(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.warning("companion task %s failed: %s", task.get_name(), exc, exc_info=exc)
