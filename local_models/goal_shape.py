"""Parse pretty-printed Lean goal states and classify what their targets look like.

Model-free and fast: a goal state as Lean's ``$/lean/plainGoal`` renders it (hypotheses
``a b : T`` one per line, an optional ``case tag`` first line, ``⊢ target`` or ``| target``
for conv goals, goals separated by blank lines) becomes a :class:`Goal`; a term becomes a
:class:`Shape` (its top-level connective or relation) and :class:`Arith` (what arithmetic it
does and over which number type). The classification is textual and deliberately shallow:
it only has to rank tactics, Lean decides whether they work.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import msgspec

__all__ = [
    "Arith",
    "Goal",
    "Hypothesis",
    "Shape",
    "arith_features",
    "binder_names",
    "classify",
    "find_top_level",
    "goal_from_statement",
    "identifiers",
    "is_accessible",
    "normalize",
    "number_type",
    "parse_goal",
    "parse_goals",
    "strip_parens",
]


class Hypothesis(msgspec.Struct, frozen=True):
    """One hypothesis line: ``names : type`` (``value`` for ``x : T := v`` let-bindings)."""

    names: tuple[str, ...]
    type: str
    value: str | None = None


class Goal(msgspec.Struct, frozen=True):
    """One goal: its hypotheses, its target, its ``case`` tag and whether it is a conv goal."""

    target: str
    hypotheses: tuple[Hypothesis, ...] = ()
    case: str | None = None
    conv: bool = False

    def type_of(self, name: str) -> str | None:
        """The type of hypothesis ``name`` (the last one wins, as in Lean's context)."""
        found = None
        for hyp in self.hypotheses:
            if name in hyp.names:
                found = hyp.type
        return found

    def names(self) -> list[str]:
        """All hypothesis names in context order."""
        return [name for hyp in self.hypotheses for name in hyp.names]


# --------------------------------------------------------------------------- parsing

_NAME = r"(?:«[^»]*»|[^\W\d][\w'!?✝.]*|_)"
_HYP_HEAD = re.compile(rf"^((?:{_NAME}\s+)*{_NAME})\s+:\s")
_CASE = re.compile(r"^case\s+(\S.*)$")


def parse_goals(text: str) -> list[Goal]:
    """Parse a goal state holding any number of goals separated by blank lines.

    Markdown fences and the ``---`` separators of ``rendered`` are tolerated; ``no goals``
    and empty text give ``[]``.
    """
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if not ln.startswith("```")]
    blocks: list[list[str]] = [[]]
    for line in lines:
        if not line.strip() or line.strip() == "---":
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line)
    goals = []
    for block in blocks:
        if not block or (len(block) == 1 and block[0].strip() == "no goals"):
            continue
        goals.append(_parse_block(block))
    return goals


def parse_goal(text: str) -> Goal:
    """Parse the first goal of a goal state; raises ``ValueError`` when there is none."""
    goals = parse_goals(text)
    if not goals:
        raise ValueError("no goal in the goal state")
    return goals[0]


def _parse_block(block: list[str]) -> Goal:
    case = None
    if m := _CASE.match(block[0]):
        case = m.group(1).strip()
        block = block[1:]
    entries: list[str] = []
    target: list[str] | None = None
    conv = False
    for line in block:
        if target is not None:
            target.append(line.strip())
        elif line.startswith("⊢"):
            target = [line[1:].strip()]
        elif line.startswith("| "):
            target, conv = [line[2:].strip()], True
        elif entries and (line[:1].isspace() or not _HYP_HEAD.match(line)):
            entries[-1] += " " + line.strip()  # continuation of a wrapped hypothesis
        else:
            entries.append(line.strip())
    hyps = tuple(h for h in (_parse_hypothesis(e) for e in entries) if h is not None)
    return Goal(
        target=" ".join(target) if target else "",
        hypotheses=hyps,
        case=case,
        conv=conv,
    )


def _parse_hypothesis(entry: str) -> Hypothesis | None:
    m = _HYP_HEAD.match(entry)
    if not m:
        return None
    names = tuple(m.group(1).split())
    rest = entry[m.end():].strip()
    value = None
    cut = _find_depth0(rest, ":=")
    if cut is not None:
        rest, value = rest[:cut].strip(), rest[cut + 2:].strip()
    return Hypothesis(names=names, type=rest, value=value)


def goal_from_statement(statement: str) -> Goal:
    """The initial goal of ``theorem name binders : type := …`` (binders become hypotheses).

    Anonymous instance binders ``[Foo α]`` become ``inst✝ : Foo α`` as Lean shows them.
    Raises ``ValueError`` when the text has no ``name … : type`` signature.
    """
    text = re.sub(r"/-.*?-/", " ", statement, flags=re.S)
    text = re.sub(r"--[^\n]*", " ", text)
    text = " ".join(text.split())
    m = re.match(r"^(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+|noncomputable\s+)*"
                 r"(?:theorem|lemma|example|def|instance)\b\s*", text)
    if not m:
        raise ValueError("not a declaration: expected theorem/lemma/example")
    rest = text[m.end():]
    if not text[m.start():m.end()].strip().endswith("example"):
        name = re.match(rf"{_NAME}", rest)
        if name:
            rest = rest[name.end():]
    hyps: list[Hypothesis] = []
    i = 0
    opening = {"(": ")", "{": "}", "[": "]", "⦃": "⦄"}
    while True:
        while i < len(rest) and rest[i] == " ":
            i += 1
        if i >= len(rest) or rest[i] not in opening:
            break
        close = _matching(rest, i)
        if close is None:
            raise ValueError("unbalanced binder in the statement")
        inner = rest[i + 1:close].strip()
        colon = _find_depth0(inner, ":", skip_assign=True)
        if colon is None:
            if rest[i] == "[":
                hyps.append(Hypothesis(names=("inst✝",), type=inner))
            else:
                hyps.append(Hypothesis(names=tuple(inner.split()), type="?"))
        else:
            names = tuple(inner[:colon].split())
            hyps.append(Hypothesis(names=names, type=inner[colon + 1:].strip()))
        i = close + 1
    rest = rest[i:].lstrip()
    if not rest.startswith(":") or rest.startswith(":="):
        raise ValueError("statement has no ': type' after its binders")
    body = rest[1:]
    cut = _find_depth0(body, ":=")
    target = (body[:cut] if cut is not None else body).strip()
    return Goal(target=target, hypotheses=tuple(hyps))


# --------------------------------------------------------------------------- term scanning

_OPEN = "([{⟨⦃"
_CLOSE = ")]}⟩⦄"
_BINDER_CHARS = "∀∃λΠΣ"
_BINDER_WORDS = ("fun", "if", "let", "have", "show", "match")
# multi-character ASCII/Unicode operators that are NOT relations, scanned first so their
# characters are not mistaken for '=', '<', '>' or '-'.
_SKIP_OPS = (
    "→+*", "→*", "→+", "→ₗ", "→ₐ", "→o", "→L", "↪",  # bundled-morphism arrows, not implications
    ":=", "=>", "<;>", "<|>", "<|", "|>.", "|>", "<$>", "<*>", ">>=", "<-", "←", "::", "++",
)
_OP_CANON = {
    "<->": "↔", "->": "→", "\\/": "∨", "/\\": "∧", "<=": "≤", ">=": "≥", "!=": "≠",
    "↔": "↔", "→": "→", "∨": "∨", "∧": "∧", "=": "=", "≠": "≠", "==": "==",
    "≤": "≤", "≥": "≥", "<": "<", ">": ">", "∈": "∈", "∉": "∉", "⊆": "⊆", "⊂": "⊂",
    "⊇": "⊇", "⊃": "⊃", "∣": "∣", "≡": "≡",
}
_OPS_BY_LENGTH = sorted(list(_OP_CANON) + list(_SKIP_OPS), key=len, reverse=True)
_RELATIONS = {"=", "≠", "==", "≤", "≥", "<", ">", "∈", "∉", "⊆", "⊂", "⊇", "⊃", "∣", "≡"}


def _matching(s: str, i: int) -> int | None:
    """Index of the bracket closing the one at ``s[i]``."""
    depth = 0
    for j in range(i, len(s)):
        c = s[j]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return None


def _find_depth0(s: str, needle: str, *, skip_assign: bool = False) -> int | None:
    """First index of ``needle`` outside brackets (``skip_assign``: ignore ``:=`` for ``:``)."""
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0 and s.startswith(needle, i):
            if skip_assign and needle == ":" and s.startswith(":=", i):
                i += 2
                continue
            return i
        i += 1
    return None


def find_top_level(s: str, needle: str) -> int | None:
    """First index of ``needle`` in ``s`` outside brackets (``:`` never matches ``:=``)."""
    return _find_depth0(s, needle, skip_assign=needle == ":")


_SCAN_TOKEN = re.compile(
    r"(?P<open>[" + re.escape(_OPEN) + r"])|(?P<close>[" + re.escape(_CLOSE) + r"])"
    r"|(?P<binder>[" + _BINDER_CHARS + r"]|(?<![\w.'])(?:" + "|".join(_BINDER_WORDS) + r")(?![\w'!?]))"
    r"|(?P<word>[\w'.✝!?«»]+)"
    r"|(?P<op>" + "|".join(re.escape(op) for op in _OPS_BY_LENGTH) + r")"
)


@lru_cache(maxsize=8192)
def _scan_ops(s: str) -> tuple[tuple[int, str, str], ...]:
    """Depth-0 operators of ``s`` as ``(index, raw, canonical)``, up to the first binder.

    A binder (``∀ ∃ λ fun`` …) extends as far right as possible, so nothing after it is
    at the top level of ``s``.
    """
    out: list[tuple[int, str, str]] = []
    depth = 0
    for m in _SCAN_TOKEN.finditer(s):
        kind = m.lastgroup
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        elif depth == 0:
            if kind == "binder":
                break
            if kind == "op":
                raw = m.group(0)
                canon = _OP_CANON.get(raw)
                if canon is not None:
                    out.append((m.start(), raw, canon))
    return tuple(out)


def strip_parens(term: str) -> str:
    """``term`` without whitespace at the ends and without parentheses around all of it."""
    t = term.strip()
    while t.startswith("(") and _matching(t, 0) == len(t) - 1:
        t = t[1:-1].strip()
    return t


@lru_cache(maxsize=8192)
def normalize(term: str) -> str:
    """Whitespace-collapsed, outer-parenthesis-free text, for comparing terms."""
    t = strip_parens(" ".join(term.split()))
    t = re.sub(r"\s*([(),⟨⟩\[\]])\s*", r"\1", t)
    return t


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Shape:
    """The top-level form of a term.

    ``kind``: ``forall`` ``exists`` ``fun`` ``implies`` ``iff`` ``and`` ``or`` ``not`` the
    relations ``eq`` ``ne`` ``heq`` ``le`` ``lt`` (``≥``/``>`` are flipped into ``le``/``lt``)
    ``mem`` ``notmem`` ``subset`` ``dvd`` ``modeq``, then ``true`` ``false`` ``app`` (an
    application or constant) and ``other``. ``lhs``/``rhs`` hold the operands of binary forms,
    ``binders``/``binder_type``/``body`` those of ``∀``/``∃`` (``body`` also holds the
    argument of ``¬``).
    """

    kind: str
    lhs: str = ""
    rhs: str = ""
    binders: tuple[str, ...] = ()
    binder_type: str | None = None
    body: str = ""
    head: str = ""
    bounded: bool = False


_REL_KIND = {
    "=": "eq", "≠": "ne", "==": "heq", "≤": "le", "<": "lt", "≥": "le", ">": "lt",
    "∈": "mem", "∉": "notmem", "⊆": "subset", "⊂": "subset", "⊇": "subset", "⊃": "subset",
    "∣": "dvd", "≡": "modeq",
}
_FLIPPED = {"≥", ">", "⊇", "⊃"}


@lru_cache(maxsize=8192)
def classify(term: str) -> Shape:
    """Classify the top-level connective, quantifier or relation of ``term``."""
    t = strip_parens(" ".join(term.split()))
    if not t:
        return Shape("other")
    if t[0] in "∀Π" or t.startswith("∃"):
        return _binder_shape(t)
    if re.match(r"(fun|λ)\b", t) or t.startswith("λ"):
        return Shape("fun", body=t)
    ops = _scan_ops(t)
    for prec_op in ("↔", "→", "∨", "∧"):
        for idx, raw, canon in ops:
            if canon == prec_op:
                kind = {"↔": "iff", "→": "implies", "∨": "or", "∧": "and"}[canon]
                return Shape(kind, lhs=t[:idx].strip(), rhs=t[idx + len(raw):].strip())
    if t.startswith("¬"):
        return Shape("not", body=t[1:].strip())
    for idx, raw, canon in ops:
        if canon in _RELATIONS:
            lhs, rhs = t[:idx].strip(), t[idx + len(raw):].strip()
            if canon == "≡":
                rhs = re.sub(r"\s*\[(Z?MOD|PMOD).*\]\s*$", "", rhs)
            if canon in _FLIPPED:
                lhs, rhs = rhs, lhs
            return Shape(_REL_KIND[canon], lhs=lhs, rhs=rhs)
    if t == "True":
        return Shape("true")
    if t == "False":
        return Shape("false")
    head = re.match(rf"@?({_NAME})", t)
    if head:
        return Shape("app", head=head.group(1), body=t)
    return Shape("other", body=t)


def binder_names(binders: str) -> tuple[tuple[str, ...], str | None]:
    """Names and the common type of a binder list such as ``x y : ℕ`` or ``(a : α) (b : β)``."""
    text = binders.strip()
    names: list[str] = []
    typ: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if c in "({[⦃":
            close = _matching(text, i)
            if close is None:
                break
            inner = text[i + 1:close]
            colon = _find_depth0(inner, ":")
            if colon is None:
                names.extend(inner.split())
            else:
                names.extend(inner[:colon].split())
                typ = inner[colon + 1:].strip()
            i = close + 1
        elif c == ":":
            typ = text[i + 1:].strip()
            break
        elif c in "<>≤≥∈∉∣" or text.startswith("≠", i):
            break  # bounded binder: ∃ k > 0, …  /  ∀ x ∈ s, …
        elif c.isspace():
            i += 1
        else:
            m = re.match(_NAME, text[i:])
            if not m or not m.group(0):
                break
            names.append(m.group(0))
            i += len(m.group(0))
    return tuple(n for n in names if n), typ


def _binder_shape(t: str) -> Shape:
    kind = "forall" if t[0] in "∀Π" else "exists"
    start = 2 if t.startswith("∃!") else 1
    comma = _find_depth0(t, ",")
    if comma is None:
        return Shape(kind, body=t[start:].strip())
    binder_text = t[start:comma]
    names, typ = binder_names(binder_text)
    bounded = typ is None and bool(re.search(r"[∈∉<>≤≥≠⊆⊂]", binder_text))
    return Shape(kind, binders=names, binder_type=typ, body=t[comma + 1:].strip(), bounded=bounded)


# --------------------------------------------------------------------------- arithmetic

_NUMBER_TYPES = {
    "ℕ": "ℕ", "Nat": "ℕ", "ℤ": "ℤ", "Int": "ℤ", "ℚ": "ℚ", "Rat": "ℚ",
    "ℝ": "ℝ", "Real": "ℝ", "ℂ": "ℂ", "Complex": "ℂ",
}
_RANK = {"ℕ": 0, "ℤ": 1, "ℚ": 2, "ℝ": 3, "ℂ": 4}
_ASCRIPTION = re.compile(r":\s*(ℕ|ℤ|ℚ|ℝ|ℂ|Nat|Int|Rat|Real|Complex)\s*\)")
_TRANSCENDENTAL = re.compile(
    r"Real\.(sqrt|log|exp|sin|cos|tan|pi|logb|rpow|arctan)|√|π"
    r"|(?<![\w.])(log|exp|sin|cos|tan|arctan|sqrt|logb)(?![\w.'])"  # with `open Real`
)
_IDENT = re.compile(r"«[^»]*»|[^\W\d][\w'!?✝.]*")
_KEYWORDS = {"fun", "λ", "if", "then", "else", "let", "have", "show", "by", "in", "at", "with", "match"}


def number_type(type_text: str) -> str | None:
    """ℕ/ℤ/ℚ/ℝ/ℂ for a number type, or the codomain of a function type into one."""
    t = strip_parens(type_text)
    ops = _scan_ops(t)
    arrows = [idx + len(raw) for idx, raw, canon in ops if canon == "→"]
    if arrows:
        t = strip_parens(t[arrows[-1]:])
    return _NUMBER_TYPES.get(t)


def identifiers(term: str) -> list[str]:
    """Identifier tokens of ``term`` in order (keywords and binder symbols excluded)."""
    return [m.group(0) for m in _IDENT.finditer(term) if m.group(0) not in _KEYWORDS]


def is_accessible(name: str) -> bool:
    """Whether tactic text may mention ``name`` (inaccessible names carry ``✝``)."""
    return "✝" not in name and name != "_"


@dataclass(frozen=True)
class Arith:
    """What arithmetic a term does.

    ``domain`` is the widest number type involved (None when no number type is visible);
    ``linear`` means no product/quotient/power of two non-literal factors; ``closed`` means no
    variable of the goal's context occurs; ``numeric`` means the term mentions numbers or
    variables of a number type at all.
    """

    domain: str | None
    numeric: bool
    linear: bool
    closed: bool
    has_division: bool
    has_power: bool
    has_casts: bool
    has_transcendental: bool
    variables: tuple[str, ...]


_FACTOR_OPS = re.compile(r"([*/%^])")


def arith_features(term: str, goal: Goal | None = None) -> Arith:
    """Arithmetic features of ``term`` using the hypothesis types of ``goal`` for variables."""
    types = {n: h.type for h in goal.hypotheses for n in h.names} if goal else {}
    names = types.keys()
    ids = identifiers(term)
    variables = tuple(dict.fromkeys(i for i in ids if i.split(".")[0] in names))
    domains: list[str] = []
    for m in _ASCRIPTION.finditer(term):
        domains.append(_NUMBER_TYPES[m.group(1)])
    for ident in ids:
        if ident in _NUMBER_TYPES:
            domains.append(_NUMBER_TYPES[ident])
    for v in variables:
        typ = types.get(v.split(".")[0])
        if typ and (d := number_type(typ)):
            domains.append(d)
    transcendental = bool(_TRANSCENDENTAL.search(term))
    if transcendental:
        domains.append("ℝ")
    if re.search(r"\d\.\d", term):
        domains.append("ℝ")
    domain = max(domains, key=_RANK.__getitem__) if domains else None
    has_digits = bool(re.search(r"(?<![\w.])\d", term))
    numeric = domain is not None or has_digits
    return Arith(
        domain=domain,
        numeric=numeric,
        linear=_is_linear(term),
        closed=not variables and not any(_looks_like_variable(i) for i in ids)
        and not re.search(r"[∀∃λ]|\bfun\b|\{\s*[^{}|]*\|", term),
        has_division="/" in term,
        has_power="^" in term,
        has_casts="↑" in term or bool(_ASCRIPTION.search(term)),
        has_transcendental=transcendental,
        variables=variables,
    )


_SHORT_NAME = re.compile(r"[^\W\d_][₀-₉'ᵢ\d]*|[^\W\d_]{2}")


def _looks_like_variable(ident: str) -> bool:
    """A short undotted name (``x``, ``h₀``, ``ε``, ``xs``) not in the context is most likely a
    section ``variable`` or an auto-bound implicit, not a constant."""
    return "." not in ident and ident not in _NUMBER_TYPES and bool(_SHORT_NAME.fullmatch(ident))


def _operand(text: str, before: bool) -> str:
    """The operand next to an operator: a literal, identifier or bracketed group (textually)."""
    s = text.rstrip() if before else text.lstrip()
    if not s:
        return ""
    if before:
        if s[-1] in _CLOSE:
            depth = 0
            for j in range(len(s) - 1, -1, -1):
                if s[j] in _CLOSE:
                    depth += 1
                elif s[j] in _OPEN:
                    depth -= 1
                    if depth == 0:
                        return s[j:]
            return s
        m = re.search(r"[\w'.✝↑]+$", s)
        return m.group(0) if m else ""
    if s[0] in _OPEN:
        close = _matching(s, 0)
        return s[: close + 1] if close is not None else s
    m = re.match(r"[-↑]?[\w'.✝]+", s)
    return m.group(0) if m else ""


def _is_literal(operand: str) -> bool:
    """A numeral or a bracketed expression over numerals only (``(2 : ℝ)``, ``(1 / 2 - 1)``)."""
    o = strip_parens(operand)
    if not o or not re.search(r"\d", o):
        return False
    return all(i in _NUMBER_TYPES for i in identifiers(o))


def _is_linear(term: str) -> bool:
    for m in _FACTOR_OPS.finditer(term):
        op = m.group(1)
        left = _operand(term[: m.start()], before=True)
        right = _operand(term[m.end():], before=False)
        if op == "^":
            if not (_is_literal(left) and _is_literal(right)):
                return False
        elif op == "*":
            if not (_is_literal(left) or _is_literal(right)):
                return False
        elif not _is_literal(right):  # x / y, x % y
            return False
    return True
