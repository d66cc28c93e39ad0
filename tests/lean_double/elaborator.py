"""The scripted mini-elaborator: turns a document into diagnostics and tactic states.

It splits the text into top-level commands (a command starts on a line whose first column holds
code), recognises ``theorem``/``lemma``/``example``/``def``/``abbrev``/``instance`` declarations,
and runs ``:= by`` tactic blocks through the scenario (``tactics.py``). Tactics are one per line
(``;`` also separates), a line indented deeper than its block continues the previous tactic, and
``·`` bullets focus the first goal. The first failing tactic aborts its block (inside a bullet:
only the bullet, whose goal is then admitted). Goals left at the end give ``unsolved goals`` with
``leanTags:[1]`` at ``by``. ``sorry``/``admit`` give the ``declaration uses 'sorry'`` warning at
the declaration's name. All columns here are code points; ``documents.LineIndex`` converts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .documents import LineIndex
from .goals import GoalParts, join_goal, normalize_goal, with_parent_tag
from .scenario import Scenario, statement_key
from .tactics import SORRY_RE, apply_tactic

Pos = tuple[int, int]  # (line, code-point column)

DECL_KEYWORDS = frozenset({"theorem", "lemma", "example", "def", "abbrev", "instance", "opaque"})
PROOF_KEYWORDS = frozenset({"theorem", "lemma", "example"})
UNKNOWN_NAME_RE = re.compile(r"[Uu]nknown (identifier|constant) ")
MODIFIERS = frozenset({"private", "protected", "noncomputable", "partial", "unsafe", "nonrec", "scoped", "local"})
NAME_RE = re.compile(r"(?:«[^»]*»|[^\W\d][\w'!?]*)(?:\.(?:«[^»]*»|[\w'!?]+))*")
COMMAND_START_RE = re.compile(r"[A-Za-z_@#«]")
ATTRIBUTES_ONLY_RE = re.compile(r"^(?:\s*(?:@\[[^\]]*\]|private|protected|noncomputable|partial|unsafe|nonrec))+\s*$")
BINDER_RE = re.compile(r"([({\[⦃])")
SORRY_WORDING = {
    "old": "declaration uses 'sorry'",
    "new": "declaration uses `sorry`",
    "named": "declaration `{name}` uses `sorry`",  # newest Lean names the declaration
}
PRINT_AXIOMS_RE = re.compile(r"#print\s+axioms\s+(" + NAME_RE.pattern + ")")


@dataclass
class ElabOptions:
    sorry_wording: str = "new"  # "old": declaration uses 'sorry'; "new": backticks; "named": newest
    try_this_format: str = "old"  # "old": Try this: X; "new": Try this:\n  [apply] X
    goals_accomplished: bool = False  # silent goalsAccomplished diagnostics (client must opt in too)


@dataclass
class Diagnostic:
    start: Pos
    end: Pos
    severity: int
    message: str
    code: str | None = None
    tags: list[int] | None = None
    lean_tags: list[int] | None = None
    silent: bool = False

    def to_lsp(self, index: LineIndex) -> dict[str, Any]:
        """Lean's Diagnostic JSON: ``range`` cut to the first line, ``fullRange`` the real one."""
        full = index.lsp_range(self.start, self.end)
        if self.end[0] > self.start[0]:
            shown = {"start": full["start"], "end": {"line": self.start[0] + 1, "character": 0}}
        else:
            shown = full
        out: dict[str, Any] = {
            "range": shown,
            "fullRange": full,
            "severity": self.severity,
            "source": "Lean 4",
            "message": self.message,
        }
        code = self.code
        if code is None and self.severity == 1 and UNKNOWN_NAME_RE.match(self.message):
            code = "lean.unknownIdentifier"  # Lean ≥ 4.22 names this error kind (§12)
        if code:
            out["code"] = code
        if self.tags:
            out["tags"] = list(self.tags)
        if self.lean_tags:
            out["leanTags"] = list(self.lean_tags)
        if self.silent:
            out["isSilent"] = True
        return out


@dataclass
class Tactic:
    text: str
    start: Pos
    end: Pos
    before: list[str] | None = None
    after: list[str] | None = None


@dataclass
class Bullet:
    start: Pos  # the bullet character
    content_col: int
    items: list[Any]
    end: Pos
    before: list[str] | None = None
    after: list[str] | None = None
    focused: list[str] | None = None


@dataclass
class TacticBlock:
    by_start: Pos
    items: list[Any]
    initial: list[str]
    end: Pos


@dataclass
class TryThis:
    start: Pos
    end: Pos
    suggestion: str


@dataclass
class Command:
    first_line: int
    last_line: int
    keyword: str | None = None
    name: str | None = None
    statement: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    block: TacticBlock | None = None
    term: tuple[Pos, Pos, str] | None = None  # term body range and its expected type
    try_this: list[TryThis] = field(default_factory=list)
    uses_sorry: bool = False


@dataclass
class Elaboration:
    text: str
    index: LineIndex
    header: str
    commands: list[Command]

    def diagnostics(self) -> list[Diagnostic]:
        return [d for c in self.commands for d in c.diagnostics]

    def command_at(self, line: int) -> Command | None:
        for cmd in self.commands:
            if cmd.first_line <= line <= cmd.last_line:
                return cmd
        return None

    def goals_at(self, line: int, col: int) -> list[str] | None:
        """Goals at a position, Lean's conventions: null outside tactic blocks."""
        cmd = self.command_at(line)
        if cmd is None or cmd.block is None or (line, col) < cmd.block.by_start:
            return None
        block = cmd.block
        return _query(block.items, block.initial, (line, col))

    def term_goal_at(self, line: int, col: int) -> dict[str, Any] | None:
        """``plainTermGoal`` for a term-mode body: its expected type and range."""
        cmd = self.command_at(line)
        if cmd is None or cmd.term is None:
            return None
        start, end, goal = cmd.term
        if not (start <= (line, col) <= end):
            return None
        return {"goal": goal, "range": self.index.lsp_range(start, end)}


def _query(items: list[Any], state: list[str], pos: Pos) -> list[str]:
    for item in items:
        if pos < item.start:
            return state
        inside = pos < item.end or (pos == item.end and isinstance(item, Bullet))
        if isinstance(item, Tactic):
            if pos == item.start:
                return item.before if item.before is not None else state
            if inside or pos == item.end:
                return item.after if item.after is not None else state
        else:
            on_bullet_char = pos[0] == item.start[0] and pos[1] < item.content_col
            if on_bullet_char:
                return item.before if item.before is not None else state
            if inside or (pos[0] > item.start[0] and pos[1] >= item.content_col and _next_starts_after(items, item, pos)):
                return _query(item.items, item.focused or [], pos)
        state = item.after if item.after is not None else state
    return state


def _next_starts_after(items: list[Any], item: Any, pos: Pos) -> bool:
    later = items[items.index(item) + 1:]
    return not later or later[0].start > pos


# ---------------------------------------------------------------- text scanning

def mask_comments(text: str) -> str:
    """Replace comments (``--``, nested ``/- -/``) by spaces, keeping offsets and newlines."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
            continue
        if text.startswith("/-", i):
            depth, j = 0, i
            while j < n:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            for k in range(i, min(j, n)):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        i += 1
    return "".join(out)


def _skip_ws(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _matching(text: str, pos: int, end: int) -> int:
    """Index just past the bracket closing the one at ``pos``."""
    depth = 0
    for i in range(pos, end):
        if text[i] in "([{⟨":
            depth += 1
        elif text[i] in ")]}⟩":
            depth -= 1
            if depth == 0:
                return i + 1
    return end


def _find_assign(text: str, pos: int, end: int) -> int | None:
    depth = 0
    for i in range(pos, end):
        ch = text[i]
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        elif depth == 0 and text.startswith(":=", i):
            return i
    return None


def split_commands(masked: str, text: str | None = None) -> list[tuple[int, int]]:
    """(first_line, last_line) of each top-level command.

    A command starts on a line whose first column is code, or whose first column opens a comment
    that code follows on the same line (``/-- doc -/ theorem …``).
    """
    lines = masked.split("\n")
    originals = text.split("\n") if text is not None else lines
    starts = [i for i, line in enumerate(lines)
              if COMMAND_START_RE.match(line) or (originals[i].startswith("/-") and COMMAND_START_RE.match(line.lstrip()))]
    spans = [(s, (starts[k + 1] - 1 if k + 1 < len(starts) else len(lines) - 1)) for k, s in enumerate(starts)]
    merged: list[tuple[int, int]] = []
    carry: int | None = None
    for first, last in spans:
        body = "\n".join(lines[first:last + 1])
        if ATTRIBUTES_ONLY_RE.match(body):
            carry = first if carry is None else carry
            continue
        merged.append((carry if carry is not None else first, last))
        carry = None
    if carry is not None:
        merged.append((carry, len(lines) - 1))
    return merged


SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def _superscript(n: int) -> str:
    return "".join(SUPERSCRIPTS[int(d)] for d in str(n)) if n else ""


def binders_to_goal(signature: str) -> str:
    """Initial goal derived from a signature ``(a b : T) {x : U} [C] : P`` (no scenario entry).

    Anonymous instance binders become ``inst✝``, older ones ``inst✝¹``, ``inst✝²``… as in Lean.
    """
    hyps: list[str | None] = []
    instances: list[tuple[int, str]] = []
    pos, n = 0, len(signature)
    brackets = signature.replace("⦃", "(").replace("⦄", ")")
    while True:
        pos = _skip_ws(signature, pos, n)
        if pos >= n or signature[pos] not in "({[⦃":
            break
        close = _matching(brackets, pos, n)
        inner = signature[pos + 1:close - 1].strip()
        names, sep, typ = inner.partition(" : ") if " : " in inner else inner.partition(":")
        if signature[pos] == "[" and not sep:
            instances.append((len(hyps), " ".join(inner.split())))
            hyps.append(None)
        elif sep:
            hyps.append(f"{' '.join(names.split())} : {' '.join(typ.split())}")
        pos = close
    for k, (slot, cls) in enumerate(instances):
        hyps[slot] = f"inst✝{_superscript(len(instances) - 1 - k)} : {cls}"
    rest = signature[pos:].strip()
    target = rest[1:].strip() if rest.startswith(":") else rest
    return join_goal(GoalParts(None, tuple(h for h in hyps if h), " ".join(target.split()) or "?"))


# ---------------------------------------------------------------- tactic blocks

@dataclass
class _Line:
    line: int
    col: int
    end: int


def _split_tactics(masked_line: str, cl: _Line) -> list[Tactic]:
    text = masked_line[cl.col:cl.end]
    pieces: list[tuple[int, int]] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        elif ch == ";" and depth == 0 and not (text[i - 1:i] == "<" and text[i + 1:i + 2] == ">"):
            pieces.append((start, i))
            start = i + 1
    pieces.append((start, len(text)))
    out = []
    for a, b in pieces:
        seg = text[a:b]
        if not seg.strip():
            continue
        lead = len(seg) - len(seg.lstrip())
        s, e = cl.col + a + lead, cl.col + a + len(seg.rstrip())
        out.append(Tactic(masked_line[s:e], (cl.line, s), (cl.line, e)))
    return out


def _open_brackets(item: Any) -> int:
    if isinstance(item, Bullet):
        return _open_brackets(item.items[-1]) if item.items else 0
    return sum(item.text.count(c) for c in "([{⟨") - sum(item.text.count(c) for c in ")]}⟩")


def _extend(item: Any, masked_lines: list[str], cl: _Line) -> None:
    if isinstance(item, Bullet):
        if item.items:
            _extend(item.items[-1], masked_lines, cl)
        item.end = (cl.line, cl.end)
        return
    item.text += " " + masked_lines[cl.line][cl.col:cl.end]
    item.end = (cl.line, cl.end)


def _parse_items(lines: list[_Line], i: int, col: int, masked_lines: list[str]) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines):
        cl = lines[i]
        if items and _open_brackets(items[-1]) > 0:
            _extend(items[-1], masked_lines, cl)  # inside brackets columns do not matter
            i += 1
            continue
        if cl.col < col:
            break
        if cl.col > col:
            if items:
                _extend(items[-1], masked_lines, cl)
            i += 1
            continue
        text = masked_lines[cl.line][cl.col:cl.end]
        if text[0] in "·." and (len(text) == 1 or text[1] in " \t"):
            rest = text[1:]
            stripped = rest.lstrip()
            if stripped:
                content_col = cl.col + 1 + (len(rest) - len(stripped))
                sub = [_Line(cl.line, content_col, cl.end)] + lines[i + 1:]
                inner, used = _parse_items(sub, 0, content_col, masked_lines)
                i += used
            else:
                nxt = lines[i + 1].col if i + 1 < len(lines) and lines[i + 1].col > col else col + 2
                content_col = nxt
                inner, i = _parse_items(lines, i + 1, nxt, masked_lines)
            end = inner[-1].end if inner else (cl.line, cl.col + 1)
            items.append(Bullet((cl.line, cl.col), content_col, inner, end))
            continue
        items.extend(_split_tactics(masked_lines[cl.line], cl))
        i += 1
    return items, i


class _Abort(Exception):
    """The first failing tactic stops its block."""


class _Runner:
    def __init__(self, scenario: Scenario, options: ElabOptions, cmd: Command) -> None:
        self.scenario, self.options, self.cmd = scenario, options, cmd
        self.uses_sorry = False

    def error(self, start: Pos, end: Pos, message: str, lean_tags: list[int] | None = None) -> None:
        self.cmd.diagnostics.append(Diagnostic(start, end, 1, message, lean_tags=lean_tags))

    def unsolved(self, start: Pos, end: Pos, goals: list[str]) -> None:
        self.error(start, end, "unsolved goals\n" + "\n\n".join(goals), lean_tags=[1])

    def info(self, item: Tactic, message: str) -> None:
        suggestion = try_this_suggestion(message)
        if suggestion is not None:
            self.cmd.try_this.append(TryThis(item.start, item.end, suggestion))
            if self.options.try_this_format == "new":
                message = "Try this:\n  [apply] " + suggestion.replace("\n", "\n  ")
        self.cmd.diagnostics.append(Diagnostic(item.start, item.end, 3, message))

    def run_items(self, items: list[Any], goals: list[str]) -> list[str]:
        for k, item in enumerate(items):
            item.before = goals
            try:
                goals = self.run_tactic(item, goals) if isinstance(item, Tactic) else self.run_bullet(item, goals)
            except _Abort:
                item.after = goals
                _mark_unrun(items[k + 1:], goals)
                raise
            item.after = goals
        return goals

    def run_tactic(self, item: Tactic, goals: list[str]) -> list[str]:
        if not goals:
            self.error(item.start, item.end, "no goals to be proved")
            raise _Abort
        goal = goals[0]
        outcome = apply_tactic(self.scenario, goal, item.text)
        if outcome.info:
            self.info(item, outcome.info)
        if outcome.error is not None:
            self.error(item.start, item.end, outcome.error)
            raise _Abort
        self.uses_sorry |= outcome.sorry
        return [with_parent_tag(g, goal) for g in (outcome.goals or [])] + goals[1:]

    def run_bullet(self, item: Bullet, goals: list[str]) -> list[str]:
        if not goals:
            self.error(item.start, (item.start[0], item.start[1] + 1), "no goals to be proved")
            raise _Abort
        item.focused = [goals[0]]
        try:
            rest = self.run_items(item.items, item.focused)
            if rest:
                self.unsolved(item.start, item.end, rest)
        except _Abort:
            pass  # error recovery: the bullet's goal is admitted
        return goals[1:]


def _mark_unrun(items: list[Any], goals: list[str]) -> None:
    for item in items:
        item.before = item.after = goals
        if isinstance(item, Bullet):
            item.focused = goals[:1]
            _mark_unrun(item.items, goals[:1])


def try_this_suggestion(message: str) -> str | None:
    """The suggestion in a ``Try this`` message (old one-line or new ``[apply]`` format)."""
    if message.startswith("Try this: "):
        return message[len("Try this: "):]
    m = re.match(r"Try this:\n\s*\[apply\] (.*)", message, re.DOTALL)
    if m:
        return m.group(1).replace("\n  ", "\n")
    return None


# ---------------------------------------------------------------- declarations

def _elaborate_command(cmd: Command, masked: str, masked_lines: list[str], index: LineIndex, scenario: Scenario,
                       options: ElabOptions) -> None:
    start = index.starts[cmd.first_line]
    last = cmd.last_line
    end = index.starts[last] + len(index.lines[last])
    pos = _skip_ws(masked, start, end)
    while pos < end:
        if masked.startswith("@[", pos):
            pos = _skip_ws(masked, _matching(masked, pos + 1, end), end)
            continue
        m = NAME_RE.match(masked, pos, end)
        if m and m.group() in MODIFIERS:
            pos = _skip_ws(masked, m.end(), end)
            continue
        break
    kw = NAME_RE.match(masked, pos, end)
    if not kw or kw.group() not in DECL_KEYWORDS:
        return
    cmd.keyword = kw.group()
    name_span = (kw.start(), kw.end())
    stmt_start = kw.end()
    if cmd.keyword not in ("example", "instance"):
        name = NAME_RE.match(masked, _skip_ws(masked, kw.end(), end), end)
        if name:
            cmd.name = name.group()
            name_span = (name.start(), name.end())
            stmt_start = name.end()
    assign = _find_assign(masked, stmt_start, end)
    body_end = end
    while body_end > start and masked[body_end - 1].isspace():
        body_end -= 1
    runner = _Runner(scenario, options, cmd)
    name_range = (index.line_col(name_span[0]), index.line_col(name_span[1]))
    if assign is None:
        if SORRY_RE.search(masked, stmt_start, end):
            runner.uses_sorry = True
        _finish(cmd, runner, name_range, options)
        return
    statement = masked[stmt_start:assign]
    cmd.statement = statement_key(statement)
    goal = scenario.initial_goal(statement) or normalize_goal(binders_to_goal(statement))
    body = _skip_ws(masked, assign + 2, end)
    by = re.compile(r"by(?![\w'])").match(masked, body, end)
    if by:
        _run_block(cmd, runner, masked_lines, index, by.start(), goal)
    elif body < body_end:
        b_start, b_end = index.line_col(body), index.line_col(body_end)
        cmd.term = (b_start, b_end, goal)
        term = " ".join(masked[body:body_end].split())
        if cmd.keyword in PROOF_KEYWORDS and term not in ("sorry",):
            outcome = apply_tactic(scenario, goal, f"exact {term}")
            if outcome.error is not None:
                cmd.diagnostics.append(Diagnostic(b_start, b_end, 1, outcome.error))
            elif outcome.goals:
                cmd.diagnostics.append(Diagnostic(b_start, b_end, 1, "type mismatch\n" + "\n\n".join(outcome.goals)))
        if SORRY_RE.search(masked, body, body_end):
            runner.uses_sorry = True
    _finish(cmd, runner, name_range, options, (index.line_col(start), index.line_col(body_end)))


def _run_block(cmd: Command, runner: _Runner, masked_lines: list[str], index: LineIndex, by_offset: int, goal: str) -> None:
    by_line, by_col = index.line_col(by_offset)
    lines: list[_Line] = []
    rest = masked_lines[by_line][by_col + 2:]
    if rest.strip():
        col = by_col + 2 + len(rest) - len(rest.lstrip())
        lines.append(_Line(by_line, col, len(masked_lines[by_line].rstrip())))
    for ln in range(by_line + 1, cmd.last_line + 1):
        t = masked_lines[ln]
        if t.strip():
            lines.append(_Line(ln, len(t) - len(t.lstrip()), len(t.rstrip())))
    items: list[Any] = []
    if lines:
        items, _ = _parse_items(lines, 0, lines[0].col, masked_lines)
    by_start = (by_line, by_col)
    end = items[-1].end if items else (by_line, by_col + 2)
    block = TacticBlock(by_start, items, [goal], end)
    cmd.block = block
    try:
        final = runner.run_items(items, [goal])
        if final:
            runner.unsolved(by_start, end, final)
    except _Abort:
        pass


def _finish(cmd: Command, runner: _Runner, name_range: tuple[Pos, Pos], options: ElabOptions,
            decl_range: tuple[Pos, Pos] | None = None) -> None:
    if (options.goals_accomplished and decl_range is not None and cmd.keyword in PROOF_KEYWORDS
            and not runner.uses_sorry and not any(d.severity == 1 for d in cmd.diagnostics)):
        # Lean ≥ 4.19: a silent "Goals accomplished!" over the whole declaration, tactic or term proof
        cmd.diagnostics.append(Diagnostic(decl_range[0], decl_range[1], 3, "Goals accomplished!",
                                          lean_tags=[2], silent=True))
    if runner.uses_sorry:
        cmd.uses_sorry = True
        wording = SORRY_WORDING[options.sorry_wording].format(name=cmd.name or "_example")
        cmd.diagnostics.insert(0, Diagnostic(name_range[0], name_range[1], 2, wording))


def _print_axioms(cmd: Command, masked: str, index: LineIndex, earlier: list[Command], scenario: Scenario) -> None:
    """``#print axioms NAME`` as Lean answers it: an information message at ``#print``.

    A declaration of this document that used ``sorry`` or has an error (Lean adds it with
    ``sorryAx``) depends on ``sorryAx``; ``scenario.axioms`` scripts other lists; a name
    declared nowhere is an ``unknown constant`` error."""
    start = index.starts[cmd.first_line]
    end = index.starts[cmd.last_line] + len(index.lines[cmd.last_line])
    m = PRINT_AXIOMS_RE.match(masked, _skip_ws(masked, start, end), end)
    if not m:
        return
    name = m.group(1)
    at = (index.line_col(m.start()), index.line_col(m.start() + len("#print")))
    decl = next((c for c in reversed(earlier) if c.name == name), None)
    scripted = scenario.axioms.get(name)
    if decl is None and scripted is None:
        cmd.diagnostics.append(Diagnostic(at[0], at[1], 1, f"unknown constant '{name}'"))
        return
    axioms = list(scripted or [])
    if decl is not None and (decl.uses_sorry or any(d.severity == 1 for d in decl.diagnostics)):
        axioms.append("sorryAx")
    axioms = sorted(set(axioms))
    message = f"'{name}' depends on axioms: [{', '.join(axioms)}]" if axioms else f"'{name}' does not depend on any axioms"
    cmd.diagnostics.append(Diagnostic(at[0], at[1], 3, message))


def _scripted(cmds: list[Command], text: str, index: LineIndex, scenario: Scenario, uri: str) -> None:
    for diag in scenario.diagnostics:
        if diag.uri is not None and diag.uri != uri:
            continue
        for m in diag.pattern.finditer(text):
            s, e = m.span(diag.group)
            start, end = index.line_col(s), index.line_col(e)
            target = next((c for c in cmds if c.first_line <= start[0] <= c.last_line), None)
            if target is None:
                continue
            target.diagnostics.append(Diagnostic(start, end, diag.severity, diag.message, diag.code,
                                                 diag.tags, diag.lean_tags))
    for cmd in cmds:
        cmd.diagnostics.sort(key=lambda d: d.start)


def header_text(masked: str, commands: list[tuple[int, int]]) -> str:
    """The import header: the leading ``import`` (or ``prelude``/``module``) commands."""
    lines = masked.split("\n")
    header: list[str] = []
    for first, last in commands:
        body = " ".join(" ".join(lines[first:last + 1]).split())
        if not re.match(r"(import|prelude|module)\b", body):
            break
        header.append(body)
    return "\n".join(header)


def elaborate(text: str, scenario: Scenario, options: ElabOptions | None = None, uri: str = "") -> Elaboration:
    """Elaborate a whole document (pure and fast; timing is simulated by the server)."""
    options = options or ElabOptions()
    index = LineIndex(text)
    masked = mask_comments(text)
    spans = split_commands(masked, text)
    commands = [Command(first, last) for first, last in spans]
    masked_lines = masked.split("\n")
    for i, cmd in enumerate(commands):
        _elaborate_command(cmd, masked, masked_lines, index, scenario, options)
        _print_axioms(cmd, masked, index, commands[:i], scenario)
    _scripted(commands, text, index, scenario, uri)
    return Elaboration(text, index, header_text(masked, spans), commands)
