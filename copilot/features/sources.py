"""Where candidates come from: the portfolio (always) and the configured models (lazily).

Models named in ``[models] tactic`` / ``whole_proof`` are loaded in worker threads in the
background (:func:`local_models.loader.load_generator`); until one is ready, requests use the
others. A model that fails to load disables itself with one log line and a status entry. The
sources are asked by the one pipeline (:func:`copilot.suggest.ask_generators`): every call runs
under a timeout and a failure (exception, hang) skips that source for that request only; nothing
a source does can block the event loop or the editor's traffic.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_models.config import Config
from local_models.generation import TacticGenerator
from local_models.portfolio import PortfolioGenerator

logger = logging.getLogger(__name__)


@dataclass
class ModelSlot:
    """One configured model: its state (``loading``/``ready``/``failed``) and generator."""

    model_id: str
    role: str
    state: str = "loading"
    error: str = ""
    generator: TacticGenerator | None = None
    task: asyncio.Task | None = None
    failures: int = 0


@dataclass
class SourceSet:
    """The portfolio plus the configured model generators."""

    portfolio: TacticGenerator = field(default_factory=PortfolioGenerator)
    slots: dict[str, ModelSlot] = field(default_factory=dict)
    config: Config | None = None
    # Called when a model becomes ready: results computed without it are out of date.
    on_ready: Callable[[], None] | None = None

    def configure(self, config: Config) -> None:
        """Follow ``[models]``: start loading new ids in the background, drop removed ones."""
        self.config = config
        wanted = {m: "tactic" for m in config.models.tactic}
        wanted.update({m: "whole-proof" for m in config.models.whole_proof})
        for model_id in list(self.slots):
            if model_id not in wanted:
                self._drop(model_id)
        for model_id, role in wanted.items():
            if model_id not in self.slots:
                slot = ModelSlot(model_id, role)
                self.slots[model_id] = slot
                slot.task = asyncio.ensure_future(self._load(slot, config))

    def _drop(self, model_id: str) -> None:
        slot = self.slots.pop(model_id)
        if slot.task is not None and not slot.task.done():
            slot.task.cancel()
        if slot.generator is not None:
            try:
                slot.generator.close()
            except Exception:
                logger.warning("closing model %s failed", model_id, exc_info=True)

    async def _load(self, slot: ModelSlot, config: Config) -> None:
        from local_models.loader import load_generator_async

        started = time.monotonic()
        try:
            slot.generator = await load_generator_async(slot.model_id, config)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            slot.state, slot.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.warning("model %s disabled: %s", slot.model_id, slot.error)
            return
        slot.state = "ready"
        logger.info("model %s loaded in %.1f s", slot.model_id, time.monotonic() - started)
        if self.on_ready is not None:
            self.on_ready()

    async def wait_loaded(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for models still loading."""
        tasks = [s.task for s in self.slots.values() if s.task is not None and not s.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def generators(self, roles: tuple[str, ...] = ("tactic",)) -> list[TacticGenerator]:
        """The ready generators of those roles, portfolio first."""
        out: list[TacticGenerator] = [self.portfolio] if "tactic" in roles else []
        out += [s.generator for s in self.slots.values() if s.state == "ready" and s.generator is not None
                and s.role in roles]
        return out

    def active_ids(self) -> set[str]:
        return {m for m, s in self.slots.items() if s.state == "ready"}

    def status(self) -> dict[str, dict[str, Any]]:
        """``id -> {state, error}`` for the configured models."""
        return {m: {"state": s.state, "error": s.error, "role": s.role} for m, s in self.slots.items()}

    def close(self) -> None:
        for model_id in list(self.slots):
            self._drop(model_id)
