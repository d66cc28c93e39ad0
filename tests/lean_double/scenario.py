"""Scenario files: what the scripted mini-elaborator knows (format in README.md).

A scenario is JSON (``.json``) or TOML (``.toml``). Every key is optional::

    declarations  statement text after the name -> initial goal text
    tactics       [{goal, tactic, result}]  result: [goals] | {"goals": [...], "info": ...}
                  | {"error": "...", "info"?: ...}
    builtins      bool (default true): built-in semantics for sorry/admit/rfl/trivial/...
    positions     [{line, character, uri?, goals?, term_goal?}]   explicit answers
    diagnostics   [{pattern, group?, severity?, message, code?, tags?, leanTags?, uri?}]
    hover         {identifier: markdown}
    completion    [item] | [{line, character, items, isIncomplete?}]
    widgets       [widget instance]   widget_sources {hash: source text}
    axioms        {declaration name: [axiom names]}   what `#print axioms` lists for it
    delays        {elab_ms, per_decl_ms, decls: {name: ms}}
    faults        {option: value}   same names as the command-line fault options
"""
from __future__ import annotations

import json
import re

try:
    import tomllib
except ImportError:  # Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ImportError:
        tomllib = None  # type: ignore[assignment]
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .goals import collapse, normalize_goal

MISSING: Any = object()


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the offending key."""


@dataclass
class TacticRule:
    goal: str  # a goal pattern, or "*" for any goal
    tactic: str  # whitespace-collapsed tactic text
    goals: list[str] | None = None  # new goals replacing the focused one; [] closes it
    error: str | None = None
    info: str | None = None


@dataclass
class PositionEntry:
    line: int
    character: int
    uri: str | None = None
    goals: Any = MISSING  # list[str] | None
    term_goal: Any = MISSING  # {"goal", "range"} | None


@dataclass
class ScriptedDiagnostic:
    pattern: re.Pattern[str]
    message: str
    group: int = 0
    severity: int = 1
    code: str | None = None
    tags: list[int] | None = None
    lean_tags: list[int] | None = None
    uri: str | None = None


@dataclass
class Scenario:
    declarations: dict[str, str] = field(default_factory=dict)
    tactics: list[TacticRule] = field(default_factory=list)
    builtins: bool = True
    positions: list[PositionEntry] = field(default_factory=list)
    diagnostics: list[ScriptedDiagnostic] = field(default_factory=list)
    hover: dict[str, str] = field(default_factory=dict)
    completion: list[dict[str, Any]] = field(default_factory=list)
    widgets: list[dict[str, Any]] = field(default_factory=list)
    widget_sources: dict[str, str] = field(default_factory=dict)
    axioms: dict[str, list[str]] = field(default_factory=dict)
    delays: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    _by_tactic: dict[str, list[TacticRule]] | None = field(default=None, repr=False, compare=False)
    _indexed: int = field(default=-1, repr=False, compare=False)

    def initial_goal(self, statement: str) -> str | None:
        """The scripted initial goal for a statement (text after the declaration's name)."""
        return self.declarations.get(statement_key(statement))

    def rules_for(self, tactic: str) -> list[TacticRule]:
        """Rules for a tactic text (whitespace-collapsed), in file order."""
        if self._by_tactic is None or self._indexed != len(self.tactics):
            self._by_tactic = {}
            for rule in self.tactics:
                self._by_tactic.setdefault(rule.tactic, []).append(rule)
            self._indexed = len(self.tactics)
        return self._by_tactic.get(collapse(tactic), [])


def statement_key(statement: str) -> str:
    """Statement text used for lookups: whitespace collapsed, a leading ``:`` dropped."""
    key = collapse(statement)
    if key.startswith(":"):
        key = key[1:].strip()
    return key


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected a string, got {value!r}")
    return value


def _goal_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise ScenarioError(f"{where}: expected a list of goal strings, got {value!r}")
    return [normalize_goal(g) for g in value]


def _tactic_rule(entry: Any, where: str) -> TacticRule:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{where}: expected an object with goal, tactic, result")
    goal = entry.get("goal", "*")
    goal = "*" if goal == "*" else normalize_goal(_str(goal, f"{where}.goal"))
    tactic = collapse(_str(entry.get("tactic"), f"{where}.tactic"))
    if "result" not in entry:
        raise ScenarioError(f"{where}.result: missing")
    result = entry["result"]
    if isinstance(result, list):
        return TacticRule(goal, tactic, goals=_goal_list(result, f"{where}.result"))
    if isinstance(result, dict):
        info = result.get("info")
        if info is not None:
            info = _str(info, f"{where}.result.info")
        if "error" in result:
            return TacticRule(goal, tactic, error=_str(result["error"], f"{where}.result.error"), info=info)
        goals = _goal_list(result.get("goals", []), f"{where}.result.goals")
        return TacticRule(goal, tactic, goals=goals, info=info)
    raise ScenarioError(f"{where}.result: expected a list of goals or an object with error/goals/info")


def _position(entry: Any, where: str) -> PositionEntry:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{where}: expected an object")
    pos = PositionEntry(_int(entry.get("line"), f"{where}.line"), _int(entry.get("character"), f"{where}.character"))
    if "uri" in entry:
        pos.uri = _str(entry["uri"], f"{where}.uri")
    if "goals" in entry:
        goals = entry["goals"]
        if goals is not None and not (isinstance(goals, list) and all(isinstance(g, str) for g in goals)):
            raise ScenarioError(f"{where}.goals: expected null or a list of goal strings")
        pos.goals = goals  # explicit answers are returned verbatim
    if "term_goal" in entry:
        tg = entry["term_goal"]
        if tg is not None and not (isinstance(tg, dict) and isinstance(tg.get("goal"), str)):
            raise ScenarioError(f"{where}.term_goal: expected null or {{goal, range?}}")
        pos.term_goal = tg
    return pos


def _diagnostic(entry: Any, where: str) -> ScriptedDiagnostic:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{where}: expected an object")
    try:
        pattern = re.compile(_str(entry.get("pattern"), f"{where}.pattern"), re.MULTILINE)
    except re.error as exc:
        raise ScenarioError(f"{where}.pattern: bad regular expression: {exc}") from exc
    diag = ScriptedDiagnostic(pattern, _str(entry.get("message"), f"{where}.message"))
    diag.group = _int(entry.get("group", 0), f"{where}.group")
    diag.severity = _int(entry.get("severity", 1), f"{where}.severity")
    if diag.severity not in (1, 2, 3):
        raise ScenarioError(f"{where}.severity: Lean sends only 1, 2 or 3")
    diag.code = entry.get("code") if entry.get("code", "?") is not None else ""  # null: no code at all
    diag.tags = entry.get("tags")
    diag.lean_tags = entry.get("leanTags")
    diag.uri = entry.get("uri")
    return diag


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a decoded scenario; errors name the source and the key."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: the top level must be an object")
    known = {k for k in Scenario.__dataclass_fields__ if not k.startswith("_")} | {"description"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{source}: unknown keys {unknown} (known: {sorted(known)})")
    sc = Scenario()
    decls = data.get("declarations", {})
    if not isinstance(decls, dict):
        raise ScenarioError(_where(source, "declarations: expected an object statement -> goal"))
    for stmt, goal in decls.items():
        sc.declarations[statement_key(stmt)] = normalize_goal(_str(goal, _where(source, f"declarations[{stmt!r}]")))
    tactics = data.get("tactics", [])
    if not isinstance(tactics, list):
        raise ScenarioError(_where(source, "tactics: expected a list"))
    sc.tactics = [_tactic_rule(t, _where(source, f"tactics[{i}]")) for i, t in enumerate(tactics)]
    sc.builtins = bool(data.get("builtins", True))
    sc.positions = [_position(p, _where(source, f"positions[{i}]")) for i, p in enumerate(data.get("positions", []))]
    sc.diagnostics = [_diagnostic(d, _where(source, f"diagnostics[{i}]")) for i, d in enumerate(data.get("diagnostics", []))]
    for key in ("hover", "widget_sources", "axioms", "delays", "faults"):
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise ScenarioError(_where(source, f"{key}: expected an object"))
        setattr(sc, key, dict(value))
    for key in ("completion", "widgets"):
        value = data.get(key, [])
        if not isinstance(value, list):
            raise ScenarioError(_where(source, f"{key}: expected a list"))
        setattr(sc, key, list(value))
    return sc


def load_scenario(path: str | Path) -> Scenario:
    """Read a ``.json`` or ``.toml`` scenario file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from exc
    if path.suffix == ".toml" and tomllib is None:
        raise ScenarioError(f"{path}: TOML scenarios need Python 3.11 or the tomli package")
    try:
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except ValueError as exc:  # TOMLDecodeError is a ValueError
        raise ScenarioError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from exc
    return scenario_from_dict(data, str(path))
