"""Turning what the editor has (a goal state, a statement, free text) into retrieval queries.

Lexical queries are token lists in which repetition is weight: the goal's target counts
``TARGET_WEIGHT`` times, hypotheses once, hypothesis names not at all. Dense queries are
the text itself with the target first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .lean_tokens import tokenize
from .records import Declaration

TARGET_WEIGHT = 2
NAME_WEIGHT = 2
_HYP = re.compile(r"^(?P<names>[^:⊢]+?)\s:\s(?P<type>.*)$", re.S)
_TOP_COLON = re.compile(r"[(\[{⟨⦃)\]}⟩⦄]|\s:\s")


@dataclass(frozen=True)
class Goal:
    """A goal state split into hypothesis types and the target."""

    hypotheses: tuple[str, ...]
    target: str


def parse_goal(goal_text: str) -> Goal:
    """Parse Lean's pretty-printed goal (``x : T`` lines, then ``⊢ target``; first goal only).

    Continuation lines (indented) join the entry above them; ``case`` tags are skipped.
    """
    first = goal_text.strip().split("\n\n")[0]
    entries: list[str] = []
    for line in first.splitlines():
        if not line.strip() or line.startswith("case "):
            continue
        if line[:1].isspace() and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    hyps: list[str] = []
    target = ""
    for e in entries:
        if e.startswith("⊢"):
            target = e[1:].strip()
            continue
        m = _HYP.match(e)
        hyps.append(m.group("type") if m else e)
    if not target and not hyps:
        target = goal_text.strip()
    return Goal(tuple(hyps), target)


def split_statement(statement: str) -> tuple[str, str, str]:
    """``theorem name binders : type`` -> (name, binders, type) at the top-level colon."""
    text = statement.strip()
    m = re.match(r"(?:[a-z_]+\s+)?(\S+)\s*(.*)$", text, re.S)
    if not m:
        return "", "", text
    name, rest = m.group(1), m.group(2)
    if rest.startswith(":") and not rest.startswith(":="):
        return name, "", rest[1:]
    depth = 0
    for t in _TOP_COLON.finditer(rest):
        tok = t.group()
        if tok in "([{⟨⦃":
            depth += 1
        elif tok in ")]}⟩⦄":
            depth = max(0, depth - 1)
        elif depth == 0:
            return name, rest[: t.start()], rest[t.end() :]
    return name, rest, ""


def goal_query_tokens(goal_text: str) -> list[str]:
    """Lexical query for a goal state: hypothesis types once, the target ``TARGET_WEIGHT`` times."""
    goal = parse_goal(goal_text)
    toks: list[str] = []
    for h in goal.hypotheses:
        toks += tokenize(h)
    toks += tokenize(goal.target) * TARGET_WEIGHT
    return toks


def statement_query_tokens(statement: str) -> list[str]:
    """Lexical query for a declaration statement: name, binder types and conclusion (weighted)."""
    name, binders, concl = split_statement(statement)
    return tokenize(name) * NAME_WEIGHT + tokenize(binders) + tokenize(concl) * TARGET_WEIGHT


def looks_like_goal(text: str) -> bool:
    """Whether ``text`` is a goal state (has a turnstile)."""
    return "⊢" in text


def looks_like_statement(text: str) -> bool:
    """Whether ``text`` starts with a declaration keyword."""
    return re.match(r"\s*(?:@\[[^\]]*\]\s*)?(?:theorem|lemma|def|abbrev|instance|example)\b", text) is not None


def query_tokens(text: str) -> list[str]:
    """The lexical query for any text: goal, statement or plain words."""
    if looks_like_goal(text):
        return goal_query_tokens(text)
    if looks_like_statement(text):
        return statement_query_tokens(text)
    return tokenize(text)


def dense_query_text(text: str) -> str:
    """Text to embed for ``text``: for goals the target first, then the hypotheses."""
    if looks_like_goal(text):
        g = parse_goal(text)
        return "\n".join([g.target, *g.hypotheses])
    return text.strip()


def module_tokens(module: str) -> list[str]:
    """Tokens of a module name without its library root (``Std.Data.Int.DivMod`` -> data int div mod)."""
    parts = module.split(".")
    return tokenize(".".join(parts[1:] if len(parts) > 1 else parts))


def document_tokens(decl: Declaration, *, name_weight: int = NAME_WEIGHT, with_doc: bool = True) -> list[str]:
    """Lexical document of a declaration: its name (weighted), signature, docstring and module."""
    toks = tokenize(decl.name) * name_weight + tokenize(decl.signature)
    if with_doc and decl.docstring:
        toks += tokenize(decl.docstring)
    return toks + module_tokens(decl.module)


def document_text(decl: Declaration) -> str:
    """Text embedded for a declaration by the dense encoder."""
    parts = [decl.name, decl.signature]
    if decl.docstring:
        parts.append(decl.docstring[:300])
    return "\n".join(parts)
