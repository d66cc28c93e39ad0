"""Lean test double: a separate test process that speaks Lean 4's server dialect.

It is test code, never presented to users as Lean. Start it with :func:`double_command`
(works from any working directory) and script it with a scenario file (see README.md);
:func:`write_scenario` extends ``scenarios/basic.json`` for one test.
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


def write_scenario(path: str | Path, *, base: str | Path | None = BASIC_SCENARIO, **keys: object) -> Path:
    """Write a scenario to ``path``: ``base`` (default basic.json) extended by ``keys``.

    List values (``tactics``, ``positions``, ``diagnostics``, ``completion``, ``widgets``) are
    appended, except that new ``tactics`` come *first* so they take precedence over the base's;
    object values (``declarations``, ``hover``, ``delays``, ``faults``, …) are merged; anything else
    replaces. The result is validated here, so a mistake fails in the test, not in the double.
    """
    import json

    from .scenario import scenario_from_dict

    data: dict = json.loads(Path(base).read_text(encoding="utf-8")) if base is not None else {}
    for key, value in keys.items():
        current = data.get(key)
        if isinstance(value, list) and isinstance(current, list):
            data[key] = value + current if key == "tactics" else current + value
        elif isinstance(value, dict) and isinstance(current, dict):
            data[key] = {**current, **value}
        else:
            data[key] = value
    scenario_from_dict(data, str(path))
    path = Path(path)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
