"""Content-Length framing: partial and merged reads, UTF-8 lengths, oversize, garbage, EOF."""
from __future__ import annotations

import asyncio

import pytest

from lsp_proxy.errors import FrameTooLarge, FramingError, MalformedHeader, TruncatedFrame
from lsp_proxy.framing import FrameReader, encode_frame

BODIES = [
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}',
    '{"jsonrpc":"2.0","method":"x","params":{"text":"⊢ α 𝔽 ℕ"}}'.encode(),
    b"{}",
]


def reader_over(chunks: list[bytes], **kwargs) -> FrameReader:
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    return FrameReader(stream, **kwargs)


async def read_all(reader: FrameReader) -> list[bytes]:
    out = []
    while (body := await reader.read_frame()) is not None:
        out.append(body)
    return out


def test_encode_frame_counts_utf8_bytes():
    """The Content-Length header counts UTF-8 bytes, not characters."""
    body = '{"t":"⊢𝔽"}'.encode()
    assert encode_frame(body) == b"Content-Length: %d\r\n\r\n" % len(body) + body
    assert len(body) == len('{"t":"⊢𝔽"}') + 2 + 3


async def test_split_at_every_byte_boundary():
    """A stream cut into two pieces at any byte gives back exactly the same frames."""
    data = b"".join(encode_frame(b) for b in BODIES)
    for cut in range(len(data) + 1):
        reader = reader_over([data[:cut], data[cut:]])
        assert await read_all(reader) == BODIES, cut


async def test_one_byte_at_a_time():
    """Frames delivered one byte per read are reassembled."""
    data = b"".join(encode_frame(b) for b in BODIES)
    assert await read_all(reader_over([data[i : i + 1] for i in range(len(data))])) == BODIES


async def test_many_messages_in_one_read():
    """Hundreds of frames in one chunk come out in order."""
    bodies = [b'{"id":%d}' % i for i in range(500)]
    assert await read_all(reader_over([b"".join(encode_frame(b) for b in bodies)])) == bodies


async def test_content_type_and_header_case_tolerated():
    """Other headers (Content-Type) and any header case are accepted."""
    data = b"content-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-LENGTH: 2\r\n\r\n{}"
    assert await read_all(reader_over([data])) == [b"{}"]


async def test_bare_lf_header_tolerated():
    """A header terminated by bare newlines is still read."""
    assert await read_all(reader_over([b"Content-Length: 2\n\n{}" + encode_frame(b"[]")])) == [b"{}", b"[]"]


async def test_oversize_frame_skipped_and_reader_recovers():
    """A frame above max_size raises a recoverable FrameTooLarge and the next frame is read."""
    big = b"x" * 5000
    reader = reader_over([encode_frame(big)[:100], encode_frame(big)[100:] + encode_frame(b"{}")], max_size=1000)
    with pytest.raises(FrameTooLarge) as info:
        await reader.read_frame()
    assert info.value.recoverable and "5000" in str(info.value)
    assert await reader.read_frame() == b"{}"
    assert await reader.read_frame() is None


async def test_garbage_line_before_header_is_skipped(caplog):
    """Junk before a header is skipped up to the Content-Length line, and logged."""
    reader = reader_over([b"some junk printed by a tool\r\n" + encode_frame(b"{}") + encode_frame(b"[]")])
    assert await read_all(reader) == [b"{}", b"[]"]
    assert reader.resyncs == 1
    assert "garbage" in caplog.text


async def test_header_without_length_is_recoverable():
    """A header block with no Content-Length raises MalformedHeader, then reading continues."""
    reader = reader_over([b"X-Thing: 1\r\n\r\n" + encode_frame(b"{}")])
    with pytest.raises(MalformedHeader):
        await reader.read_frame()
    assert await reader.read_frame() == b"{}"


async def test_non_numeric_length_is_recoverable():
    """A non-numeric Content-Length is reported and skipped."""
    reader = reader_over([b"Content-Length: abc\r\n\r\n" + encode_frame(b"{}")])
    with pytest.raises(FramingError) as info:
        await reader.read_frame()
    assert info.value.recoverable
    assert await reader.read_frame() == b"{}"


async def test_truncated_body_at_eof():
    """EOF inside a body raises TruncatedFrame (not recoverable), then None."""
    reader = reader_over([b"Content-Length: 10\r\n\r\n{}"])
    with pytest.raises(TruncatedFrame) as info:
        await reader.read_frame()
    assert not info.value.recoverable and "2 of 10" in str(info.value)
    assert await reader.read_frame() is None


async def test_truncated_header_at_eof():
    """EOF inside a header raises TruncatedFrame; whitespace alone is a clean EOF."""
    with pytest.raises(TruncatedFrame):
        await reader_over([b"Content-Len"]).read_frame()
    assert await reader_over([b"\r\n"]).read_frame() is None


async def test_garbage_without_any_header_is_dropped():
    """A long run of bytes with no header terminator is dropped, keeping a later header."""
    junk = b"z" * 70000
    reader = reader_over([junk + encode_frame(b"{}")])
    assert await read_all(reader) == [b"{}"]


async def test_junk_glued_to_a_header_is_skipped():
    """Junk with no newline right before 'Content-Length:' is skipped (a stray print without newline)."""
    reader = reader_over([b"oops" + encode_frame(b"{}") + b"more junk\n" + encode_frame(b"[]")])
    assert await read_all(reader) == [b"{}", b"[]"]
    assert reader.resyncs == 2


async def test_large_body_across_reads_after_small_frames():
    """Small frames followed by a multi-megabyte frame split over many reads come out intact."""
    big = b'{"x":"' + b"a" * 3_000_000 + b'"}'
    data = encode_frame(b"{}") * 3 + encode_frame(big) + encode_frame(b"[]")
    chunks = [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
    assert await read_all(reader_over(chunks)) == [b"{}", b"{}", b"{}", big, b"[]"]


async def test_bogus_huge_length_resynchronises_at_the_next_header():
    """Content-Length 10^12 with no such body: the frame is reported (recoverable) and every
    later frame is still read, even when they arrive in separate chunks and byte by byte."""
    bogus = b"Content-Length: 1000000000000\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"trunc"
    data = b"".join(encode_frame(b) for b in BODIES)
    for chunks in ([bogus + data], [bogus, data], [bogus] + [data[i:i + 1] for i in range(len(data))]):
        reader = reader_over(chunks, max_size=1000)
        with pytest.raises(FrameTooLarge) as info:
            await reader.read_frame()
        assert info.value.recoverable
        assert await read_all(reader) == BODIES


async def test_oversize_frame_with_a_real_body_is_skipped_whole():
    """An oversize frame whose body does come is skipped entirely (no false resync inside it)."""
    big = b'{"text":"' + b"Content-Length: 5 inside a string " * 100 + b'"}'
    reader = reader_over([encode_frame(big) + encode_frame(b"{}")], max_size=100)
    with pytest.raises(FrameTooLarge):
        await reader.read_frame()
    assert await read_all(reader) == [b"{}"]


async def test_encode_frames_is_the_concatenation_of_single_frames():
    """The batch writer's framing equals frame-by-frame framing and reads back the same bodies."""
    from lsp_proxy.framing import encode_frames

    assert encode_frames(BODIES) == b"".join(encode_frame(b) for b in BODIES)
    assert await read_all(reader_over([encode_frames(BODIES)])) == BODIES
    assert encode_frames([]) == b""
