"""Goal texts: parsing, matching and rendering in Lean's formats (lean-lsp-protocol.md §3.2, §3.6).

A goal is plain text as Lean prints it: an optional ``case <tag>`` line, hypotheses one per line
(``a b : Nat``), then the target line starting with ``⊢ `` (or ``| `` for conv goals).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from typing import Any

TARGET_PREFIXES = ("⊢ ", "| ")


@dataclass(frozen=True)
class GoalParts:
    case: str | None
    hyps: tuple[str, ...]
    target: str
    prefix: str = "⊢ "


def collapse(text: str) -> str:
    """Collapse runs of whitespace to one space and strip."""
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=4096)
def split_goal(goal: str) -> GoalParts:
    """Split a goal text; a text without a ``⊢`` line is taken as a bare target."""
    lines = [line for line in goal.strip("\n").split("\n") if line.strip()]
    case = None
    if lines and lines[0].startswith("case "):
        case = lines[0][5:].strip()
        lines = lines[1:]
    for i, line in enumerate(lines):
        stripped = line.strip()
        for prefix in TARGET_PREFIXES:
            if stripped.startswith(prefix.strip()) and (stripped == prefix.strip() or stripped.startswith(prefix)):
                target = "\n".join([stripped[len(prefix):]] + lines[i + 1:])
                return GoalParts(case, tuple(collapse(h) for h in lines[:i]), collapse(target), prefix)
    return GoalParts(case, (), collapse("\n".join(lines)))


def normalize_goal(goal: str) -> str:
    """Canonical text of a goal (whitespace collapsed per line, blank lines dropped)."""
    parts = split_goal(goal)
    return join_goal(parts)


def join_goal(parts: GoalParts) -> str:
    lines = ([f"case {parts.case}"] if parts.case else []) + list(parts.hyps) + [parts.prefix + parts.target]
    return "\n".join(lines)


def hypothesis_types(parts: GoalParts) -> dict[str, str]:
    """Map each hypothesis name to its type (``a b : Nat`` gives two entries)."""
    out: dict[str, str] = {}
    for hyp in parts.hyps:
        names, sep, typ = hyp.partition(" : ")
        if sep:
            for name in names.split():
                out[name] = typ.strip()
    return out


def goal_matches(pattern: str, goal: str) -> bool:
    """Whether a scenario goal pattern matches a goal.

    The targets must be equal (whitespace-insensitive); every hypothesis line the pattern lists
    must occur in the goal; the case tag is compared only when the pattern has one.
    """
    if pattern.strip() == "*":
        return True
    p, g = split_goal(pattern), split_goal(goal)
    if p.target != g.target:
        return False
    if any(h not in g.hyps for h in p.hyps):
        return False
    return p.case is None or p.case == g.case


def with_parent_tag(child: str, parent: str) -> str:
    """Lean-style case tags: an untagged new goal keeps the parent's tag, a tagged one is nested."""
    c, p = split_goal(child), split_goal(parent)
    if p.case is None:
        return join_goal(c)
    if c.case is None:
        tag = p.case
    elif c.case == p.case or c.case.startswith(p.case + "."):
        tag = c.case  # the scenario already wrote the full tag
    else:
        tag = f"{p.case}.{c.case}"
    return join_goal(GoalParts(tag, c.hyps, c.target, c.prefix))


def plain_goal_result(goals: list[str] | None) -> dict[str, Any] | None:
    """The ``$/lean/plainGoal`` result: null, ``no goals``, or fenced blocks joined by ``---``."""
    if goals is None:
        return None
    if not goals:
        return {"rendered": "no goals", "goals": []}
    rendered = "\n---\n".join(f"```lean\n{g}\n```" for g in goals)
    return {"rendered": rendered, "goals": list(goals)}


class RefMaker:
    """Issues opaque RPC references in the v0 (``{"p":…}``) or v1 (``{"__rpcref":…}``) encoding."""

    def __init__(self, wire_format: str = "v0", numeric: bool = False, counter: Callable[[], int] | None = None):
        self.key = "__rpcref" if wire_format == "v1" else "p"
        self.numeric = numeric
        self.counter = counter or count().__next__
        self.live: dict[str, str | None] = {}  # reference value (as text) -> what it points at

    def __call__(self, payload: str | None = None) -> dict[str, Any]:
        n = self.counter()
        self.live[str(n)] = payload
        return {self.key: n if self.numeric else str(n)}

    def resolve(self, ref: Any) -> tuple[bool, str | None]:
        """(valid, payload) for a reference object or bare value sent back by the client."""
        value = ref.get(self.key, ref.get("p", ref.get("__rpcref"))) if isinstance(ref, dict) else ref
        key = str(value)
        return (key in self.live, self.live.get(key))

    def release(self, refs: list[Any]) -> None:
        for ref in refs:
            value = ref.get(self.key, ref.get("p", ref.get("__rpcref"))) if isinstance(ref, dict) else ref
            self.live.pop(str(value), None)


def tagged(text: str, refs: RefMaker) -> dict[str, Any]:
    """A CodeWithInfos for ``text``: one tag carrying a SubexprInfo around a text leaf."""
    return {"tag": [{"info": refs(text), "subexprPos": "/"}, {"text": text}]}


def strip_tags(node: Any) -> str:
    """Concatenate the text leaves of a TaggedText (how Lean derives plain goals)."""
    if isinstance(node, dict):
        if "text" in node:
            return node["text"]
        if "append" in node:
            return "".join(strip_tags(n) for n in node["append"])
        if "tag" in node:
            return strip_tags(node["tag"][1])
    return ""


def interactive_goal(goal: str, refs: RefMaker, ids: Callable[[], int]) -> dict[str, Any]:
    """One InteractiveGoal (§3.6) for a goal text; optional fields omitted as Lean does."""
    parts = split_goal(goal)
    raw_lines = [line for line in goal.strip("\n").split("\n") if line.strip()]
    if parts.case is not None:
        raw_lines = raw_lines[1:]
    hyps: list[dict[str, Any]] = []
    for line in raw_lines[: len(parts.hyps)]:
        names, sep, typ = line.partition(" : ")
        if not sep:
            if hyps:
                hyps[-1]["type"]["tag"][1]["text"] += "\n" + line
            continue
        name_list = names.split()
        hyp: dict[str, Any] = {
            "names": name_list,
            "fvarIds": [f"_uniq.{ids()}" for _ in name_list],
            "type": tagged(typ, refs),
        }
        if any(n.startswith("inst") and n.endswith("✝") for n in name_list):
            hyp["isInstance"] = True
        hyps.append(hyp)
    out: dict[str, Any] = {
        "hyps": hyps,
        "type": tagged(parts.target, refs),
        "ctx": refs(),
        "goalPrefix": parts.prefix,
        "mvarId": f"_uniq.{ids()}",
    }
    if parts.case is not None:
        out["userName"] = parts.case
    return out


def interactive_goals(goals: list[str] | None, refs: RefMaker, ids: Callable[[], int]) -> dict[str, Any] | None:
    """``Lean.Widget.getInteractiveGoals`` result for a goal list (null outside tactic blocks)."""
    if goals is None:
        return None
    return {"goals": [interactive_goal(g, refs, ids) for g in goals]}
