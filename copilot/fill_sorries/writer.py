"""Writing filled proofs back: text edits in UTF-16 positions, unified diffs, and atomic
writes that refuse a file changed since it was read, keep its line endings and byte-order mark,
and refuse a read-only file unless forced."""
from __future__ import annotations

import difflib
import hashlib
import itertools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lsp_proxy.documents import utf16_to_index

BOM = "\ufeff"


class ConcurrentModification(Exception):
    """The file changed on disk after we read it; nothing was written."""


class ReadOnlyFile(Exception):
    """The file is not writable by the user; nothing was written (``--force`` overrides)."""


@dataclass(frozen=True)
class Snapshot:
    """A file's text as read (without a UTF-8 byte-order mark, which ``bom`` remembers), with
    the hash of its bytes used to detect later changes."""

    path: Path
    text: str
    sha256: str
    bom: bool = False

    @property
    def newline(self) -> str:
        """The file's line ending: ``\\r\\n`` when its first line ends so, else ``\\n``."""
        return newline_of(self.text)


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
    """Read a Lean file (UTF-8, an optional byte-order mark set aside) and remember its hash."""
    data = path.read_bytes()
    text = data.decode("utf-8")
    bom = text.startswith(BOM)
    return Snapshot(path=path, text=text[1:] if bom else text, sha256=sha256_bytes(data), bom=bom)


def newline_of(text: str) -> str:
    """The line ending a text uses (that of its first line; ``\\n`` when it has none)."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def with_newlines(inserted: str, newline: str) -> str:
    """``inserted`` with every line break written as ``newline`` (the file's own)."""
    plain = inserted.replace("\r\n", "\n")
    return plain if newline == "\n" else plain.replace("\n", newline)


def check_writable(path: Path) -> None:
    """Raise :class:`ReadOnlyFile` when the user may not write ``path``, or when it has no
    write permission bit at all (``chmod a-w``: read-only on purpose, even for root)."""
    mode = path.stat().st_mode  # a missing file raises FileNotFoundError, not ReadOnlyFile
    if not os.access(path, os.W_OK) or not mode & 0o222:
        raise ReadOnlyFile(f"{path} is read-only; not written (use --force to write it anyway)")


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
    for (_, a_end, _), (b_start, _, _) in itertools.pairwise(spans):
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


def atomic_write(snapshot: Snapshot, new_text: str, *, force: bool = False) -> None:
    """Write ``new_text`` over ``snapshot.path`` atomically (temp file + rename), with the
    byte-order mark the file had and its permissions.

    Raises :class:`ConcurrentModification` (writing nothing) if the file on disk no longer
    has the hash it had when it was read, and :class:`ReadOnlyFile` when the user may not
    write it (unless ``force``: the rename then replaces it, keeping its mode).
    """
    path = snapshot.path
    try:
        current = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConcurrentModification(f"{path} was deleted since it was read; not written") from exc
    if sha256_bytes(current) != snapshot.sha256:
        raise ConcurrentModification(f"{path} changed since it was read; not written (run again to retry)")
    if not force:
        check_writable(path)
    if snapshot.bom:
        new_text = BOM + new_text
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
