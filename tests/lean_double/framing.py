"""LSP framing as Lean's server does it (lean-lsp-protocol.md §1.1).

Reading is strict: every header line ends in ``\\r\\n``, the header block ends with an empty
``\\r\\n`` line, ``Content-Length`` (exact spelling) is required and numeric, other headers are
ignored, and the body is exactly that many UTF-8 bytes. Anything else is a :class:`FramingError`,
which the double treats as fatal (Lean's watchdog dies on it). Writing produces compact JSON with
sorted keys and a single ``Content-Length`` header, like Lean.
"""
from __future__ import annotations

import json
from typing import Any, BinaryIO

MAX_HEADER_LINE = 64 * 1024


class FramingError(Exception):
    """The byte stream is not a well-formed LSP frame."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame: ``Content-Length: N\\r\\n\\r\\n`` and compact JSON with sorted keys."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def parse_header_line(line: bytes) -> tuple[str, str]:
    """Split one header line (with its ``\\r\\n``) into name and value, or raise FramingError."""
    if not line.endswith(b"\r\n"):
        raise FramingError(f"header line does not end in \\r\\n: {line[:80]!r}")
    name, sep, value = line[:-2].partition(b":")
    if not sep or not name or name != name.strip():
        raise FramingError(f"malformed header line: {line[:80]!r}")
    try:
        return name.decode("ascii"), value.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise FramingError(f"non-ASCII header line: {line[:80]!r}") from exc


def read_frame(stream: BinaryIO) -> bytes | None:
    """Read one frame body from a blocking binary stream; ``None`` on EOF before a frame starts."""
    length: int | None = None
    started = False
    while True:
        line = stream.readline(MAX_HEADER_LINE)
        if not line:
            if not started:
                return None
            raise FramingError("end of input inside a header")
        started = True
        if line == b"\r\n":
            break
        name, value = parse_header_line(line)
        if name == "Content-Length":
            if not value.isdigit():
                raise FramingError(f"Content-Length is not a number: {value!r}")
            length = int(value)
    if length is None:
        raise FramingError("missing Content-Length header")
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise FramingError(f"end of input inside a body ({len(body)} of {length} bytes)")
    return body
