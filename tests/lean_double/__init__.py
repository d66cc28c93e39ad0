"""Lean test double: a separate test process that speaks Lean 4's server dialect.

It is test code, never presented to users as Lean. Start it with :func:`double_command`
(works from any working directory) and script it with a scenario file (see README.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MAIN = PACKAGE_DIR / "__main__.py"
SCENARIOS = PACKAGE_DIR / "scenarios"
BASIC_SCENARIO = SCENARIOS / "basic.json"


def double_command(*options: str, scenario: str | Path | None = BASIC_SCENARIO, python: str | None = None) -> list[str]:
    """argv that starts the double, e.g. ``double_command("--elab-delay-ms", "20")``."""
    argv = [python or sys.executable, str(MAIN)]
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    return argv + list(options)
