"""Lean-verified checking of candidate proofs, in shadow documents, one or many at a time.

A :class:`CheckTarget` says *where* a proof goes: a user file's text, the enclosing
declaration and the hole (a ``sorry`` or a cursor). :class:`Checker` builds a shadow text —
the user's text up to the declaration, then one copy of the declaration per candidate under a
fresh name (``…_lc_cand_<i>``), the candidate in the hole, each copy wrapped in
``set_option maxHeartbeats N in`` and followed by ``#print axioms`` — sends it to Lean, waits
(``waitForDiagnostics``, wall-time limit) and attributes diagnostics to candidates by range.
The declaration's *other* ``sorry`` s become an axiom of our own in every copy
(``_lc_other_sorry``), so whatever ``sorry`` a copy still uses is its candidate's.

Verdicts (:class:`CheckResult`):

* ``accepted``: the copy has no error, no ``sorry`` warning and no ``sorryAx`` among its
  axioms (Lean printed them), its statement text is unchanged, and Lean's own view of the
  checked text shows nothing the candidate added (no declaration, scope or command keyword:
  the second line of defence, independent of the safety filter);
* ``incomplete``: the only errors are "unsolved goals"; ``goals`` are the goals left after the
  candidate (``plainGoal`` at its end): a valid proof *step*;
* ``error``: Lean's first error message (or a sorry/axiom/statement problem);
* ``timeout``: the wall-time limit or Lean's heartbeat limit was hit;
* ``rejected-unsafe``: refused by :mod:`copilot.safety`; Lean never saw it.

The user's document is never touched.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from copilot.lean_lexer import tokenize
from copilot.proof_text import (
    Declaration,
    Hole,
    HoleKind,
    SorryLocation,
    declarations,
    fill_hole,
    find_declaration,
    header_end,
    hole_at_cursor,
    hole_for_sorry,
    is_module_file,
    locate_sorries,
    lsp_to_offset,
    normalize_statement,
    offset_to_lsp,
)
from copilot.safety import COMMAND_KEYWORDS, DEFAULT_POLICY, SafetyPolicy, check_candidate, is_screened
from copilot.shadow import ShadowDocument, ShadowPool
from lsp_proxy.errors import (
    CONTENT_MODIFIED,
    WORKER_CRASHED,
    WORKER_EXITED,
    LeanError,
    LeanExited,
    LeanRequestError,
    LeanTimeout,
)
from lsp_proxy.lean_client import Diagnostic, LeanClient

logger = logging.getLogger(__name__)

Status = Literal["accepted", "error", "incomplete", "timeout", "rejected-unsafe"]
CANDIDATE_NAME = "_lc_cand_{}"
# "(deterministic) timeout at `whnf`, maximum number of heartbeats (200000) has been reached",
# "(kernel) deterministic timeout", "maximum recursion depth has been reached",
# "(kernel) deep recursion detected" (src/Lean/CoreM.lean, src/Lean/Exception.lean, kernel).
_TIMEOUT_MESSAGE = re.compile(
    r"deterministic\)? timeout|maximum recursion depth|maximum number of heartbeats|deep recursion detected", re.IGNORECASE
)
_AXIOMS_MESSAGE = re.compile(r"depends on axioms: \[(.*?)\]", re.DOTALL)
_AXIOMS_REPORT = re.compile(r"depends on axioms: \[|does not depend on any axioms")
_NATIVE_AXIOMS = ("Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler")
STANDARD_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """What Lean said about one candidate (see the module docstring for the statuses)."""

    status: Status
    candidate: str
    message: str = ""
    goals: list[str] = msgspec.field(default_factory=list)
    diagnostics: list[Diagnostic] = msgspec.field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


def _refuse_after_exit(text: str, decl: Declaration) -> None:
    """Lean stops elaborating a file at ``#exit``: copies after it would get no diagnostics at
    all, which must not read as acceptance."""
    if "#exit" not in text[: decl.start]:
        return
    tokens = tokenize(text[: decl.start], keep_comments=False)
    for first, second in itertools.pairwise(tokens):
        if first.text == "#" and second.text == "exit" and second.start == first.end:
            raise ValueError("the declaration comes after `#exit`, so Lean does not elaborate it")


@dataclass(frozen=True)
class CheckTarget:
    """Where candidates go: ``uri``/``text`` of the user's file (a snapshot), the enclosing
    declaration, the hole, and whether the declaration has other ``sorry`` s besides it."""

    uri: str
    text: str
    decl: Declaration
    hole: Hole
    other_sorries: bool = False
    term_mode: bool = False

    @classmethod
    def for_sorry(cls, uri: str, text: str, location: SorryLocation, kind: HoleKind | None = None) -> CheckTarget:
        """The target for one ``sorry`` found by :func:`copilot.proof_text.locate_sorries`."""
        decl = find_declaration(text, location.start)
        if decl is None:
            raise ValueError(f"no declaration encloses the sorry at line {location.line + 1}")
        if decl.in_mutual:
            raise ValueError(f"the sorry at line {location.line + 1} is in a `mutual` block, which cannot be checked")
        _refuse_after_exit(text, decl)
        others = any(
            s.start != location.start and decl.start <= s.start < decl.end for s in locate_sorries(text)
        )
        return cls(uri, text, decl, hole_for_sorry(text, location, kind), others)

    @classmethod
    def at_cursor(cls, uri: str, text: str, line: int, character: int) -> CheckTarget:
        """A tactic hole at a cursor position (LSP line/UTF-16 character), also on the blank
        lines right after a declaration (where the next tactic is typed)."""
        offset = lsp_to_offset(text, line, character)
        decl = find_declaration(text, offset)
        if decl is None:
            before = [d for d in declarations(text) if d.end <= offset and not text[d.end : offset].strip()]
            decl = before[-1] if before else None
        if decl is None:
            raise ValueError(f"no declaration at line {line + 1}")
        if decl.in_mutual:
            raise ValueError(f"line {line + 1} is in a `mutual` block, which cannot be checked")
        _refuse_after_exit(text, decl)
        others = any(decl.start <= s.start < decl.end for s in locate_sorries(text))
        return cls(uri, text, decl, hole_at_cursor(text, offset), others)

    def with_kind(self, kind: HoleKind) -> CheckTarget:
        """The same hole, re-classified (e.g. once Lean said whether it is a tactic position)."""
        hole = Hole(self.hole.start, self.hole.end, kind, self.hole.layout, self.hole.needs_parens, self.hole.indent)
        return CheckTarget(self.uri, self.text, self.decl, hole, self.other_sorries, self.term_mode)

    def as_terms(self) -> CheckTarget:
        """The same target, with candidates that are *terms* put into a term hole as they are
        (``:= t``) instead of as tactics (``:= by t``)."""
        return dataclasses.replace(self, term_mode=True)

    @property
    def end(self) -> int:
        """Where the checked text ends: the declaration's end, or the cursor past it."""
        return max(self.decl.end, self.hole.end)

    def apply(self, proof: str) -> str:
        """The user's text with the hole filled by ``proof`` (the edit to offer)."""
        return fill_hole(self.text, self.hole, proof, as_term=self.term_mode).text


@dataclass(frozen=True)
class CheckerConfig:
    """``max_heartbeats`` wraps every copy; ``wall_timeout`` + ``per_candidate_timeout`` × n
    bounds one elaboration (``open_timeout`` instead when a shadow was just opened and Lean
    must first load its imports); ``verify_axioms`` adds ``#print axioms`` per copy;
    ``confirm_accepted`` re-checks alone any candidate accepted behind other copies in a
    batch (an earlier copy, added to the environment even when it failed, could otherwise be
    found by ``exact?`` or type-class search and lend its ``sorry``); ``allowed_axioms`` are
    the axioms an accepted proof may depend on (besides ``sorryAx`` when the declaration keeps
    other sorries, and the native ones when the safety policy allows them);
    ``require_axiom_report`` accepts a copy only if Lean's ``#print axioms`` answer for it was
    seen (positive evidence that Lean elaborated it; on by default — turn it off only for a
    server known not to answer ``#print axioms``, e.g. files of the module system, where the
    checker omits it anyway); ``verify_commands`` asks Lean, for every copy about to be
    accepted, for its view of the checked text (``documentSymbol`` and ``semanticTokens``): the
    copy must be exactly one declaration with no command keyword inside the candidate (the
    second line of defence, independent of the safety filter's lexer)."""

    max_heartbeats: int = 200_000
    wall_timeout: float = 30.0
    per_candidate_timeout: float = 5.0
    goal_timeout: float = 10.0
    open_timeout: float = 300.0
    verify_axioms: bool = True
    batch_size: int = 16
    confirm_accepted: bool = True
    allowed_axioms: frozenset[str] = STANDARD_AXIOMS
    policy: SafetyPolicy = DEFAULT_POLICY
    require_axiom_report: bool = True
    verify_commands: bool = True


@dataclass
class _Slot:
    candidate: str
    start: int = 0
    end: int = 0
    cand_end: int = 0
    print_start: int = -1
    print_end: int = -1
    cand_start: int = 0
    name: str | None = None
    statement_ok: bool = True
    diagnostics: list[Diagnostic] = field(default_factory=list)
    axiom_infos: list[str] = field(default_factory=list)
    axiom_errors: list[str] = field(default_factory=list)


def _new_name(decl: Declaration, index: int) -> str | None:
    base = CANDIDATE_NAME.format(index)
    if decl.keyword == "example":
        return base
    if decl.name is None:
        return None
    if "." in decl.name and "«" not in decl.name:
        return decl.name.rsplit(".", 1)[0] + "." + base
    return base


def _edit(text: str, start: int, end: int, new: str, marks: list[int]) -> str:
    """``text`` with ``text[start:end]`` replaced by ``new``; offsets in ``marks`` after the
    edit are shifted in place."""
    delta = len(new) - (end - start)
    for i, mark in enumerate(marks):
        if mark >= end:
            marks[i] = mark + delta
    return text[:start] + new + text[end:]


def _rename_self_references(copy: str, decl: Declaration, name: str, marks: list[int]) -> str:
    """Rename the declaration's references to itself (recursion, ``foo.aux`` helpers) after
    its statement, as Lean resolves them to the declaration being defined (its local
    auxiliary declaration); only whole identifier tokens are touched."""
    if decl.name is None or "«" in decl.name:
        return copy
    old_names = {decl.name: name}
    if decl.name.startswith("_root_."):
        old_names[decl.name[len("_root_.") :]] = name[len("_root_.") :]
    elif "." in decl.name:
        old_names[decl.name.rsplit(".", 1)[1]] = name.rsplit(".", 1)[1]
    binders = {t.text for t in tokenize(decl.signature, keep_comments=False) if t.kind == "ident"}
    if binders & set(old_names):
        return copy  # a binder with the declaration's own name shadows it in the body
    region = decl.keyword_start - decl.start + len(decl.statement)
    tokens = tokenize(copy[region:], keep_comments=False)
    for token in reversed(tokens):
        if token.kind != "ident":
            continue
        for old, new in old_names.items():
            if token.text == old or token.text.startswith(old + "."):
                copy = _edit(copy, region + token.start, region + token.start + len(old), new, marks)
                break
    return copy


def _strip_attributes(copy: str, keyword_at: int, marks: list[int]) -> str:
    """Remove ``@[…]`` attribute blocks before the keyword: they do not change how the proof
    elaborates, but on copies they misfire (``@[to_additive]`` cannot translate
    ``_lc_cand_3``, ``@[to_additive foo]``/``@[reassoc]`` declare the same names again) or leak
    into later copies (``@[simp]``, ``@[instance]``)."""
    tokens = tokenize(copy[:keyword_at], keep_comments=False)
    spans = []
    i = 0
    while i < len(tokens):
        if tokens[i].text == "@[":
            depth, j = 0, i
            while j < len(tokens):
                if tokens[j].text in ("@[", "[", "#["):
                    depth += 1
                elif tokens[j].text == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= len(tokens):
                break
            end = tokens[j].end
            while end < keyword_at and copy[end] in " \t\n":
                end += 1
            spans.append((tokens[i].start, end))
            i = j + 1
        else:
            i += 1
    for start, end in reversed(spans):
        copy = _edit(copy, start, end, "", marks)
    return copy


OTHER_SORRY = "_lc_other_sorry"
OTHER_SORRY_AXIOM = f"axiom {OTHER_SORRY}.{{_lc_u}} {{_lc_α : Sort _lc_u}} : _lc_α\n\n"
_OTHER_SORRY_NAME = re.compile(rf"(?:^|\.){OTHER_SORRY}$")


def _replace_other_sorries(target: CheckTarget, decl_text: str, hole: Hole) -> tuple[str, Hole, bool]:
    """``decl_text`` with every ``sorry`` of the declaration's body other than the hole
    replaced by our own axiom (``exact _lc_other_sorry`` where it stands for tactics), and the
    hole moved accordingly; the flag says whether anything was replaced."""
    decl = target.decl
    body = decl.body_start if decl.body_start is not None else decl.keyword_start + len(decl.statement)
    others = [
        loc for loc in locate_sorries(target.text)
        if body <= loc.start and loc.end <= target.end
        and not (hole.start <= loc.start - decl.start < max(hole.end, hole.start + 1))
    ]
    for loc in sorted(others, key=lambda loc: loc.start, reverse=True):
        start, end = loc.start - decl.start, loc.end - decl.start
        new = f"exact {OTHER_SORRY}" if loc.kind == "tactic" else OTHER_SORRY
        decl_text = decl_text[:start] + new + decl_text[end:]
        if end <= hole.start:
            delta = len(new) - (end - start)
            hole = Hole(hole.start + delta, hole.end + delta, hole.kind, hole.layout, hole.needs_parens, hole.indent)
    return decl_text, hole, bool(others)


def build_shadow_text(target: CheckTarget, candidates: Sequence[str], config: CheckerConfig) -> tuple[str, list[_Slot]]:
    """The shadow text for a batch and, per candidate, where its copy and tactics are."""
    decl, hole, source = target.decl, target.hole, target.text
    # `#print axioms` is an error in a file of Lean's module system (src/Lean/Elab/Print.lean).
    print_axioms = config.verify_axioms and not is_module_file(source)
    prefix = source[: decl.start]
    if prefix and not prefix.endswith("\n"):
        prefix += "\n"
    pieces = [prefix]
    offset = len(prefix)
    slots = []
    decl_text = source[decl.start : target.end]
    local_hole = Hole(
        hole.start - decl.start, hole.end - decl.start, hole.kind, hole.layout, hole.needs_parens, hole.indent
    )
    decl_text, local_hole, replaced = _replace_other_sorries(target, decl_text, local_hole)
    if replaced:
        # The declaration's other `sorry`s become our own axiom in every copy, so a `sorryAx`
        # (or a sorry warning) of a copy can only come from its candidate.
        pieces.append(OTHER_SORRY_AXIOM)
        offset += len(OTHER_SORRY_AXIOM)
    for index, candidate in enumerate(candidates):
        slot = _Slot(candidate)
        filled = fill_hole(decl_text, local_hole, candidate, as_term=target.term_mode)
        copy = filled.text
        name = _new_name(decl, index)
        slot.name = name
        marks = [filled.end, filled.start]  # where the candidate ends and starts, kept up to date
        if name is not None and decl.keyword != "example":
            copy = _rename_self_references(copy, decl, name, marks)
        if decl.keyword == "example":
            # An example has no name to print axioms for: it becomes a named def with the
            # same elaboration rules (section variables, no code generated).
            ks, ke = decl.keyword_start - decl.start, decl.keyword_start - decl.start + len("example")
            modifiers = source[decl.start : decl.keyword_start]
            keyword = "def" if "noncomputable" in modifiers else "noncomputable def"
            copy = _edit(copy, ks, ke, f"{keyword} {name}", marks)
        elif name is not None and decl.name_start is not None and decl.name_end is not None:
            copy = _edit(copy, decl.name_start - decl.start, decl.name_end - decl.start, name, marks)
        keyword_at = decl.keyword_start - decl.start
        protected = next(
            (t for t in tokenize(copy[:keyword_at], keep_comments=False) if t.kind == "ident" and t.text == "protected"),
            None,
        )
        if protected is not None and name is not None:
            # A protected copy could not be named by its short name in `#print axioms`.
            end = protected.end
            while end < keyword_at and copy[end] in " \n":
                end += 1
            copy = _edit(copy, protected.start, end, "", marks)
            keyword_at -= end - protected.start
        copy = _strip_attributes(copy, keyword_at, marks)
        cand_end, cand_start = marks
        parsed = declarations(copy)
        slot.statement_ok = bool(parsed) and normalize_statement(parsed[0].signature) == normalize_statement(
            decl.signature
        )
        header = f"set_option maxHeartbeats {config.max_heartbeats} in\n"
        slot.start = offset
        slot.cand_end = offset + len(header) + cand_end
        slot.cand_start = offset + len(header) + cand_start
        block = header + copy
        slot.end = offset + len(block)
        if print_axioms and name is not None:
            line = f"\n\n#print axioms {name}"
            slot.print_start = slot.end + 2
            slot.print_end = slot.end + len(line)
            block += line
        block += "\n\n"
        pieces.append(block)
        offset += len(block)
        slots.append(slot)
    return "".join(pieces), slots


def _flatten_symbols(symbols: list) -> Iterator[tuple[str, int, int]]:
    """(name, line, character) of every DocumentSymbol (children included) or
    SymbolInformation in an answer."""
    for symbol in symbols:
        if not isinstance(symbol, dict):
            continue
        extent = symbol.get("range") or (symbol.get("location") or {}).get("range") or {}
        start = extent.get("start") or {}
        if isinstance(start.get("line"), int) and isinstance(start.get("character"), int):
            yield str(symbol.get("name", "")), start["line"], start["character"]
        yield from _flatten_symbols(symbol.get("children") or [])


def _keywords(text: str, answer: object, keyword: int) -> list[tuple[int, str]]:
    """(offset, text) of the ``keyword`` tokens in a semantic-tokens answer."""
    data = answer.get("data", []) if isinstance(answer, dict) else []
    out = []
    line = character = 0
    for i in range(0, len(data) - 4, 5):
        delta_line, delta_char, length, kind = data[i], data[i + 1], data[i + 2], data[i + 3]
        line += delta_line
        character = delta_char if delta_line else character + delta_char
        if kind == keyword:
            offset = lsp_to_offset(text, line, character)
            out.append((offset, text[offset : lsp_to_offset(text, line, character + length)]))
    return out


def _token_types(initialize_result: dict | None) -> list[str]:
    """The semantic token types Lean announced (``legend.tokenTypes``)."""
    try:
        types = initialize_result["capabilities"]["semanticTokensProvider"]["legend"]["tokenTypes"]  # type: ignore[index]
    except (KeyError, TypeError):
        return []
    return [str(t) for t in types] if isinstance(types, list) else []


def _header_errors(text: str, slots: list[_Slot], diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Errors in the header (imports) of the shadow text: when the header fails, Lean
    elaborates no command at all (lean-lsp-protocol.md §2.4), so the copies get no
    diagnostics either way. Lean logs a header failure at the header's first token
    (`Lean.Elab.processHeader`); a file without imports has no header to fail, and an error at
    its first character is the first declaration's."""
    limit = header_end(text)
    first = slots[0].start if slots else len(text)
    out = []
    for diag in diagnostics:
        if diag.is_error:
            offset = lsp_to_offset(text, diag.extent.start.line, diag.extent.start.character)
            if offset < limit and offset < first:
                out.append(diag)
    return out


def _is_timeout(diag: Diagnostic) -> bool:
    return diag.is_error and bool(_TIMEOUT_MESSAGE.search(diag.message))


def _goals_from_message(message: str) -> list[str]:
    body = message.split("\n", 1)[1] if "\n" in message else ""
    return [g.strip("\n") for g in re.split(r"\n\s*\n", body) if g.strip()]


class Checker:
    """Checks candidates for :class:`CheckTarget` s in shadow documents (never the user's)."""

    def __init__(self, client: LeanClient, config: CheckerConfig | None = None, pool: ShadowPool | None = None) -> None:
        self.client = client
        self.config = config or CheckerConfig()
        self.pool = pool or ShadowPool(client)
        self.elaborations = 0  # how many shadow versions were sent (for stats and benches)

    async def close(self) -> None:
        """Close every shadow document."""
        await self.pool.close_all()

    # ------------------------------------------------------------------ goals at a hole

    async def initial_goals(self, target: CheckTarget) -> tuple[list[str] | None, HoleKind]:
        """Goals at the hole in the unchanged declaration and the hole's kind as Lean sees it:
        the expected type (``plainTermGoal``, kind ``term``) or the tactic goals
        (``plainGoal``, kind ``tactic``), asking first for the kind the text suggests."""
        prefix = target.text[: target.decl.start]
        segment = target.text[target.decl.start : target.end]
        if target.hole.start == target.hole.end:
            # A cursor: Lean may show nothing on a blank line, so ask after a `skip` there.
            hole = target.hole
            offset = hole.start - target.decl.start
            local = Hole(offset, offset, "tactic", hole.layout, hole.needs_parens, hole.indent)
            filled = fill_hole(segment, local, "skip")
            text = prefix + filled.text + "\n"
            line, character = offset_to_lsp(text, len(prefix) + filled.end)
        else:
            text = prefix + segment + "\n"
            line, character = offset_to_lsp(text, target.hole.start)
        async with self.pool.acquire(target.uri) as doc:
            version = await self.pool.set_text(doc, text)
            self.elaborations += 1
            timeout = self.config.open_timeout if version == doc.opened_version else self.config.wall_timeout
            await self.client.wait_for_diagnostics(doc.uri, version, timeout=timeout)
            ask_term = target.hole.kind == "term"
            for _ in range(2):
                if ask_term:
                    # Inside a tactic block plainGoal would give the *enclosing tactic's* goal
                    # for a term sorry (`exact sorry`, `have h : P := sorry`): ask for the
                    # expected type first.
                    term = await self.client.plain_term_goal(doc.uri, line, character, timeout=self.config.goal_timeout)
                    if term is not None:
                        return [term.goal], "term"
                else:
                    goal = await self.client.plain_goal(doc.uri, line, character, timeout=self.config.goal_timeout)
                    if goal is not None:
                        return list(goal.goals), "tactic"
                ask_term = not ask_term
            return None, target.hole.kind

    # ------------------------------------------------------------------ checking

    async def check(self, target: CheckTarget, candidate: str) -> CheckResult:
        """Check one candidate (one elaboration)."""
        return (await self.check_many(target, [candidate], batch=False))[0]

    async def check_many(self, target: CheckTarget, candidates: Sequence[str], *, batch: bool = True) -> list[CheckResult]:
        """Check candidates, in order. Unsafe ones are refused without Lean; duplicates are
        checked once; the rest go ``batch_size`` per elaboration (or one each with
        ``batch=False``)."""
        results: dict[str, CheckResult] = {}
        to_check: list[str] = []
        for candidate in candidates:
            if candidate in results or candidate in to_check:
                continue
            if is_screened(candidate, self.config.policy):
                to_check.append(candidate)  # the pipeline filtered it already (copilot.suggest.screen)
                continue
            verdict = check_candidate(candidate, self.config.policy)
            if not verdict.ok:
                results[candidate] = CheckResult(status="rejected-unsafe", candidate=candidate, message=verdict.reason)
            else:
                to_check.append(candidate)
        size = max(1, self.config.batch_size) if batch else 1
        if target.decl.keyword == "instance":
            size = 1  # instance copies would feed type-class search in later copies
        for start in range(0, len(to_check), size):
            chunk = to_check[start : start + size]
            chunk_results = await self._check_chunk(target, chunk)
            for position, result in enumerate(chunk_results):
                if position > 0 and result.accepted and self.config.confirm_accepted:
                    result = (await self._check_chunk(target, [result.candidate]))[0]
                results[result.candidate] = result
        return [results[c] for c in candidates]

    async def _check_chunk(self, target: CheckTarget, chunk: list[str], depth: int = 0) -> list[CheckResult]:
        started = time.monotonic()
        text, slots = build_shadow_text(target, chunk, self.config)
        timeout = self.config.wall_timeout + self.config.per_candidate_timeout * len(chunk)
        async with self.pool.acquire(target.uri) as doc:
            try:
                diagnostics = await self._elaborate(doc, text, timeout)
            except LeanTimeout:
                await self._cancel_elaboration(doc, target)
                if len(chunk) > 1 and depth < 1:
                    logger.info("batch of %d timed out; retrying in halves", len(chunk))
                    half = len(chunk) // 2
                    timed_out = True
                else:
                    elapsed = time.monotonic() - started
                    return [
                        CheckResult(status="timeout", candidate=c, message=f"no verdict within {timeout:g} s", elapsed_s=elapsed)
                        for c in chunk
                    ]
            else:
                timed_out = False
                broken = _header_errors(text, slots, diagnostics)
                if broken:
                    # Lean elaborated nothing (imports missing, out of date or unbuildable):
                    # the absence of errors in the copies proves nothing.
                    message = f"Lean could not load the file's imports: {broken[0].message}"
                    return [CheckResult(status="error", candidate=c, message=message, diagnostics=broken) for c in chunk]
                self._attribute(text, slots, diagnostics)
                results = [await self._verdict(doc, text, target, slot) for slot in slots]
                # An acceptance behind other copies is confirmed alone (check_many), and the
                # confirmation asks Lean's view itself: here only the first copy needs it.
                wanted = [r.accepted and (i == 0 or not self.config.confirm_accepted) for i, r in enumerate(results)]
                if self.config.verify_commands and any(wanted):
                    problems = await self._lean_view_problems(doc, text, slots, wanted)
                    results = [
                        r if not problems.get(i) else msgspec.structs.replace(r, status="error", message=problems[i])
                        for i, r in enumerate(results)
                    ]
        if timed_out:
            first = await self._check_chunk(target, chunk[:half], depth + 1)
            second = await self._check_chunk(target, chunk[half:], depth + 1)
            return first + second
        elapsed = (time.monotonic() - started) / max(1, len(chunk))
        return [msgspec.structs.replace(r, elapsed_s=elapsed) for r in results]

    async def _elaborate(self, doc: ShadowDocument, text: str, timeout: float) -> list[Diagnostic]:
        """Send the text, wait for its diagnostics; revive a crashed worker once."""
        for attempt in (1, 2):
            version = await self.pool.set_text(doc, text)
            self.elaborations += 1
            if version == doc.opened_version:  # a fresh worker loads its imports first
                timeout = max(timeout, self.config.open_timeout)
            try:
                diagnostics = await self.client.wait_for_diagnostics(doc.uri, version, timeout=timeout)
            except LeanRequestError as exc:
                if exc.code in (WORKER_EXITED, WORKER_CRASHED) and attempt == 1:
                    logger.warning("Lean worker for %s crashed; reviving", doc.uri)
                    continue
                if exc.code == CONTENT_MODIFIED and attempt == 1:
                    # Lean lost the document (restarted while our edit was in flight): send again.
                    logger.info("Lean does not know %s (restart?); sending it again", doc.uri)
                    continue
                raise
            progress = self.client.progress(doc.uri)
            if progress.failed and progress.version == version and attempt == 1:
                logger.warning("Lean reported a fatal error for %s; reviving", doc.uri)
                continue
            return diagnostics
        raise LeanError(f"Lean worker for {doc.uri} keeps crashing")

    async def _cancel_elaboration(self, doc: ShadowDocument, target: CheckTarget) -> None:
        """Stop Lean working on a timed-out version by sending the prefix alone."""
        try:
            await self.pool.set_text(doc, target.text[: target.decl.start])
        except LeanError as exc:
            logger.warning("could not reset shadow %s: %s", doc.uri, exc)

    def _attribute(self, text: str, slots: list[_Slot], diagnostics: list[Diagnostic]) -> None:
        """Give each diagnostic to the copy (or its ``#print axioms`` line) where it starts.
        A parse error that runs past the end of a command is reported at the next token:
        the next copy's first line (its ``set_option``, which is always valid) or the end of
        the text; it belongs to the copy before (at the first copy: to the user's prefix)."""
        starts = {slot.start: index for index, slot in enumerate(slots)}
        for diag in diagnostics:
            start = diag.extent.start
            offset = lsp_to_offset(text, start.line, start.character)
            if diag.is_error and diag.message.startswith("unexpected") and slots:
                index = starts.get(offset)
                if index is not None:
                    if index > 0:
                        slots[index - 1].diagnostics.append(diag)
                    continue
                if offset >= max(slots[-1].end, slots[-1].print_end):
                    slots[-1].diagnostics.append(diag)
                    continue
            for slot in slots:
                if slot.start <= offset < slot.end:
                    slot.diagnostics.append(diag)
                    break
                if slot.print_start <= offset < slot.print_end:
                    if diag.severity == 3:
                        slot.axiom_infos.append(diag.message)
                    elif diag.is_error:
                        slot.axiom_errors.append(diag.message)
                    break

    async def _verdict(self, doc: ShadowDocument, text: str, target: CheckTarget, slot: _Slot) -> CheckResult:
        diags = slot.diagnostics
        base = {"candidate": slot.candidate, "diagnostics": diags}
        if not slot.statement_ok:
            return CheckResult(status="error", message="the candidate changes the declaration's statement", **base)
        errors = [d for d in diags if d.is_error]
        if any(_is_timeout(d) for d in errors):
            return CheckResult(status="timeout", message=next(d.message for d in errors if _is_timeout(d)), **base)
        if errors and all(d.is_unsolved_goals for d in errors):
            goals = await self._goals_after(doc, text, slot)
            if goals is None:
                goals = [g for d in errors for g in _goals_from_message(d.message)]
            return CheckResult(status="incomplete", message=errors[0].message, goals=goals, **base)
        if errors:
            first = next((d for d in errors if not d.is_unsolved_goals), errors[0])
            return CheckResult(status="error", message=first.message, **base)
        if any(d.is_sorry_warning for d in diags):
            # the declaration's other sorries are our axiom in the copy: this one is the candidate's
            return CheckResult(status="error", message="the candidate uses sorry", **base)
        problem = self._axiom_problem(slot)
        if problem:
            return CheckResult(status="error", message=problem, **base)
        return CheckResult(status="accepted", **base)

    def _axiom_problem(self, slot: _Slot) -> str:
        """Why the axioms ``#print axioms`` listed are not acceptable ("" if they are). An
        error from ``#print axioms`` itself (the copy could not be found) is a failure too."""
        if slot.axiom_errors:
            return f"could not verify the proof's axioms: {slot.axiom_errors[0]}"
        reported = any(_AXIOMS_REPORT.search(info) for info in slot.axiom_infos)
        if self.config.require_axiom_report and slot.print_start >= 0 and not reported:
            return "could not verify the proof's axioms: Lean printed none for it (was it elaborated?)"
        names = {
            name.strip()
            for listed in _AXIOMS_MESSAGE.findall("\n".join(slot.axiom_infos))
            for name in listed.split(",")
            if name.strip()
        }
        if "sorryAx" in names:
            return "the proof depends on sorryAx (the candidate reaches a declaration proved by sorry)"
        names = {name for name in names if not _OTHER_SORRY_NAME.search(name)}
        native = names & set(_NATIVE_AXIOMS)
        if native and not self.config.policy.allow_native:
            return f"the proof trusts the compiler ({', '.join(sorted(native))})"
        unexpected = names - set(self.config.allowed_axioms) - set(_NATIVE_AXIOMS)
        if unexpected:
            return f"the proof depends on non-standard axioms: {', '.join(sorted(unexpected))}"
        return ""

    # ------------------------------------------------------------------ Lean's own view

    async def _lean_view_problems(
        self, doc: ShadowDocument, text: str, slots: list[_Slot], wanted: list[bool]
    ) -> dict[int, str]:
        """The second line of defence, independent of :mod:`copilot.safety` and its lexer: for
        each wanted slot, Lean's own view of the checked text must show no declaration,
        ``namespace`` or ``section`` of its own in the copy besides the copy itself
        (``textDocument/documentSymbol``; Lean lists no symbol for a declaration under an
        ``… in`` combinator, which every copy has, so in practice any symbol there is one the
        candidate added) and no command keyword inside the candidate
        (``textDocument/semanticTokens/range``: ``axiom``, ``attribute``, ``macro``, ``end``,
        ``#eval``, …, also under an ``… in``). Both questions go to Lean at once, once per
        elaboration. A server that lists nothing (the test double) adds no refusal; an error
        answer is a refusal."""
        chosen = [slot for slot, want in zip(slots, wanted, strict=True) if want]
        legend = _token_types(self.client.connection.initialize_result)
        timeout = self.config.goal_timeout
        asks = [self.client.connection.request(
            "textDocument/documentSymbol", {"textDocument": {"uri": doc.uri}}, timeout=timeout)]
        if "keyword" in legend:
            (start_line, start_char), (end_line, end_char) = (
                offset_to_lsp(text, min(s.cand_start for s in chosen)), offset_to_lsp(text, max(s.cand_end for s in chosen)))
            asks.append(self.client.connection.request("textDocument/semanticTokens/range", {
                "textDocument": {"uri": doc.uri},
                "range": {"start": {"line": start_line, "character": start_char},
                          "end": {"line": end_line, "character": end_char}}}, timeout=timeout))
        answers = await asyncio.gather(*asks, return_exceptions=True)
        for answer in answers:
            if isinstance(answer, LeanExited | asyncio.CancelledError):
                raise answer
            if isinstance(answer, BaseException):
                if not isinstance(answer, LeanError):
                    raise answer
                return {i: f"could not read Lean's view of the copy: {answer}" for i, w in enumerate(wanted) if w}
        symbols = answers[0]
        starts = [(name, lsp_to_offset(text, line, character))
                  for name, line, character in _flatten_symbols(symbols if isinstance(symbols, list) else [])]
        keywords = _keywords(text, answers[1], legend.index("keyword")) if len(answers) > 1 else []
        problems: dict[int, str] = {}
        for index, slot in enumerate(slots):
            if not wanted[index]:
                continue
            own = CANDIDATE_NAME.format(index)
            extra = [name for name, start in starts if slot.start <= start < slot.end and not name.endswith(own)]
            if extra:
                problems[index] = f"the candidate adds commands to the file (Lean sees: {', '.join(extra)})"
                continue
            word = next((w for at, w in keywords if slot.cand_start <= at < slot.cand_end
                         and (w.startswith("#") or w in COMMAND_KEYWORDS)), None)
            if word is not None:
                problems[index] = f"Lean reads a command keyword `{word}` inside the candidate"
        return problems

    async def _goals_after(self, doc: ShadowDocument, text: str, slot: _Slot) -> list[str] | None:
        line, character = offset_to_lsp(text, slot.cand_end)
        try:
            goal = await self.client.plain_goal(doc.uri, line, character, timeout=self.config.goal_timeout)
        except LeanError as exc:
            logger.info("no goals after candidate: %s", exc)
            return None
        if goal is None or not goal.goals:
            return None
        return list(goal.goals)
