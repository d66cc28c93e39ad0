"""The premise index as the editor features use it: opened in the background, queried off the
event loop, its state reported by ``status``.

States: ``absent`` (disabled or no project), ``building`` (opening or building), ``ready``,
``error`` (opening failed; logged once).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from local_models.config import Config

logger = logging.getLogger(__name__)


class PremiseService:
    """Owns one :class:`copilot.premises.index.PremiseIndex` for the project."""

    def __init__(self) -> None:
        self.state = "absent"
        self.error = ""
        self.index: Any = None
        self._task: asyncio.Task | None = None

    def start(self, project_root: Path | None, config: Config) -> None:
        """Open (or build) the index in a worker thread, then watch the project's files."""
        if self._task is not None or project_root is None or not config.index.enabled:
            return
        self.state = "building"
        self._task = asyncio.ensure_future(self._open(project_root, config))

    async def _open(self, project_root: Path, config: Config) -> None:
        def run() -> Any:
            from copilot.premises.index import PremiseIndex

            encoder = None
            if config.index.dense and config.models.embedding:
                try:
                    from local_models.loader import load_encoder

                    encoder = load_encoder(config.models.embedding, config)
                except Exception as exc:
                    logger.warning("embedding model %s not used: %s", config.models.embedding, exc)
            index = PremiseIndex.open(project_root, encoder=encoder,
                                      include_toolchain=config.index.include_toolchain)
            try:
                index.start_watching()
            except Exception as exc:
                logger.warning("not watching %s for changes: %s", project_root, exc)
            return index

        try:
            self.index = await asyncio.to_thread(run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.state, self.error = "error", f"{type(exc).__name__}: {exc}"
            logger.warning("premise index unavailable: %s", self.error, exc_info=True)
            return
        self.state = "ready"
        logger.info("premise index ready for %s", project_root)

    def declarations(self) -> int:
        if self.index is None:
            return 0
        try:
            return int(self.index.stats().get("declarations", 0))
        except Exception:
            return 0

    async def search(self, query: str, k: int, file: Path | None = None, line: int | None = None) -> list[Any]:
        """Top ``k`` premises for ``query`` at ``file``/``line`` (``[]`` while the index is not ready).

        ``query`` is a goal state (``$/lean/plainGoal``'s goals, hypotheses and ``⊢ target``), a
        declaration statement (``theorem foo … : …``) or text; ``line`` is the editor's 0-based
        line of the cursor (or of the declaration being proved): what is declared above it in the
        file, and what the file imports, can be suggested. Runs off the event loop; a failure is
        logged and gives ``[]``.
        """
        index = self.index
        if index is None or not query.strip() or k <= 0:
            return []
        from copilot.premises.query import looks_like_goal

        one_based = line + 1 if line is not None else None  # the index counts lines from 1
        call = index.search_goal if looks_like_goal(query) else index.search
        try:
            return await asyncio.to_thread(call, query, k, file=file, line=one_based)
        except Exception as exc:
            logger.warning("premise search failed: %s", exc)
            return []

    async def search_goal(self, goal: str, k: int, file: Path | None = None, line: int | None = None) -> list[Any]:
        """``search`` for a goal state or a statement (what the suggestion features pass)."""
        return await self.search(goal, k, file, line)

    def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.index is not None:
            try:
                self.index.stop_watching()
            except Exception:
                logger.debug("stop_watching failed", exc_info=True)
