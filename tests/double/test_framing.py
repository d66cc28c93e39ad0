"""Framing and JSON-RPC classification of the double, tested in-process on byte streams."""
from __future__ import annotations

import io
import json

import pytest

from tests.lean_double.framing import FramingError, encode, read_frame
from tests.lean_double.jsonrpc import ProtocolError, parse_message


def test_encode_is_compact_sorted_and_counts_utf8_bytes():
    """Output frames carry only Content-Length (UTF-8 bytes) and compact JSON with sorted keys."""
    data = encode({"jsonrpc": "2.0", "id": 1, "result": {"goal": "⊢ α"}})
    header, body = data.split(b"\r\n\r\n", 1)
    assert header == b"Content-Length: %d" % len(body)
    assert body.decode("utf-8") == '{"id":1,"jsonrpc":"2.0","result":{"goal":"⊢ α"}}'
    assert len(body) > len(body.decode("utf-8"))  # the length is in bytes, not characters


def test_read_frame_ignores_other_headers_and_reads_exact_bytes():
    """Content-Type is ignored and exactly Content-Length bytes are read, leaving the next frame."""
    body = json.dumps({"jsonrpc": "2.0", "method": "x", "params": {"t": "𝔽⊢"}}, ensure_ascii=False).encode()
    stream = io.BytesIO(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body + encode({"jsonrpc": "2.0", "method": "y"}))
    assert read_frame(stream) == body
    assert json.loads(read_frame(stream))["method"] == "y"
    assert read_frame(stream) is None


@pytest.mark.parametrize("raw", [
    b"Content-Length: 2\n\r\n{}",  # bare \n header line
    b"Content-Length: 2\r\n\n{}",  # bare \n terminator
    b"Content-Type: x\r\n\r\n{}",  # no Content-Length
    b"Content-Length: two\r\n\r\n{}",  # not numeric
    b"Content-Length: 10\r\n\r\n{}",  # truncated body
    b"Content-Length 2\r\n\r\n{}",  # no colon
    b"Content-Length: 2\r\n",  # EOF inside the header
])
def test_malformed_frames_are_errors(raw):
    """Every header or length defect is a FramingError (fatal in the double, as in Lean)."""
    with pytest.raises(FramingError):
        read_frame(io.BytesIO(raw))


def test_message_shapes_in_lean_order():
    """Requests need a number or string id; otherwise a method makes a notification; responses too."""
    assert parse_message(b'{"jsonrpc":"2.0","id":"a","method":"m","params":{}}').kind == "request"
    assert parse_message(b'{"jsonrpc":"2.0","id":null,"method":"m"}').kind == "notification"
    note = parse_message(b'{"jsonrpc":"2.0","method":"m","params":null}')
    assert note.kind == "notification" and not note.has_params
    assert parse_message(b'{"jsonrpc":"2.0","id":3,"result":null}').kind == "response"
    err = parse_message(b'{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no"}}')
    assert err.kind == "error" and err.error["code"] == -32601


@pytest.mark.parametrize("body", [
    b'{"id":1,"method":"m","params":{}}',  # no jsonrpc
    b'{"jsonrpc":"1.0","id":1,"method":"m"}',
    b'not json',
    b'[1, 2]',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}',  # code Lean does not decode
    b'{"jsonrpc":"2.0","id":1}',
    b'\xff\xfe',
])
def test_messages_lean_cannot_parse_are_protocol_errors(body):
    """Bodies Lean's decoder rejects raise ProtocolError."""
    with pytest.raises(ProtocolError):
        parse_message(body)
