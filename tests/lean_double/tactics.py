"""What one tactic does to one goal in the double: scenario table, built-ins, generic failure.

Lookup order: scenario rules whose goal pattern matches the goal (first wins), scenario rules
with goal ``"*"``, the built-ins (unless the scenario sets ``"builtins": false``), then a
Lean-like failure message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .goals import GoalParts, collapse, goal_matches, hypothesis_types, join_goal, split_goal
from .scenario import Scenario

SORRY_RE = re.compile(r"(?<![\w.'])(sorry|admit)(?![\w'])")

# Heads a Lean user (or a model) plausibly writes; anything else is "unknown tactic".
KNOWN_TACTICS = frozenset([
    'abel', 'absurd', 'aesop', 'all_goals', 'any_goals', 'apply', 'apply?', 'apply_fun', 'assumption',
    'bound', 'by_cases', 'by_contra', 'calc', 'case', "case'", 'cases', 'change', 'clear', 'congr',
    'constructor', 'contradiction', 'contrapose', 'conv', 'convert', 'decide', 'done', 'dsimp', 'erw',
    'exact', 'exact?', 'exact_mod_cast', 'exfalso', 'exists', 'ext', 'fail', 'field_simp', 'fin_cases',
    'first', 'focus', 'funext', 'gcongr', 'generalize', 'grind', 'group', 'have', 'hint', 'induction',
    'infer_instance', 'interval_cases', 'intro', 'intros', 'iterate', 'left', 'let', 'linarith',
    'linear_combination', 'module', 'native_decide', 'next', 'nlinarith', 'nofun', 'nomatch', 'norm_cast',
    'norm_num', 'obtain', 'observe', 'omega', 'polyrith', 'positivity', 'push_cast', 'push_neg', 'qify',
    'rcases', 'refine', "refine'", 'rename_i', 'repeat', 'rfl', 'right', 'ring', 'ring_nf', 'rintro', 'rw',
    'rw?', 'rwa', 'set', 'show', 'simp', 'simp?', 'simp_all', 'simp_arith', 'simpa', 'skip', 'sorry', 'admit',
    'specialize', 'split', 'split_ifs', 'subst', 'suffices', 'symm', 'tauto', 'trivial', 'try', 'unfold',
    'use', 'zify'
])

FAILURE_MESSAGES = {
    "linarith": "linarith failed to find a contradiction",
    "nlinarith": "linarith failed to find a contradiction",
    "omega": "omega could not prove the goal",
    "simp": "simp made no progress",
    "simp_all": "simp_all made no progress",
    "dsimp": "dsimp made no progress",
    "norm_num": "simp made no progress",
    "simpa": "simp made no progress",
    "ring": "ring failed, ring_nf subsidiary goal",
    "positivity": "failed to prove positivity",
    "aesop": "aesop: failed to prove the goal after exhaustive search.",
    "tauto": "tauto failed to solve some goals.",
    "rfl": "The rfl tactic failed.",
    "decide": "tactic 'decide' proved that the proposition\n  {target}\nis false",
    "exact": "type mismatch",
    "exact?": "`exact?` could not close the goal.",
    "apply?": "`apply?` could not find a lemma.",
}


@dataclass
class Outcome:
    """Result of one tactic on the focused goal."""

    goals: list[str] | None = None  # replaces the focused goal
    error: str | None = None
    info: str | None = None
    sorry: bool = False


def top_level_split(text: str, sep: str) -> tuple[str, str] | None:
    """Split ``text`` at the first ``sep`` outside brackets."""
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            return text[:i].strip(), text[i + len(sep):].strip()
        i += 1
    return None


def strip_parens(text: str) -> str:
    """Drop one pair of parentheses enclosing the whole text."""
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        return text[1:-1].strip()
    return text


def _closed() -> Outcome:
    return Outcome(goals=[])


def builtin(goal: str, tactic: str) -> Outcome | None:
    """Small built-in semantics; None when the built-in does not apply."""
    parts = split_goal(goal)
    words = tactic.split()
    head, args = words[0], words[1:]
    target = strip_parens(parts.target)
    if head in ("sorry", "admit") and not args:
        return Outcome(goals=[], sorry=True)
    if head in ("exact", "apply", "refine", "refine'") and args == ["sorry"]:
        return Outcome(goals=[], sorry=True)
    if head == "exact" and len(args) == 1 and args[0].rsplit(".", 1)[-1] == "_lc_other_sorry":
        # copilot's checker stands in for a user's other sorries with its own axiom
        # `_lc_other_sorry : {α : Sort u} → α`, which closes any goal (no sorry warning)
        return _closed()
    if tactic == "skip":
        return Outcome(goals=[goal])
    if tactic == "rfl":
        for sep in (" = ", " ↔ "):
            split = top_level_split(target, sep)
            if split and split[0] == split[1]:
                return _closed()
        return None
    if tactic == "trivial" and target == "True":
        return _closed()
    hyps = hypothesis_types(parts)
    if tactic == "assumption" and target in hyps.values():
        return _closed()
    if head == "exact" and len(args) == 1:
        if hyps.get(args[0]) == target or (target == "True" and args[0] in ("trivial", "True.intro")):
            return _closed()
        return None
    if head == "intro" and args:
        new_hyps, current = list(parts.hyps), target
        for name in args:
            split = top_level_split(current, " → ")
            if split is None:
                return None
            new_hyps.append(f"{name} : {split[0]}")
            current = split[1]
        return Outcome(goals=[join_goal(GoalParts(None, tuple(new_hyps), current))])
    if tactic == "constructor":
        for sep, tags in ((" ∧ ", ("left", "right")), (" ↔ ", ("mp", "mpr"))):
            split = top_level_split(target, sep)
            if split:
                a, b = strip_parens(split[0]), strip_parens(split[1])
                targets = (a, b) if sep == " ∧ " else (f"{a} → {b}", f"{b} → {a}")
                return Outcome(goals=[join_goal(GoalParts(t, parts.hyps, tgt)) for t, tgt in zip(tags, targets)])
        return None
    return None


def failure(goal: str, tactic: str) -> Outcome:
    """A Lean-like error for a tactic the scenario does not script."""
    head = tactic.split()[0]
    if head not in KNOWN_TACTICS:
        return Outcome(error="unknown tactic")
    message = FAILURE_MESSAGES.get(head)
    if message is None:
        return Outcome(error=f"tactic '{head}' failed\n{goal}")
    return Outcome(error=message.format(target=split_goal(goal).target))


def apply_tactic(scenario: Scenario, goal: str, tactic: str) -> Outcome:
    """Run ``tactic`` on ``goal`` per the scenario (see the module docstring for the order)."""
    tactic = collapse(tactic)
    rules = scenario.rules_for(tactic)
    chosen = next((r for r in rules if r.goal != "*" and goal_matches(r.goal, goal)), None)
    chosen = chosen or next((r for r in rules if r.goal == "*"), None)
    uses_sorry = bool(SORRY_RE.search(tactic))
    if chosen is not None:
        return Outcome(goals=chosen.goals, error=chosen.error, info=chosen.info, sorry=uses_sorry)
    if scenario.builtins:
        outcome = builtin(goal, tactic)
        if outcome is not None:
            return outcome
    return failure(goal, tactic)
