"""Content-Length framing of LSP messages over asyncio streams (bytes only, no JSON).

``FrameReader.read_frame()`` returns each message body as bytes. Headers end in ``\\r\\n\\r\\n``
(a bare ``\\n\\n`` is tolerated); ``Content-Length`` counts UTF-8 bytes; other headers such as
``Content-Type`` are ignored. Garbage before a header is skipped up to the next
``Content-Length:`` line (logged); a header block without a usable length and an oversize frame
raise a *recoverable* :class:`~lsp_proxy.errors.FramingError` after the stream has been
resynchronised, so the caller may simply read on. An oversize frame's body is discarded as it
arrives, but only up to the next ``Content-Length: N\r\n`` header: a bogus length (10^12)
swallows nothing that follows it.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable

from lsp_proxy.errors import FrameTooLarge, MalformedHeader, TruncatedFrame

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 64 * 2**20
_READ_CHUNK = 256 * 1024
# A header block longer than this without a terminator is garbage, not a header.
_MAX_HEADER = 64 * 1024
# A header line that can only start a frame: "Content-Length: N" followed by CR LF.
_NEXT_HEADER = re.compile(rb"(?i)content-length[ \t]*:[ \t]*[0-9]+[ \t]*\r\n")
_HEADER_PROBE = 64  # bytes kept between reads so a header split across them is still found
_LENGTH_LINE = re.compile(rb"(?i)content-length[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?(?:\n|$)")


def encode_frame(body: bytes) -> bytes:
    """Frame one message body: ``Content-Length: <bytes>\\r\\n\\r\\n<body>``."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def encode_frames(bodies: Iterable[bytes]) -> bytes:
    """Frame several bodies into one buffer (one write for a batch); with :func:`encode_frame`
    the only place a header is written."""
    parts: list[bytes] = []
    for body in bodies:
        parts.append(b"Content-Length: %d\r\n\r\n" % len(body))
        parts.append(body)
    return b"".join(parts)


class FrameReader:
    """Reads Content-Length frames from an ``asyncio.StreamReader``."""

    def __init__(self, stream: asyncio.StreamReader, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._stream = stream
        self._max_size = max_size
        self._buf = bytearray()
        self._pos = 0  # start of the unread part of _buf
        self._eof = False
        self.resyncs = 0  # how many times bad bytes were skipped

    async def read_frame(self) -> bytes | None:
        """The next message body, or ``None`` at end of stream.

        Raises a :class:`~lsp_proxy.errors.FramingError`; when its ``recoverable`` is true
        the stream is already positioned at the next frame.
        """
        while True:
            header_end, sep_len = self._find_header_end()
            if header_end < 0:
                if len(self._buf) - self._pos > _MAX_HEADER:
                    self._skip_garbage_without_header()
                    continue
                if not await self._fill():
                    self._at_eof()
                    return None
                continue
            header = bytes(self._buf[self._pos : header_end])
            body_start = header_end + sep_len
            length = self._content_length(header)
            if length is None:
                self._pos = body_start
                self.resyncs += 1
                raise MalformedHeader(
                    f"skipped a header block without a valid Content-Length: {header[:200]!r}"
                )
            if length > self._max_size:
                await self._skip_body(body_start, length)
                self.resyncs += 1
                raise FrameTooLarge(
                    f"skipped a {length}-byte frame (limit {self._max_size} bytes)"
                )
            end = body_start + length
            if len(self._buf) < end:
                return await self._read_long_body(body_start, length)
            body = bytes(self._buf[body_start:end])
            self._pos = end
            return body

    def has_complete_frame(self) -> bool:
        """True if the next ``read_frame`` can return a frame without waiting for input.

        Conservative: False whenever unsure (an unusual header), never True wrongly.
        """
        header_end, sep_len = self._find_header_end()
        if header_end < 0:
            return False
        header = self._buf[self._pos : header_end]
        if not header.startswith(b"Content-Length: ") or not header[16:].isdigit():
            return False
        return len(self._buf) >= header_end + sep_len + int(header[16:])

    async def _read_long_body(self, body_start: int, length: int) -> bytes:
        """The body is not all buffered yet: read exactly what is missing."""
        have = len(self._buf) - body_start
        try:
            rest = await self._stream.readexactly(length - have)
        except asyncio.IncompleteReadError as exc:
            got = have + len(exc.partial)
            self._buf.clear()
            self._pos = 0
            self._eof = True
            raise TruncatedFrame(f"stream ended inside a frame: got {got} of {length} body bytes") from None
        body = bytes(self._buf[body_start:]) + rest
        self._buf.clear()
        self._pos = 0
        return body

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0

    def _find_header_end(self) -> tuple[int, int]:
        """Index of the header terminator in the buffer and its length, or (-1, 0)."""
        pos = self._pos
        crlf = self._buf.find(b"\r\n\r\n", pos)
        # A bare-LF header is tolerated, but only when it comes before any CRLF terminator.
        limit = crlf if crlf >= 0 else len(self._buf)
        lf = self._buf.find(b"\n\n", pos, limit)
        if lf >= 0 and (crlf < 0 or lf < crlf):
            return lf, 2
        return (crlf, 4) if crlf >= 0 else (-1, 0)

    def _content_length(self, header: bytes) -> int | None:
        """The Content-Length in a header block; garbage before it is skipped and logged."""
        if header.startswith(b"Content-Length: ") and header[16:].isdigit():
            return int(header[16:])  # the common case: one header, exactly as Lean and VS Code write it
        matches = list(_LENGTH_LINE.finditer(header))
        if not matches:
            return None
        match = matches[-1]
        if match.start() > 0:
            prefix = header[: match.start()]
            if not prefix.endswith(b"\n") or not all(
                _is_header_line(line) for line in prefix.splitlines() if line.strip()
            ):
                self.resyncs += 1
                logger.warning("skipped %d bytes of garbage before a header: %r", len(prefix), prefix[:200])
        value = match.group(1).strip()
        if not value.isdigit():
            return None
        return int(value)

    def _skip_garbage_without_header(self) -> None:
        """Drop buffered bytes that cannot start a header, keeping a possible 'Content-Length:'."""
        self._compact()
        idx = self._buf.lower().find(b"content-length:", 1)
        cut = idx if idx > 0 else len(self._buf) - 16
        logger.warning("skipped %d bytes of garbage with no header terminator", cut)
        self.resyncs += 1
        del self._buf[:cut]

    async def _skip_body(self, body_start: int, length: int) -> None:
        """Discard the body of an oversize frame without storing it, resynchronising early at
        the next ``Content-Length: N`` header line: a JSON body cannot hold one (a string
        cannot contain a raw CR or LF), so finding one means the oversize length was bogus
        (e.g. 10^12 with no such body coming) and the stream goes on from there."""
        self._pos = body_start
        remaining = length
        while True:
            available = len(self._buf) - self._pos
            take = min(available, remaining)
            match = _NEXT_HEADER.search(self._buf, self._pos, self._pos + take)
            if match is not None:
                logger.warning("a %d-byte frame over the limit was followed by a new header after %d bytes; "
                               "resynchronised there", length, length - remaining + match.start() - self._pos)
                self._pos = match.start()
                return
            if take == remaining:
                self._pos += take
                return
            keep = min(take, _HEADER_PROBE)  # a header may straddle the next read
            self._pos += take - keep
            remaining -= take - keep
            if not await self._fill():
                self._buf.clear()
                self._pos = 0
                return

    async def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = await self._stream.read(_READ_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._compact()
        self._buf += chunk
        return True

    def _at_eof(self) -> None:
        leftover = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        if leftover.strip():
            raise TruncatedFrame(f"stream ended inside a header: {leftover[:200]!r}")
        return None


def _is_header_line(line: bytes) -> bool:
    name, sep, _ = line.partition(b":")
    return bool(sep) and bool(name.strip()) and b" " not in name.strip()
