"""Writing filled proofs back: text edits in UTF-16 positions, unified diffs, and atomic
writes that refuse a file changed since it was read."""
from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lsp_proxy.documents import utf16_to_index


class ConcurrentModification(Exception):
    """The file changed on disk after we read it; nothing was written."""


@dataclass(frozen=True)
class Snapshot:
    """A file's text as read, with the hash used to detect later changes."""

    path: Path
    text: str
    sha256: str


@dataclass(frozen=True)
class Replacement:
    """Replace ``length`` UTF-16 code units at (0-based ``line``, UTF-16 ``character``)."""

    line: int
    character: int
    length: int
    text: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_snapshot(path: Path) -> Snapshot:
    """Read a Lean file (UTF-8) and remember its hash."""
    data = path.read_bytes()
    return Snapshot(path=path, text=data.decode("utf-8"), sha256=sha256_bytes(data))


def apply_replacements(text: str, replacements: list[Replacement]) -> str:
    """Apply non-overlapping replacements (any order given; applied from the end)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    spans = []
    for r in replacements:
        if r.line >= len(lines):
            raise ValueError(f"replacement at line {r.line + 1} is past the end of the file")
        line_text = lines[r.line]
        start = utf16_to_index(line_text, r.character)
        end = utf16_to_index(line_text, r.character + r.length)
        spans.append((offsets[r.line] + start, offsets[r.line] + end, r.text))
    spans.sort()
    for (a_start, a_end, _), (b_start, _, _) in zip(spans, spans[1:]):
        if b_start < a_end:
            raise ValueError("overlapping replacements")
    for start, end, new in reversed(spans):
        text = text[:start] + new + text[end:]
    return text


def unified_diff(path: str, old: str, new: str) -> str:
    """A unified diff of one file, as ``git diff`` would show it."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{path}", tofile=f"b/{path}"
        )
    )


def atomic_write(snapshot: Snapshot, new_text: str) -> None:
    """Write ``new_text`` over ``snapshot.path`` atomically (temp file + rename).

    Raises :class:`ConcurrentModification` (writing nothing) if the file on disk no longer
    has the hash it had when it was read.
    """
    path = snapshot.path
    try:
        current = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConcurrentModification(f"{path} was deleted since it was read; not written") from exc
    if sha256_bytes(current) != snapshot.sha256:
        raise ConcurrentModification(f"{path} changed since it was read; not written (run again to retry)")
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".lean-companion.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        # Last check right before the rename narrows the window for a racing editor save.
        if sha256_bytes(path.read_bytes()) != snapshot.sha256:
            raise ConcurrentModification(f"{path} changed while writing; not written (run again to retry)")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
