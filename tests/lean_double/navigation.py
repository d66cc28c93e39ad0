"""Symbols, definitions, highlights and semantic tokens from the document's text (pure).

Lean answers these from its elaboration info trees; the double answers from the text: the
declarations of the document (a declaration keyword at column 0, then a name), the identifiers
that name them, and a keyword token per declaration/command keyword. The shapes are Lean's
(checked against real Lean by tests/double/test_real_conformance.py); the contents are coarser:
no symbols for constructors or local variables, tokens only for keywords and declared names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .documents import LineIndex, utf16_len
from .elaborator import Elaboration

DECL_RE = re.compile(
    r"^(?:@\[[^\]]*\]\s*)?(?:(?:private|protected|noncomputable|partial|unsafe|nonrec)\s+)*"
    r"(inductive|structure|class|def|theorem|lemma|abbrev|instance|opaque|axiom)\s+([^\s:({\[⦃]+)")
KEYWORDS = frozenset({"prelude", "import", "inductive", "structure", "class", "def", "theorem", "lemma", "abbrev",
                      "instance", "opaque", "axiom", "example", "where", "by", "fun", "match", "with", "#check",
                      "#print", "#eval", "namespace", "section", "end", "open", "variable", "universe", "set_option",
                      "in", "have", "show", "from", "let", "if", "then", "else", "do", "private", "protected",
                      "noncomputable", "partial", "unsafe"})
WORD_RE = re.compile(r"#?[^\s()\[\]{}⟨⟩,:=]+")
SYMBOL_KIND = 6  # real Lean 4.35 reports every declaration with kind 6


@dataclass
class Declaration:
    name: str
    first_line: int
    last_line: int
    name_start: tuple[int, int]
    name_end: tuple[int, int]


def declarations(elab: Elaboration) -> list[Declaration]:
    """Named declarations of the document, in order."""
    lines = elab.index.lines
    found = []
    for cmd in elab.commands:
        text = lines[cmd.first_line]
        match = DECL_RE.match(text)
        if not match:
            continue
        last = cmd.last_line
        while last > cmd.first_line and not lines[last].strip():
            last -= 1
        found.append(Declaration(match.group(2), cmd.first_line, last,
                                 (cmd.first_line, match.start(2)), (cmd.first_line, match.end(2))))
    return found


def _decl_range(index: LineIndex, decl: Declaration) -> dict[str, Any]:
    return index.lsp_range((decl.first_line, 0), (decl.last_line, len(index.lines[decl.last_line].rstrip())))


def document_symbols(elab: Elaboration) -> list[dict[str, Any]]:
    """``DocumentSymbol`` s (flat, like real Lean for top-level declarations)."""
    index = elab.index
    return [{"kind": SYMBOL_KIND, "name": d.name, "range": _decl_range(index, d),
             "selectionRange": index.lsp_range(d.name_start, d.name_end)} for d in declarations(elab)]


def _word_at(index: LineIndex, line: int, character: int) -> tuple[str, int, int] | None:
    if not 0 <= line < len(index.lines):
        return None
    col = index.cp_col(line, character)
    for m in WORD_RE.finditer(index.lines[line]):
        if m.start() <= col < m.end():
            return m.group(), m.start(), m.end()
    return None


def _resolve(elab: Elaboration, word: str) -> Declaration | None:
    """The declaration a word names: exactly, or through dot notation on a declared type."""
    for decl in declarations(elab):
        if decl.name == word:
            return decl
    return None


def definition(elab: Elaboration, uri: str, line: int, character: int) -> list[dict[str, Any]]:
    """``LocationLink`` s to the declaration named under the cursor (``[]`` elsewhere)."""
    index = elab.index
    hit = _word_at(index, line, character)
    decl = _resolve(elab, hit[0]) if hit else None
    if hit is None or decl is None:
        return []
    target = index.lsp_range(decl.name_start, decl.name_end)
    return [{"originSelectionRange": index.lsp_range((line, hit[1]), (line, hit[2])),
             "targetRange": target, "targetSelectionRange": target, "targetUri": uri}]


def highlights(elab: Elaboration, line: int, character: int) -> list[dict[str, Any]]:
    """Every occurrence of the declared name under the cursor (kind 1, text)."""
    index = elab.index
    hit = _word_at(index, line, character)
    if hit is None or _resolve(elab, hit[0]) is None:
        return []
    out = []
    for k, text in enumerate(index.lines):
        for m in WORD_RE.finditer(text):
            if m.group() == hit[0]:
                out.append({"kind": 1, "range": index.lsp_range((k, m.start()), (k, m.end()))})
    return out


def semantic_tokens(elab: Elaboration, first_line: int = 0, last_line: int | None = None) -> dict[str, Any]:
    """``SemanticTokens``: keywords (type 0) and declared names (type 3, ``function``), relative
    encoding in UTF-16 units, for the lines ``first_line``..``last_line`` (inclusive)."""
    index = elab.index
    names = {d.name for d in declarations(elab)}
    last_line = len(index.lines) - 1 if last_line is None else min(last_line, len(index.lines) - 1)
    data: list[int] = []
    prev_line, prev_start = 0, 0
    for k in range(max(first_line, 0), last_line + 1):
        text = index.lines[k]
        comment = text.find("--")
        for m in WORD_RE.finditer(text):
            if comment >= 0 and m.start() >= comment:
                break
            kind = 0 if m.group() in KEYWORDS else 3 if m.group() in names else None
            if kind is None:
                continue
            start = utf16_len(text[:m.start()])
            data += [k - prev_line, start - prev_start if k == prev_line else start, utf16_len(m.group()), kind, 0]
            prev_line, prev_start = k, start
    return {"data": data}
