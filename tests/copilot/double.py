"""Start the Lean test double headless for copilot tests (it is not Lean)."""
from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsp_proxy.headless import start_lean
from lsp_proxy.lean_client import LeanClient
from tests import lean_double

SCENARIOS = Path(__file__).parent / "scenarios"
REPO_ROOT = Path(__file__).resolve().parents[2]


def double_command(scenario: Path | str, *args: str) -> list[str]:
    """The one helper (tests.lean_double.double_command), with the scenario first."""
    return lean_double.double_command(*args, scenario=scenario)


def write_scenario(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def double_client(
    scenario: Path | str = SCENARIOS / "search.json", *args: str, elab_ms: int = 5
) -> AsyncIterator[LeanClient]:
    """A LeanClient over a headless double; shut down on exit."""
    client = await start_lean(double_command(scenario, "--elab-delay-ms", str(elab_ms), *args), REPO_ROOT, request_timeout=10.0)
    try:
        yield client
    finally:
        await client.shutdown(timeout=5.0)
