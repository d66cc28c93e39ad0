"""The model-free tactic portfolio: ranked tactics from the shape of the goal.

The embedded default source. It parses the goal state (:mod:`local_models.goal_shape`),
looks at the target's connective/relation and number type and at the hypotheses, and
proposes tactics with log-scale prior scores. Which tactics it may propose depends on what
the file imports (Mathlib, Aesop, Batteries) and, where known, on the Lean version: that is
data (:data:`TACTICS`, :data:`PROVIDERS`), not code. Every candidate is only a proposal;
copilot shows it only after Lean has checked it.
"""
from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from local_models.generation import Candidate, GenerationRequest, Role
from local_models.goal_shape import (
    Arith,
    Goal,
    Shape,
    arith_features,
    classify,
    find_top_level,
    identifiers,
    is_accessible,
    normalize,
    number_type,
    parse_goals,
    strip_parens,
)

log = logging.getLogger(__name__)

__all__ = [
    "ASSUMED_LEAN_VERSION",
    "PROVIDERS",
    "TACTICS",
    "PortfolioGenerator",
    "TacticInfo",
    "available_providers",
    "imports_of",
    "parse_lean_version",
    "suggest",
    "tactic_keywords",
]

Version = tuple[int, int, int]


@dataclass(frozen=True)
class TacticInfo:
    """Where a tactic comes from and which Lean versions have it.

    ``provider``: ``core`` (always there) or a library key of :data:`PROVIDERS`.
    ``min_lean``: first Lean release that has it in core (None: every Lean 4 release we
    target). ``deprecated_from``: first release where it only warns; it is not proposed there.
    """

    provider: str = "core"
    min_lean: Version | None = None
    deprecated_from: Version | None = None


# Which imports bring a library's tactics: any import equal to, or below, one of these roots.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "Mathlib": ("Mathlib",),
    "Aesop": ("Aesop", "Mathlib"),
    "Batteries": ("Batteries", "Std", "Mathlib"),
}

# When the toolchain version is unknown, assume a Lean at least this recent: tactics that
# need newer releases (grind) are then left out.
ASSUMED_LEAN_VERSION: Version = (4, 9, 0)

_CORE = TacticInfo()
_MATHLIB = TacticInfo("Mathlib")

# Keyed by the tactic keyword as it is written. Versions: omega moved into core Lean in
# 4.7, `exact?`/`apply?` in 4.8, the cast tactics (`norm_cast`, `push_cast`,
# `exact_mod_cast`) in 4.8; `grind` is offered from 4.22; `simp_arith` is deprecated
# (in favour of `simp +arith`) from 4.18.
TACTICS: dict[str, TacticInfo] = {
    **{k: _CORE for k in (
        "rfl", "decide", "simp", "simp_all", "simpa", "trivial", "constructor", "intro",
        "intros", "rintro", "assumption", "contradiction", "exact", "apply", "refine", "cases",
        "rcases", "obtain", "induction", "left", "right", "exists", "funext", "ext", "subst",
        "subst_vars", "rw", "by_cases", "split", "unfold", "congr", "infer_instance",
        "all_goals", "rename_i", "symm",
    )},
    "omega": TacticInfo(min_lean=(4, 7, 0)),
    "exact?": TacticInfo(min_lean=(4, 8, 0)),
    "norm_cast": TacticInfo(min_lean=(4, 8, 0)),
    "push_cast": TacticInfo(min_lean=(4, 8, 0)),
    "exact_mod_cast": TacticInfo(min_lean=(4, 8, 0)),
    "simp_arith": TacticInfo(deprecated_from=(4, 18, 0)),
    "grind": TacticInfo(min_lean=(4, 22, 0)),
    "by_contra": TacticInfo("Batteries"),
    "aesop": TacticInfo("Aesop"),
    **{k: _MATHLIB for k in (
        "linarith", "nlinarith", "positivity", "ring", "ring_nf", "norm_num", "field_simp",
        "tauto", "gcongr", "push_neg", "use", "interval_cases", "fin_cases", "fun_prop",
        "nlinarith", "contrapose!",
    )},
}

_KEYWORD = re.compile(r"(?<![\w.'])([a-z_]+[?!]?)(?![\w.'])")


def tactic_keywords(text: str) -> list[str]:
    """The tactic keywords of :data:`TACTICS` that occur in a candidate's text."""
    return [w for w in _KEYWORD.findall(text) if w in TACTICS]


def parse_lean_version(text: str | None) -> Version | None:
    """``(4, 24, 0)`` from ``leanprover/lean4:v4.24.0``, ``v4.24.0-rc1`` or ``4.24``; else None."""
    if not text:
        return None
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def available_providers(imports: Iterable[str]) -> frozenset[str]:
    """The libraries of :data:`PROVIDERS` whose tactics the given imports bring in."""
    found = {"core"}
    for module in imports:
        module = module.strip()
        for provider, roots in PROVIDERS.items():
            if any(module == r or module.startswith(r + ".") for r in roots):
                found.add(provider)
    return frozenset(found)


_IMPORT_LINE = re.compile(r"^\s*import\s+(.+)$", re.M)


def imports_of(source: str) -> list[str]:
    """Module names of the ``import`` lines of a Lean file's text (its header)."""
    return [name for line in _IMPORT_LINE.findall(source) for name in line.split("--")[0].split()]


def _tactic_available(info: TacticInfo, providers: frozenset[str], version: Version | None) -> bool:
    if info.provider not in providers:
        return False
    effective = version or ASSUMED_LEAN_VERSION
    if info.min_lean and effective < info.min_lean:
        return False
    return not (version and info.deprecated_from and version >= info.deprecated_from)


# --------------------------------------------------------------------------- collection


class _Collector:
    """Candidate texts with prior weights in (0, 1]; repeated evidence combines (noisy-or)."""

    def __init__(self, allowed: Callable[[str, tuple[str, ...]], bool]) -> None:
        self._weights: dict[str, float] = {}
        self._allowed = allowed

    def add(self, text: str, weight: float, needs: tuple[str, ...] = ()) -> None:
        text = " ".join(text.split()) if "\n" not in text else text.strip()
        if not text or weight <= 0 or not self._allowed(text, needs):
            return
        weight = min(weight, 1.0)
        old = self._weights.get(text)
        self._weights[text] = weight if old is None else 1 - (1 - old) * (1 - weight)

    def ranked(self) -> list[tuple[str, float]]:
        order = {t: i for i, t in enumerate(self._weights)}
        return sorted(self._weights.items(), key=lambda kv: (-kv[1], order[kv[0]]))


@dataclass(frozen=True)
class _Context:
    goal: Goal
    shape: Shape
    arith: Arith
    mathlib: bool
    more_goals: int
    types: dict[str, str]  # hypothesis name → type (the last one wins, as in Lean)


# --------------------------------------------------------------------------- helpers


def _fresh(ctx: _Context, base: str, taken: set[str] | None = None) -> str:
    name = base
    while name in ctx.types or (taken is not None and name in taken):
        name += "'"
    if taken is not None:
        taken.add(name)
    return name


def _accessible_hyps(goal: Goal) -> list[tuple[str, str]]:
    """``(name, type)`` of hypotheses that tactic text can mention, newest last."""
    return [(n, h.type) for h in goal.hypotheses for n in h.names if is_accessible(n)]


def _is_sort(type_text: str) -> bool:
    return bool(re.match(r"(Sort|Type)\b", type_text.strip()))


def _is_prop_var(ctx: _Context, term: str) -> bool:
    typ = ctx.types.get(strip_parens(term))
    return typ is not None and typ.strip() == "Prop"


def _split_conj(term: str) -> list[str]:
    """Components of a right-nested ``∧`` (``a ∧ b ∧ c`` → three parts)."""
    shape = classify(term)
    if shape.kind != "and":
        return [strip_parens(term)]
    return [strip_parens(shape.lhs)] + _split_conj(shape.rhs)


def _conclusion(type_text: str) -> str:
    """The conclusion of ``∀ …, A → B → C`` (``C``)."""
    t = type_text
    for _ in range(8):
        s = classify(t)
        if s.kind == "forall" and s.body:
            t = s.body
        elif s.kind == "implies":
            t = s.rhs
        else:
            break
    return strip_parens(t)


def _same_statement(a: str, b: str) -> bool:
    """``a`` and ``b`` state the same thing up to spacing, parentheses and ``≥``/``>`` flips."""
    if normalize(a) == normalize(b):
        return True
    sa, sb = classify(a), classify(b)
    return (
        sa.kind in ("le", "lt", "subset") and sa.kind == sb.kind
        and normalize(sa.lhs) == normalize(sb.lhs) and normalize(sa.rhs) == normalize(sb.rhs)
    )


def _contains(term: str, sub: str) -> bool:
    """Whether ``sub`` occurs in ``term`` as a whole subterm (textually)."""
    sub = normalize(sub)
    if not sub:
        return False
    hay = normalize(term)
    start = hay.find(sub)
    while start >= 0:
        end = start + len(sub)
        before = hay[start - 1] if start else " "
        after = hay[end] if end < len(hay) else " "
        if not _is_name_char(before) and before != "." and not _is_name_char(after):
            return True
        start = hay.find(sub, start + 1)
    return False


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_'✝"


def _int_like(ctx: _Context) -> bool:
    return ctx.arith.domain in ("ℕ", "ℤ") or (ctx.arith.domain is None and ctx.arith.numeric)


def _field(ctx: _Context) -> bool:
    return ctx.arith.domain in ("ℚ", "ℝ", "ℂ")


# --------------------------------------------------------------------------- rules


def _hypothesis_rules(ctx: _Context, c: _Collector) -> None:
    goal, target = ctx.goal, ctx.goal.target
    hyps = _accessible_hyps(goal)
    taken: set[str] = set()
    for name, typ in hyps:
        if _same_statement(typ, target):
            c.add(f"exact {name}", 0.92)
            c.add("assumption", 0.6)
    if any(_same_statement(t, target) for h in goal.hypotheses for n in h.names
           if not is_accessible(n) for t in [h.type]):
        c.add("assumption", 0.8)
    by_type = {normalize(t): n for n, t in hyps}
    for name, typ in hyps:
        hs = classify(typ)
        if hs.kind == "false":
            c.add("contradiction", 0.85)
            c.add(f"exact {name}.elim", 0.8)
            continue
        if (hs.kind in ("eq", "ne") and ctx.shape.kind == hs.kind
                and normalize(hs.lhs) == normalize(ctx.shape.rhs) and normalize(hs.rhs) == normalize(ctx.shape.lhs)):
            c.add(f"exact {name}.symm", 0.88)
        if hs.kind == "lt" and ctx.shape.kind == "le" and normalize(hs.lhs) == normalize(ctx.shape.lhs) \
                and normalize(hs.rhs) == normalize(ctx.shape.rhs):
            c.add(f"exact le_of_lt {name}", 0.75, needs=("Mathlib",))
            c.add(f"exact {name}.le", 0.7, needs=("Mathlib",))
            if ctx.arith.domain == "ℕ":
                c.add(f"exact Nat.le_of_lt {name}", 0.7)
        if hs.kind == "not":
            other = by_type.get(normalize(hs.body))
            if other:
                c.add(f"exact absurd {other} {name}", 0.85)
                c.add(f"exact ({name} {other}).elim", 0.8)
                c.add("contradiction", 0.7)
        if hs.kind == "implies" and _same_statement(_conclusion(typ), target):
            premise = by_type.get(normalize(hs.lhs))
            if premise and _same_statement(hs.rhs, target):
                c.add(f"exact {name} {premise}", 0.9)
            c.add(f"apply {name}", 0.55)
        elif hs.kind == "forall":
            concl = classify(_conclusion(typ))
            if concl.kind == ctx.shape.kind and concl.kind != "other" and (
                concl.kind != "app" or concl.head == ctx.shape.head
            ):
                c.add(f"apply {name}", 0.3)
                c.add(f"exact {name} _", 0.12)
        if hs.kind == "iff":
            premise_l = by_type.get(normalize(hs.lhs))
            premise_r = by_type.get(normalize(hs.rhs))
            if premise_l and _same_statement(hs.rhs, target):
                c.add(f"exact {name}.mp {premise_l}", 0.9)
            if premise_r and _same_statement(hs.lhs, target):
                c.add(f"exact {name}.mpr {premise_r}", 0.9)
            if _contains(target, hs.lhs):
                c.add(f"rw [{name}]", 0.3)
        if hs.kind == "and":
            parts = _split_conj(typ)
            for i, part in enumerate(parts[:2]):
                if _same_statement(part, target):
                    c.add(f"exact {name}.{i + 1}" if i == 0 or len(parts) == 2 else f"exact {name}.2.1", 0.9)
            if len(parts) > 2 and _same_statement(parts[-1], target):
                c.add(f"exact {name}" + ".2" * (len(parts) - 1), 0.9)
            pats = [_fresh(ctx, f"{name}_{i + 1}", taken) for i in range(len(parts))]
            c.add(f"obtain ⟨{', '.join(pats)}⟩ := {name}", 0.3)
        if hs.kind == "or":
            c.add(f"rcases {name} with {name} | {name}", 0.3)
            c.add(f"cases {name}", 0.1)
        if hs.kind == "exists":
            names = [b for b in hs.binders if b != "_"] or ["x"]
            pats = [_fresh(ctx, b, taken) for b in names]
            proofs = [_fresh(ctx, f"h{pats[0]}", taken)]
            if hs.bounded:
                proofs.append(_fresh(ctx, f"h{pats[0]}'", taken))
            c.add(f"obtain ⟨{', '.join(pats + proofs)}⟩ := {name}", 0.4)
        if hs.kind == "eq":
            lhs, rhs = strip_parens(hs.lhs), strip_parens(hs.rhs)
            if _contains(target, lhs):
                c.add(f"rw [{name}]", 0.35)
                c.add(f"simp [{name}]", 0.15)
            if _contains(target, rhs) and not _contains(target, lhs):
                c.add(f"rw [← {name}]", 0.25)
            for side, other in ((lhs, rhs), (rhs, lhs)):
                if ctx.types.get(side) is not None and is_accessible(side) and not _contains(other, side):
                    c.add(f"subst {name}", 0.2)
                    c.add("subst_vars", 0.1)
                    break
    eq_names = [n for n, t in hyps if classify(t).kind in ("eq", "iff")]
    if eq_names and len(eq_names) <= 6:
        listed = ", ".join(eq_names)
        c.add(f"simp [{listed}]", 0.12)
        if ctx.arith.numeric:
            c.add(f"norm_num [{listed}]", 0.22, needs=("Mathlib",))
    if sum(1 for _, t in hyps if classify(t).kind in ("eq", "le", "lt", "ne")) >= 1:
        c.add("simp_all", 0.1)
    _interval_rules(ctx, hyps, c)


def _interval_rules(ctx: _Context, hyps: list[tuple[str, str]], c: _Collector) -> None:
    """``interval_cases x`` when hypotheses bound an ℕ/ℤ variable of the target."""
    upper: set[str] = set()
    lower: set[str] = set()
    for _, typ in hyps:
        for part in _split_conj(typ):
            s = classify(part)
            if s.kind in ("le", "lt"):
                upper.add(normalize(s.lhs))
                lower.add(normalize(s.rhs))
    for var in ctx.arith.variables:
        kind = number_type(ctx.types.get(var) or "")
        if not is_accessible(var) or kind not in ("ℕ", "ℤ"):
            continue
        if var in upper and (var in lower or kind == "ℕ"):
            c.add(f"interval_cases {var} <;> omega", 0.3, needs=("Mathlib",))
            c.add(f"interval_cases {var} <;> simp_all", 0.2, needs=("Mathlib",))
            c.add(f"interval_cases {var}", 0.15, needs=("Mathlib",))


def _intro_names(ctx: _Context) -> list[str]:
    """Names for ``intro`` that peel the target's ∀ binders and → premises."""
    goal, taken, names = ctx.goal, set(), []
    t = goal.target
    for _ in range(6):
        s = classify(t)
        if s.kind == "forall" and s.body:
            binders = [b if b != "_" else "x" for b in s.binders] or ["x"]
            names += [_fresh(ctx, b, taken) for b in binders]
            if s.bounded:
                names.append(_fresh(ctx, f"h{binders[-1]}", taken))
            t = s.body
        elif s.kind == "implies":
            base = "a" if _is_sort(ctx.types.get(strip_parens(s.lhs)) or "") else "h"
            names.append(_fresh(ctx, base, taken))
            t = s.rhs
        elif s.kind == "not" and names:
            names.append(_fresh(ctx, "h", taken))
            break
        else:
            break
    return names


def _intlike(ctx: _Context) -> bool:
    return _int_like(ctx) and ctx.arith.numeric


def _binder_rules(ctx: _Context, c: _Collector) -> None:
    """``∀ x, …`` and ``p → q``: introduce, destructure the hypothesis, or decide."""
    names = _intro_names(ctx)
    if names:
        c.add(f"intro {' '.join(names)}", 0.62)
        c.add(f"intro {names[0]}", 0.45)
    c.add("intro", 0.2)
    c.add("intros", 0.12)
    if ctx.shape.kind == "implies":
        lhs = classify(ctx.shape.lhs)
        h = _fresh(ctx, "h")
        if lhs.kind == "and":
            c.add(f"rintro ⟨{h}1, {h}2⟩", 0.35)
        elif lhs.kind == "exists":
            x = _fresh(ctx, (lhs.binders or ("x",))[0])
            c.add(f"rintro ⟨{x}, {h}⟩", 0.35)
        elif lhs.kind == "or":
            c.add(f"rintro ({h} | {h})", 0.35)
    if _intlike(ctx):
        c.add("omega", 0.2)
    c.add("tauto", 0.1, needs=("Mathlib",))


def _not_rules(ctx: _Context, c: _Collector) -> None:
    c.add(f"intro {_fresh(ctx, 'h')}", 0.55)
    c.add("push_neg", 0.2, needs=("Mathlib",))
    _numeric_closers(ctx, c, scale=0.8)
    c.add("simp", 0.15)


def _iff_rules(ctx: _Context, c: _Collector) -> None:
    c.add("constructor", 0.5)
    h = _fresh(ctx, "h")
    c.add(f"refine ⟨fun {h} => ?_, fun {h} => ?_⟩", 0.2)
    if _intlike(ctx):
        c.add("omega", 0.3)
    c.add("simp", 0.2)
    c.add("tauto", 0.15, needs=("Mathlib",))
    c.add("exact Iff.rfl", 0.05)


def _and_rules(ctx: _Context, c: _Collector) -> None:
    goal, ar = ctx.goal, ctx.arith
    parts = _split_conj(goal.target)
    by_type = {normalize(t): n for n, t in _accessible_hyps(goal)}
    proofs = [by_type.get(normalize(p)) for p in parts]
    if all(proofs):
        c.add(f"exact ⟨{', '.join(proofs)}⟩", 0.95)
    c.add("constructor", 0.5)
    c.add("refine ⟨?_, ?_⟩", 0.3)
    if _intlike(ctx):
        c.add("constructor <;> omega", 0.3)
        c.add("omega", 0.25)
    if ar.numeric:
        c.add("constructor <;> norm_num", 0.25, needs=("Mathlib",))
    if _field(ctx):
        c.add("constructor <;> linarith", 0.18, needs=("Mathlib",))
    c.add("constructor <;> simp", 0.12)
    c.add("exact ⟨by simp, by simp⟩", 0.05)
    if all(_is_prop_var(ctx, p) for p in parts):
        c.add("tauto", 0.3, needs=("Mathlib",))


def _or_rules(ctx: _Context, c: _Collector) -> None:
    shape = ctx.shape
    by_type = {normalize(t): n for n, t in _accessible_hyps(ctx.goal)}
    if h := by_type.get(normalize(shape.lhs)):
        c.add(f"exact Or.inl {h}", 0.92)
    if h := by_type.get(normalize(shape.rhs)):
        c.add(f"exact Or.inr {h}", 0.92)
    c.add("left", 0.3)
    c.add("right", 0.28)
    if _intlike(ctx):
        c.add("omega", 0.3)
    c.add("tauto", 0.15, needs=("Mathlib",))
    _numeric_closers(ctx, c, scale=0.5)


def _true_rules(ctx: _Context, c: _Collector) -> None:
    c.add("trivial", 0.85)
    c.add("exact trivial", 0.5)
    c.add("constructor", 0.35)
    c.add("simp", 0.3)


def _false_rules(ctx: _Context, c: _Collector) -> None:
    goal = ctx.goal
    c.add("contradiction", 0.35)
    c.add("simp_all", 0.3)
    if any(arith_features(t, goal).domain in ("ℕ", "ℤ") for _, t in _accessible_hyps(goal)):
        c.add("omega", 0.35)
    if any(arith_features(t, goal).domain in ("ℚ", "ℝ") for _, t in _accessible_hyps(goal)):
        c.add("linarith", 0.35, needs=("Mathlib",))
        c.add("nlinarith", 0.15, needs=("Mathlib",))
    c.add("norm_num at *", 0.2, needs=("Mathlib",))
    c.add("tauto", 0.15, needs=("Mathlib",))
    c.add("simp at *", 0.12)


def _ne_rules(ctx: _Context, c: _Collector) -> None:
    shape = ctx.shape
    c.add(f"intro {_fresh(ctx, 'h')}", 0.3)
    _numeric_closers(ctx, c)
    if ctx.arith.numeric and "0" in (strip_parens(shape.lhs), strip_parens(shape.rhs)):
        c.add("positivity", 0.3, needs=("Mathlib",))
    c.add("simp", 0.2)


def _dvd_rules(ctx: _Context, c: _Collector) -> None:
    shape, ar = ctx.shape, ctx.arith
    if normalize(shape.lhs) == normalize(shape.rhs):
        c.add("exact dvd_rfl", 0.6, needs=("Mathlib",))
        c.add("exact Nat.dvd_refl _", 0.5)
    if ar.closed:
        c.add("decide", 0.45)
        c.add("norm_num", 0.5, needs=("Mathlib",))
    if re.fullmatch(r"\d+", strip_parens(shape.lhs)) and ar.linear:
        c.add("omega", 0.4)
    c.add("exact ⟨_, rfl⟩", 0.1)
    c.add("simp", 0.15)
    c.add("norm_num", 0.2, needs=("Mathlib",))


def _modeq_rules(ctx: _Context, c: _Collector) -> None:
    modeq = "Int.ModEq" if "ZMOD" in ctx.goal.target else "Nat.ModEq"
    if ctx.arith.closed:
        c.add("decide", 0.4)
        c.add("rfl", 0.3)
    c.add(f"norm_num [{modeq}]", 0.35, needs=("Mathlib",))
    c.add(f"simp [{modeq}]", 0.2)
    c.add(f"unfold {modeq}; omega", 0.2)


def _mem_rules(ctx: _Context, c: _Collector) -> None:
    rhs = strip_parens(ctx.shape.rhs)
    if rhs in ("Set.univ", "univ", "Finset.univ"):
        c.add("trivial", 0.4)
        c.add("simp", 0.5)
    c.add("simp", 0.4)
    if ctx.arith.closed:
        c.add("decide", 0.25)
    c.add("constructor", 0.1)
    c.add("simp [Set.mem_setOf_eq]", 0.2, needs=("Mathlib",))
    c.add("norm_num", 0.15, needs=("Mathlib",))
    c.add("aesop", 0.15)


def _notmem_rules(ctx: _Context, c: _Collector) -> None:
    c.add("simp", 0.35)
    c.add(f"intro {_fresh(ctx, 'h')}", 0.25)
    if ctx.arith.closed:
        c.add("decide", 0.2)
    c.add("norm_num", 0.15, needs=("Mathlib",))


def _subset_rules(ctx: _Context, c: _Collector) -> None:
    x, hx = _fresh(ctx, "x"), _fresh(ctx, "hx")
    c.add(f"intro {x} {hx}", 0.55)
    c.add(f"rintro {x} {hx}", 0.2)
    c.add("simp", 0.15)
    c.add("aesop", 0.15)
    c.add("gcongr", 0.1, needs=("Mathlib",))


def _other_rules(ctx: _Context, c: _Collector) -> None:
    c.add("simp", 0.15)


def _target_rules(ctx: _Context, c: _Collector) -> None:
    """The rules for the goal's target, chosen by its shape (:data:`TARGET_RULES`)."""
    TARGET_RULES.get(ctx.shape.kind, _other_rules)(ctx, c)


def _numeric_closers(ctx: _Context, c: _Collector, scale: float = 1.0) -> None:
    """Arithmetic deciders for a numeric goal, weighted by its number type."""
    ar = ctx.arith
    if not ar.numeric:
        return
    if ar.closed:
        if _int_like(ctx):  # kernel-decidable; real-number equalities are not
            c.add("decide", 0.4 * scale)
            c.add("rfl", 0.2 * scale)
        c.add("norm_num", 0.55 * scale, needs=("Mathlib",))
        c.add("simp", 0.25 * scale)
    if _int_like(ctx):
        known = 1.0 if ar.domain else 0.5  # no number type visible: less sure it is ℕ/ℤ
        c.add("omega", (0.55 if ar.linear else 0.2) * known * scale)
    if _field(ctx):
        c.add("linarith", (0.45 if ar.linear else 0.15) * scale, needs=("Mathlib",))
        if not ar.linear:
            c.add("nlinarith", 0.25 * scale, needs=("Mathlib",))
    c.add("norm_num", 0.3 * scale, needs=("Mathlib",))
    if ar.has_casts:
        c.add("push_cast", 0.15 * scale)
        c.add("norm_cast", 0.12 * scale)


def _eq_rules(ctx: _Context, c: _Collector) -> None:
    shape, ar, goal = ctx.shape, ctx.arith, ctx.goal
    lhs, rhs = strip_parens(shape.lhs), strip_parens(shape.rhs)
    if normalize(lhs) == normalize(rhs):
        c.add("rfl", 0.95)
    c.add("rfl", 0.15)
    if _function_side(ctx, lhs) or _function_side(ctx, rhs):
        x = _fresh(ctx, "x")
        c.add(f"funext {x}", 0.5)
        c.add(f"ext {x}", 0.45)
    if _set_side(ctx, lhs) or _set_side(ctx, rhs):
        x = _fresh(ctx, "x")
        c.add(f"ext {x}", 0.55)
        c.add(f"ext {x} <;> simp", 0.3)
    if not ar.numeric:
        c.add("simp", 0.3)
        c.add("congr 1", 0.1)
        c.add("aesop", 0.1)
        return
    _numeric_closers(ctx, c)
    if ar.variables:
        # `ring` proves identities and ignores hypotheses: likely only when both sides
        # have variables, and less so over ℕ with truncated subtraction.
        identity = bool(arith_features(lhs, goal).variables and arith_features(rhs, goal).variables)
        ring = 0.4 if identity else 0.08
        if _int_like(ctx) and ar.domain != "ℤ" and "-" in goal.target:
            ring /= 2
        c.add("ring", ring, needs=("Mathlib",))
        c.add("ring_nf", 0.15, needs=("Mathlib",))
        if ar.has_division and _field(ctx):
            c.add("field_simp", 0.3, needs=("Mathlib",))
        c.add("simp", 0.15)
        if _int_like(ctx) and ar.domain != "ℤ":
            c.add("simp_arith", 0.08)


def _function_side(ctx: _Context, side: str) -> bool:
    if re.match(r"(fun|λ)\b", side):
        return True
    typ = ctx.types.get(side)
    return typ is not None and "→" in typ and not typ.strip().startswith(("∀", "Prop"))


def _set_side(ctx: _Context, side: str) -> bool:
    if re.search(r"[∪∩ᶜ∅]|\\ |\{\s*\w+\s*\|", side):
        return True
    typ = ctx.types.get(side)
    return typ is not None and bool(re.match(r"(Set|Finset)\b", typ.strip()))


def _order_rules(ctx: _Context, c: _Collector) -> None:
    shape, ar = ctx.shape, ctx.arith
    lhs, rhs = strip_parens(shape.lhs), strip_parens(shape.rhs)
    if shape.kind == "le" and normalize(lhs) == normalize(rhs):
        c.add("exact le_rfl", 0.6, needs=("Mathlib",))
        c.add("exact Nat.le_refl _", 0.4 if ar.domain == "ℕ" else 0.0)
    _numeric_closers(ctx, c)
    if lhs == "0" and ar.numeric:
        c.add("positivity", 0.5, needs=("Mathlib",))
    if _int_like(ctx) or _field(ctx):
        c.add("linarith", 0.3 if _field(ctx) else 0.2, needs=("Mathlib",))
    if ar.numeric and not ar.linear:
        vs = [v for v in ar.variables if is_accessible(v) and "." not in v][:3]
        hints = [f"sq_nonneg ({a} - {b})" for i, a in enumerate(vs) for b in vs[i + 1:]]
        hints += [f"sq_nonneg ({a} + {b})" for i, a in enumerate(vs) for b in vs[i + 1:]]
        if hints:
            c.add(f"nlinarith [{', '.join(hints)}]", 0.3, needs=("Mathlib",))
        c.add("nlinarith", 0.3, needs=("Mathlib",))
        c.add("positivity", 0.1, needs=("Mathlib",))
    if _same_head(lhs, rhs):
        c.add("gcongr", 0.35, needs=("Mathlib",))
    c.add("simp", 0.12)


def _same_head(lhs: str, rhs: str) -> bool:
    a, b = identifiers(lhs), identifiers(rhs)
    return bool(a and b and a[0] == b[0] and lhs.startswith(a[0]) and rhs.startswith(b[0]))


def _exists_rules(ctx: _Context, c: _Collector) -> None:
    shape, goal = ctx.shape, ctx.goal
    bound = shape.binders[0] if shape.binders else "x"
    witnesses: list[str] = []
    wanted = number_type(shape.binder_type) if shape.binder_type else None
    for name, typ in reversed(_accessible_hyps(goal)):
        if (shape.binder_type and normalize(typ) == normalize(shape.binder_type)) or (
                not shape.binder_type and number_type(typ) and not _is_sort(typ) and "→" not in typ):
            witnesses.append(name)
    numeric_body = arith_features(shape.body, goal).numeric
    if wanted or numeric_body:
        witnesses += ["0", "1", "2"]
    c.add("refine ⟨?_, ?_⟩", 0.3)
    body = classify(shape.body)
    if body.kind == "eq" and bound in (strip_parens(body.lhs), strip_parens(body.rhs)):
        c.add("exact ⟨_, rfl⟩", 0.4)
    for i, w in enumerate(witnesses[:5]):
        decay = 0.75 ** i
        c.add(f"use {w}", 0.4 * decay, needs=("Mathlib",))
        c.add(f"exists {w}", 0.32 * decay)
        c.add(f"exact ⟨{w}, by simp⟩", 0.08 * decay)
    if ctx.arith.closed:
        c.add("decide", 0.25)
    c.add("constructor", 0.08)
    c.add("simp", 0.12)
    c.add("aesop", 0.1)


_FUN_PROP_HEADS = ("Continuous", "ContinuousOn", "ContinuousAt", "Differentiable",
                   "DifferentiableAt", "DifferentiableOn", "Measurable", "AEMeasurable")


def _app_rules(ctx: _Context, c: _Collector) -> None:
    shape, goal, ar = ctx.shape, ctx.goal, ctx.arith
    head = shape.head
    for name, typ in _accessible_hyps(goal):
        concl = classify(_conclusion(typ))
        if concl.kind == "app" and concl.head == head and normalize(typ) != normalize(goal.target):
            c.add(f"apply {name}", 0.4)
            c.add(f"exact {name} _", 0.15)
    if ctx.types.get(head) is None:
        if head in _FUN_PROP_HEADS:
            c.add("fun_prop", 0.5, needs=("Mathlib",))
        if ar.closed and re.search(r"\d", goal.target):
            c.add("decide", 0.35)
            c.add("norm_num", 0.4, needs=("Mathlib",))
        c.add("constructor", 0.15)
        c.add("infer_instance", 0.1)
        if "." in head or head[:1].isupper():
            c.add(f"unfold {head}", 0.08)
            c.add(f"simp [{head}]", 0.12)
    c.add("simp", 0.15)


_RELATION_KINDS = ("eq", "ne", "le", "lt", "dvd", "modeq", "and")


class _Scaled:
    """A view of a collector that multiplies every weight by ``factor``."""

    def __init__(self, inner: _Collector, factor: float) -> None:
        self.inner, self.factor = inner, factor

    def add(self, text: str, weight: float, needs: tuple[str, ...] = ()) -> None:
        self.inner.add(text, weight * self.factor, needs)


def _induction_rules(ctx: _Context, c_outer: _Collector) -> None:
    goal, target = ctx.goal, ctx.goal.target
    pinned = {i for _, t in _accessible_hyps(goal) if classify(t).kind in _RELATION_KINDS
              for i in identifiers(t)}
    seen = set()
    for ident in identifiers(target):
        if ident in seen or not is_accessible(ident):
            continue
        seen.add(ident)
        typ = (ctx.types.get(ident) or "").strip()
        # a variable pinned down by equations/bounds is rarely one to induct on
        scale = 0.4 if ident in pinned else 1.0
        c = _Scaled(c_outer, scale)
        if typ in ("ℕ", "Nat"):
            c.add(f"induction {ident} with | zero => simp | succ {ident} ih => simp_all", 0.12)
            c.add(f"induction {ident} <;> simp_all", 0.18)
            c.add(f"induction {ident}", 0.2)
            c.add(f"cases {ident}", 0.12)
            c.add(f"cases {ident} <;> simp_all", 0.1)
            c.add(f"induction {ident} <;> omega", 0.05)
        elif re.match(r"List\b", typ):
            c.add(f"induction {ident} with | nil => simp | cons x xs ih => simp_all", 0.12)
            c.add(f"induction {ident} <;> simp_all", 0.2)
            c.add(f"induction {ident}", 0.2)
            c.add(f"cases {ident}", 0.12)
        elif typ == "Bool":
            c.add(f"cases {ident} <;> simp", 0.3)
            c.add(f"cases {ident} <;> decide", 0.12)
        elif re.match(r"Fin\b", typ):
            c.add(f"fin_cases {ident} <;> simp", 0.15, needs=("Mathlib",))


_PREMISE_NAME = re.compile(r"^«?[^\W\d][\w'!?.₀-₉]*»?$")


def _premise_parts(premise: str) -> tuple[str, str | None] | None:
    """Name and (when given) type of a premise string: ``name``, ``name : type`` or
    ReProver's ``<a>name</a> decl``; None when no usable name is found."""
    text = premise.replace("<a>", "").replace("</a>", "").strip()
    text = re.sub(r"^(theorem|lemma|def|abbrev|instance|axiom)\s+", "", text)
    if not text:
        return None
    name = text.split()[0]
    if not _PREMISE_NAME.match(name):
        return None
    rest = text[len(name):].strip()
    typ = None
    if rest.startswith(":"):
        typ = rest[1:].strip()
    elif rest:
        cut = find_top_level(rest, ":")  # binders, then ': type'

        if cut is not None:
            typ = rest[cut + 1:].strip()
    if typ is not None:
        cut = find_top_level(typ, ":=")
        typ = (typ[:cut] if cut is not None else typ).strip() or None
    return name, typ


def _premise_rules(ctx: _Context, premises: Sequence[str], c: _Collector) -> None:
    for rank, premise in enumerate(premises[:16]):
        parts = _premise_parts(premise)
        if parts is None:
            log.debug("portfolio: ignoring premise without a usable name: %r", premise[:80])
            continue
        name, typ = parts
        decay = 0.82 ** rank
        if typ is None:
            weights = {"exact": 0.3, "apply": 0.25, "rw": 0.2, "simp": 0.2, "exact_": 0.12}
        else:
            concl = classify(_conclusion(typ))
            rewrite = concl.kind in ("eq", "iff")
            matches = concl.kind == ctx.shape.kind and (concl.kind != "app" or concl.head == ctx.shape.head)
            if rewrite:
                weights = {"rw": 0.4, "simp": 0.3, "exact": 0.2, "apply": 0.08, "exact_": 0.1}
            else:
                weights = {"exact": 0.3, "apply": 0.32, "rw": 0.04, "simp": 0.15, "exact_": 0.15}
            if matches:
                weights["exact"] += 0.2
                weights["apply"] += 0.15
        if ctx.goal.conv:
            c.add(f"rw [{name}]", weights["rw"] * decay)
            continue
        c.add(f"exact {name}", weights["exact"] * decay)
        c.add(f"apply {name}", weights["apply"] * decay)
        c.add(f"rw [{name}]", weights["rw"] * decay)
        c.add(f"simp [{name}]", weights["simp"] * decay)
        c.add(f"exact {name} _", weights["exact_"] * decay)


def _generic_rules(ctx: _Context, c: _Collector) -> None:
    """Closers worth a try on any goal, with small priors."""
    c.add("grind", 0.2)
    c.add("simp", 0.1)
    c.add("aesop", 0.08)
    c.add("simp_all", 0.06)
    c.add("norm_num", 0.05, needs=("Mathlib",))
    c.add("assumption", 0.05)
    c.add("exact?", 0.04)
    c.add("linarith", 0.03, needs=("Mathlib",))
    c.add("omega", 0.03)
    c.add("decide", 0.02)
    c.add("trivial", 0.02)
    c.add("tauto", 0.02, needs=("Mathlib",))
    c.add("rfl", 0.02)
    c.add("constructor", 0.01)
    if ctx.more_goals:
        c.add("all_goals simp", 0.05)
        if _int_like(ctx) and ctx.arith.numeric:
            c.add("all_goals omega", 0.05)
        c.add("all_goals norm_num", 0.04, needs=("Mathlib",))


def _conv_rules(ctx: _Context, c: _Collector) -> None:
    c.add("simp", 0.35)
    c.add("ring_nf", 0.25, needs=("Mathlib",))
    c.add("norm_num", 0.2, needs=("Mathlib",))
    c.add("rfl", 0.1)
    for name, typ in _accessible_hyps(ctx.goal):
        hs = classify(typ)
        if hs.kind == "eq" and _contains(ctx.goal.target, hs.lhs):
            c.add(f"rw [{name}]", 0.4)


# --------------------------------------------------------------------------- entry points


#: Goal shape (``goal_shape.classify(...).kind``) → the rules proposing tactics for that target.
TARGET_RULES: dict[str, Callable[[_Context, _Collector], None]] = {
    "forall": _binder_rules,
    "implies": _binder_rules,
    "not": _not_rules,
    "iff": _iff_rules,
    "and": _and_rules,
    "or": _or_rules,
    "exists": _exists_rules,
    "true": _true_rules,
    "false": _false_rules,
    "eq": _eq_rules,
    "heq": _eq_rules,
    "ne": _ne_rules,
    "le": _order_rules,
    "lt": _order_rules,
    "dvd": _dvd_rules,
    "modeq": _modeq_rules,
    "mem": _mem_rules,
    "notmem": _notmem_rules,
    "subset": _subset_rules,
    "app": _app_rules,
}


def suggest(
    request: GenerationRequest,
    *,
    lean_version: str | None = None,
    source: str = "portfolio",
) -> list[Candidate]:
    """Rank tactics for the first goal of ``request.goal``; at most ``request.n``.

    Pure and deterministic; empty for an empty goal state (``no goals``).
    """
    if request.n <= 0:
        return []
    goals = parse_goals(request.goal)
    if not goals:
        return []
    version = parse_lean_version(lean_version)
    providers = available_providers(request.imports or imports_of(request.file_context))

    def allowed(text: str, needs: tuple[str, ...]) -> bool:
        if any(p not in providers for p in needs):
            return False
        return all(_tactic_available(TACTICS[k], providers, version) for k in tactic_keywords(text))

    goal = goals[0]
    shape = classify(goal.target)
    ctx = _Context(
        goal=goal,
        shape=shape,
        arith=arith_features(goal.target, goal),
        mathlib="Mathlib" in providers,
        more_goals=len(goals) - 1,
        types={n: h.type for h in goal.hypotheses for n in h.names},
    )
    c = _Collector(allowed)
    rules = [_conv_rules, _premise_rules_for(request.premises)] if goal.conv else [
        _hypothesis_rules, _target_rules, _induction_rules,
        _premise_rules_for(request.premises), _generic_rules,
    ]
    for rule in rules:
        try:
            rule(ctx, c)
        except Exception:  # a rule bug must not cost the other suggestions
            log.exception("portfolio rule %s failed on goal %r", getattr(rule, "__name__", rule),
                          goal.target[:200])
    return [
        Candidate(text=text, score=math.log(weight), source=source)
        for text, weight in c.ranked()[: request.n]
    ]


def _premise_rules_for(premises: Sequence[str]) -> Callable[[_Context, _Collector], None]:
    def rule(ctx: _Context, c: _Collector) -> None:
        _premise_rules(ctx, premises, c)
    rule.__name__ = "_premise_rules"
    return rule


#: Goal states (plus premises) longer than this many characters are ranked in a worker thread.
INLINE_LIMIT = 4000


class PortfolioGenerator:
    """The model-free :class:`~local_models.generation.TacticGenerator` (always available).

    ``lean_version`` (e.g. the project's ``lean-toolchain`` text) enables version-gated
    tactics such as ``grind``; without it a Lean of :data:`ASSUMED_LEAN_VERSION` is assumed.
    """

    id: str = "portfolio"
    role: Role = "tactic"

    def __init__(self, lean_version: str | None = None) -> None:
        self.lean_version = lean_version

    def suggest(self, request: GenerationRequest) -> list[Candidate]:
        """The ranked candidates, computed synchronously (well under a millisecond)."""
        return suggest(request, lean_version=self.lean_version, source=self.id)

    async def generate(
        self, request: GenerationRequest, cancel: asyncio.Event | None = None
    ) -> list[Candidate]:
        """Same as :meth:`suggest`; returns ``[]`` when ``cancel`` is already set."""
        if cancel is not None and cancel.is_set():
            return []
        if len(request.goal) + sum(map(len, request.premises)) > INLINE_LIMIT:
            return await asyncio.to_thread(self.suggest, request)  # big state: keep the loop free
        return self.suggest(request)

    def close(self) -> None:
        """Nothing to release."""


def _check_table(table: Mapping[str, TacticInfo]) -> None:
    unknown = {info.provider for info in table.values()} - set(PROVIDERS) - {"core"}
    if unknown:
        raise ValueError(f"TACTICS names unknown providers: {sorted(unknown)}")


_check_table(TACTICS)
