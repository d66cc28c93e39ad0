"""Results of the editor features the double serves, computed from an elaboration (pure)."""
from __future__ import annotations

import re
from typing import Any

from .documents import LineIndex
from .elaborator import Elaboration
from .scenario import Scenario

OUT_OF_DATE_IMPORTS = 'Imports are out of date and must be rebuilt; use the "Restart File" command in your editor.'
STALE_IMPORTS = 'Imports are out of date and should be rebuilt; use the "Restart File" command in your editor.'
HOVER_KEYWORDS = frozenset({"theorem", "lemma", "example", "def", "by", "fun", "have", "show", "from", "at",
                            "with", "import", "open", "namespace", "section", "end", "where", "let", "in"})
IDENT_RE = re.compile(r"[\w.'!?₀-₉ᵢ-ᵪ«»]+")


def hover_result(elab: Elaboration, scenario: Scenario, line: int, character: int) -> dict[str, Any] | None:
    """Hover for the identifier under the cursor (scripted or generic markdown), else null."""
    index = elab.index
    if not 0 <= line < len(index.lines):
        return None
    col = index.cp_col(line, character)
    for m in IDENT_RE.finditer(index.lines[line]):
        if m.start() <= col < m.end():
            ident = m.group().strip(".")
            if not ident or ident in HOVER_KEYWORDS or ident[0].isdigit():
                return None
            value = scenario.hover.get(ident) or f"```lean\n{signature(elab, ident)}\n```"
            return {"contents": {"kind": "markdown", "value": value},
                    "range": index.lsp_range((line, m.start()), (line, m.end()))}
    return None


def signature(elab: Elaboration, ident: str) -> str:
    """``name binders : type`` for a theorem/def of the document (as Lean's hover shows it,
    without Lean's pretty-printing), else the identifier alone."""
    for cmd in elab.commands:
        if cmd.name == ident and cmd.statement:
            statement = " ".join(cmd.statement.split())
            return f"{ident} {statement}" if statement.startswith((":", "(", "{", "[", "⦃")) else f"{ident} : {statement}"
    return ident


def completion_result(scenario: Scenario, uri: str, line: int, character: int) -> dict[str, Any]:
    """A CompletionList (``isIncomplete: false``, as Lean 4.35 answers): per-position scripted
    items or global items, each with Lean's ``data`` ``[uri, line, character, 0, "c<label>"]``
    (what ``completionItem/resolve`` routes by) unless the scenario gives its own."""
    entries = scenario.completion
    if entries and all(isinstance(e, dict) and "items" in e and "line" in e for e in entries):
        for e in entries:
            if e["line"] == line and e.get("character", character) == character:
                return {"isIncomplete": e.get("isIncomplete", False), "items": _with_data(e["items"], uri, line, character)}
        return {"isIncomplete": False, "items": []}
    return {"isIncomplete": False, "items": _with_data(entries or [], uri, line, character)}


def _with_data(items: list[Any], uri: str, line: int, character: int) -> list[Any]:
    """Items get Lean's ``data``; a scenario item with ``"data": null`` has none (older Lean)."""
    out = []
    for item in items:
        if isinstance(item, dict) and "data" not in item:
            item = {**item, "data": [uri, line, character, 0, f"c{item.get('label', '')}"]}
        elif isinstance(item, dict) and item.get("data") is None:
            item = {k: v for k, v in item.items() if k != "data"}
        out.append(item)
    return out


def code_actions(elab: Elaboration, uri: str, version: int, rng: dict[str, Any]) -> list[dict[str, Any]]:
    """Try-this quickfixes for suggestions whose tactic overlaps ``rng`` (Lean's shape)."""
    index = elab.index
    start = (rng["start"]["line"], index.cp_col(rng["start"]["line"], rng["start"]["character"]))
    end = (rng["end"]["line"], index.cp_col(rng["end"]["line"], rng["end"]["character"]))
    actions = []
    for cmd in elab.commands:
        for tt in cmd.try_this:
            if tt.start <= end and start <= tt.end:
                actions.append({
                    "title": f"Try this: {tt.suggestion}",
                    "kind": "quickfix",
                    "isPreferred": True,
                    "edit": {"documentChanges": [{
                        "textDocument": {"uri": uri, "version": version},
                        "edits": [{"range": index.lsp_range(tt.start, tt.end), "newText": tt.suggestion}],
                    }]},
                })
    return actions


def is_lean_resolve_data(data: Any) -> bool:
    """Whether a code action's ``data`` has the shape Lean's resolve expects."""
    return (isinstance(data, dict) and isinstance(data.get("providerName"), str)
            and isinstance(data.get("providerResultIndex"), int) and isinstance(data.get("params"), dict))


def stale_imports_diagnostic(index: LineIndex) -> dict[str, Any]:
    """Lean's sticky out-of-date information diagnostic (§1.6)."""
    return {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}},
            "fullRange": {"start": {"line": 0, "character": 0}, "end": index.end_position()},
            "severity": 3, "source": "Lean 4", "message": STALE_IMPORTS}


def huge_diagnostic(size: int) -> dict[str, Any]:
    """An information diagnostic with a ``size``-byte message (fault injection)."""
    zero = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    return {"range": zero, "fullRange": zero, "severity": 3, "source": "Lean 4", "message": "x" * size}


def imported_modules(header: str) -> list[tuple[int, str]]:
    """(header line index, module) for each module named in an import header."""
    out = []
    for k, line in enumerate(header.split("\n")):
        words = line.split()
        if words and words[0] == "import":
            out += [(k, m) for m in words[1:] if m not in ("public", "all", "meta")]
    return out


def is_module_file(uri: str, module: str) -> bool:
    """Whether ``uri`` is the source file of ``module`` (``Foo.Bar`` ↔ ``…/Foo/Bar.lean``)."""
    return uri.endswith("/" + module.replace(".", "/") + ".lean")
