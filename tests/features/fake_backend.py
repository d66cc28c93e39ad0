"""A scripted model backend for the features tests (test code, not a model).

A ``[models.custom.<id>]`` entry with ``backend = "tests.features.fake_backend"``, ``format =
"onnx"`` and ``path`` = a folder holding a placeholder ``model.onnx`` and ``behaviour.json``
loads it through the real loader. ``behaviour.json``::

    {"mode": "table" | "raise" | "hang" | "fail-load",
     "table": {"<target line of the goal, e.g. ⊢ a ≤ b>": ["tactic", ...]},
     "any": ["tactic proposed for every goal", ...],
     "calls_file": "optional path: one line appended per generate call"}
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from local_models.generation import Candidate, GenerationRequest


class ScriptedGenerator:
    """Proposes tactics from a table keyed by the goal's ``⊢`` line; or raises; or hangs."""

    role = "tactic"

    def __init__(self, model_id: str, behaviour: dict, role: str) -> None:
        self.id = model_id
        self.behaviour = behaviour
        self.role = role  # type: ignore[misc]

    async def generate(self, request: GenerationRequest, cancel: asyncio.Event | None = None) -> list[Candidate]:
        calls = self.behaviour.get("calls_file")
        if calls:
            with open(calls, "a", encoding="utf-8") as handle:  # noqa: ASYNC230 (a test log line, microseconds)
                handle.write(json.dumps({"goal": request.goal}) + "\n")
        mode = self.behaviour.get("mode", "table")
        if mode == "raise":
            raise RuntimeError("scripted model failure")
        if mode == "hang":
            await asyncio.sleep(3600)
        targets = [line.strip() for line in request.goal.splitlines() if line.strip().startswith("⊢")]
        first = targets[0] if targets else ""
        tactics = list(self.behaviour.get("table", {}).get(first, [])) + list(self.behaviour.get("any", []))
        return [Candidate(text=t, score=-0.01 * i, source=self.id) for i, t in enumerate(tactics)]

    def close(self) -> None:
        pass


def load(entry, path: Path) -> ScriptedGenerator:
    """The loader's backend entry point."""
    behaviour = json.loads((Path(path) / "behaviour.json").read_text(encoding="utf-8"))
    if behaviour.get("mode") == "fail-load":
        raise RuntimeError("scripted load failure")
    return ScriptedGenerator(entry.id, behaviour, entry.role)
