"""Where a suggestion goes, from an editor position: a ``sorry``, a blank line in a tactic
block, or the tactic being typed on a line (its text is what the suggestion replaces).

A :class:`SuggestTarget` carries the text the checker sees (``check_text``: the document, with
the typed tactic removed for a *line* target), the :class:`~copilot.checker.CheckTarget` in it,
and the range of the user's text a suggestion replaces. Its ``key`` identifies the work: two
positions with the same key have the same goal and the same verdicts (e.g. every keystroke
while typing one tactic), so results are cached and shared by key.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

from copilot.checker import CheckTarget
from copilot.proof_text import SorryLocation, fill_hole, find_declaration, locate_sorries, lsp_to_offset, offset_to_lsp

TargetKind = Literal["sorry", "cursor", "line"]
_BY = re.compile(r"(?<![\w.])by(?![\w.'!?])")


@dataclass(frozen=True)
class SuggestTarget:
    """One place to suggest for (see the module docstring)."""

    uri: str
    version: int
    kind: TargetKind
    text: str
    check_text: str
    check: CheckTarget
    replace_start: int
    replace_end: int
    sorry: SorryLocation | None = None
    lead: str = ""  # indentation inserted before the tactic (a blank line typed at column 0)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.uri, hash(self.check_text), self.check.hole.start)

    def replacement(self, proof: str) -> str:
        """The text that replaces ``text[replace_start:replace_end]`` to put ``proof`` there."""
        filled = fill_hole(self.check_text, self.check.hole, proof)
        tail = len(self.check_text) - self.check.hole.end
        return self.lead + filled.text[self.check.hole.start : len(filled.text) - tail]

    def lsp_range(self) -> dict:
        """The replaced range of the user's text, LSP (UTF-16)."""
        sl, sc = offset_to_lsp(self.text, self.replace_start)
        el, ec = offset_to_lsp(self.text, self.replace_end)
        return {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}

    def edit(self, proof: str) -> dict:
        """A WorkspaceEdit (versioned) putting ``proof`` in place."""
        return {"documentChanges": [{"textDocument": {"uri": self.uri, "version": self.version},
                                     "edits": [{"range": self.lsp_range(), "newText": self.replacement(proof)}]}]}


def sorry_at(text: str, offset: int) -> SorryLocation | None:
    """The ``sorry`` token under (or right after) ``offset``."""
    for location in locate_sorries(text):
        if location.start <= offset <= location.end:
            return location
    return None


def _in_tactic_block(text: str, offset: int) -> bool:
    decl = find_declaration(text, offset)
    if decl is None:
        # blank lines right after a declaration (where the next tactic is typed)
        before = text[:offset]
        stripped = before.rstrip()
        if not stripped or before[len(stripped):].count("\n") > 1:
            return False
        decl = find_declaration(text, len(stripped) - 1)
        if decl is None:
            return False
    if decl.body_start is None or offset < decl.body_start:
        return False
    return bool(_BY.search(text, decl.body_start, offset))


def _expected_indent(text: str, line_start: int) -> int:
    """Indentation of the next tactic after the last non-blank line above ``line_start``."""
    above = text[:line_start].rstrip()
    if not above:
        return 0
    previous = above[above.rfind("\n") + 1 :]
    indent = len(previous) - len(previous.lstrip(" "))
    if _BY.search(previous) and previous.rstrip().endswith("by"):
        return indent + 2
    return indent


_HEAD = re.compile(r"(/--|/-!|@\[|#|(?:theorem|lemma|def|example|instance|abbrev|opaque|structure|class|inductive|"
                   r"axiom|private|protected|noncomputable|partial|unsafe|nonrec|scoped|local|namespace|end|section|"
                   r"open|variable|universe|set_option|import|attribute|macro|syntax|elab|notation|mutual)\b)")


def segment(text: str, offset: int) -> tuple[int, int]:
    """The part of ``text`` around ``offset`` holding its declaration: from after the blank
    line above the nearest column-0 command head at or above ``offset``, to the next line
    that starts at column 0 after it. Keeps the editor-path work proportional to one
    declaration, not to the file."""
    line_start = text.rfind("\n", 0, offset) + 1
    start = line_start
    while True:
        if _HEAD.match(text, start):
            break
        if start == 0:
            return 0, len(text)
        start = text.rfind("\n", 0, start - 1) + 1
    while start > 0:  # the head's attributes, doc comment and modifiers: up to a blank line
        above = text.rfind("\n", 0, start - 1) + 1
        if not text[above : start - 1].strip():
            break
        start = above
    end = text.find("\n", offset)
    while end >= 0:
        nxt = end + 1
        if nxt < len(text) and text[nxt] not in " \t\n\r":
            return start, nxt
        end = text.find("\n", nxt)
    return start, len(text)


def _shift_target(local: SuggestTarget, text: str, start: int, end: int) -> SuggestTarget:
    """A target computed on ``text[start:end]`` moved to the whole ``text``."""
    line0 = text.count("\n", 0, start)
    check_text = local.check_text if local.check_text is local.text else None
    full_check = text if check_text is not None else text[:start] + local.check_text + text[end:]
    d, h, c = local.check.decl, local.check.hole, local.check

    def move(value: int | None) -> int | None:
        return None if value is None else value + start

    decl = dataclasses.replace(d, start=d.start + start, end=d.end + start, keyword_start=d.keyword_start + start,
                               name_start=move(d.name_start), name_end=move(d.name_end), body_start=move(d.body_start))
    hole = dataclasses.replace(h, start=h.start + start, end=h.end + start)
    check = CheckTarget(c.uri, full_check, decl, hole, c.other_sorries, c.term_mode)
    sorry = local.sorry
    if sorry is not None:
        sorry = dataclasses.replace(sorry, start=sorry.start + start, end=sorry.end + start, line=sorry.line + line0)
    return SuggestTarget(local.uri, local.version, local.kind, text, full_check, check, local.replace_start + start,
                         local.replace_end + start, sorry, local.lead)


def target_at(uri: str, version: int, text: str, line: int, character: int, *,
              allow_line: bool = True) -> SuggestTarget | None:
    """The target at an LSP position, or ``None`` (not in a proof, or not a place for tactics)."""
    offset = lsp_to_offset(text, line, character)
    start, end = segment(text, offset)
    if start == 0 and end == len(text):
        return _target_in(uri, version, text, offset, allow_line)
    local = _target_in(uri, version, text[start:end], offset - start, allow_line)
    return None if local is None else _shift_target(local, text, start, end)


def _target_in(uri: str, version: int, text: str, offset: int, allow_line: bool) -> SuggestTarget | None:
    location = sorry_at(text, offset)
    if location is not None:
        try:
            check = CheckTarget.for_sorry(uri, text, location)
        except ValueError:
            return None
        return SuggestTarget(uri, version, "sorry", text, text, check, location.start, location.end, location)
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    content = text[line_start:line_end]
    if not content.strip():
        if not _in_tactic_block(text, offset):
            return None
        column = min(offset - line_start, len(content))
        indent = _expected_indent(text, line_start)
        if column >= indent:
            start = line_start + column
            try:
                check = CheckTarget.at_cursor(uri, text, *offset_to_lsp(text, start))
            except ValueError:
                return None
            return SuggestTarget(uri, version, "cursor", text, text, check, start, start)
        # the cursor sits left of the block: check (and insert) at the block's indentation
        check_text = text[:line_start] + " " * indent + text[line_start + len(content):]
        hole = line_start + indent
        try:
            check = CheckTarget.at_cursor(uri, check_text, *offset_to_lsp(check_text, hole))
        except ValueError:
            return None
        return SuggestTarget(uri, version, "cursor", text, check_text, check, line_start,
                             line_start + len(content), lead=" " * indent)
    if not allow_line:
        return None
    indent = len(content) - len(content.lstrip(" "))
    if indent == 0:
        return None
    start, end = line_start + indent, line_start + len(content.rstrip())
    if offset < start or content.lstrip().startswith(("--", "/-", "·", ".")):
        return None
    check_text = text[:start] + text[end:]
    if not _in_tactic_block(check_text, start):
        return None
    try:
        check = CheckTarget.at_cursor(uri, check_text, *offset_to_lsp(check_text, start))
    except ValueError:
        return None
    return SuggestTarget(uri, version, "line", text, check_text, check, start, end)
