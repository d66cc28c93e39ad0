"""Malformed editor traffic never ends the session (issue 11, proxy section): one guarded path
forwards what the mirror cannot apply, and a dead pump or writer ends the process loudly."""
from __future__ import annotations

import asyncio
import json
import logging

from lsp_proxy.framing import encode_frame
from tests.lsp_proxy.memory import Session, lean_like

URI = "file:///a.lean"


async def until(predicate, timeout: float = 2.0) -> None:
    async def poll():
        while not predicate():  # noqa: ASYNC110 - polls test state that has no event
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


def full_change(text: str, version: int) -> dict:
    return {"method": "textDocument/didChange",
            "params": {"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": text}]}}


async def echo_works(s: Session, id_: int) -> None:
    s.send({"id": id_, "method": "test/echo", "params": {"n": id_}})
    reply = await s.editor.message()
    assert reply == {"jsonrpc": "2.0", "id": id_, "result": {"echo": {"n": id_}}}


async def test_non_utf8_did_open_is_forwarded_and_the_session_survives():
    """A didOpen whose text is not UTF-8 reaches Lean byte for byte; the document becomes
    unknown to the mirror, later traffic flows, and a full didChange resyncs it."""
    s = Session()
    await s.handshake()
    bad = (b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"' + URI.encode()
           + b'","languageId":"lean4","version":1,"text":"caf\xe9 \xff"}}}')
    s.send_raw(encode_frame(bad))
    await until(lambda: bad in s.server.raw_received)
    assert s.router.documents.is_unknown(URI)
    await echo_works(s, 1)
    s.send(full_change("theorem t : True := trivial", 2))
    await until(lambda: s.router.documents.get(URI) is not None)
    assert s.router.documents.get(URI).text == "theorem t : True := trivial"
    assert s.router.documents.get(URI).version == 2
    await echo_works(s, 2)
    await s.close()


async def test_did_change_with_an_object_for_content_changes(caplog):
    """contentChanges as an object: forwarded untouched, logged once, the session goes on."""
    caplog.set_level(logging.WARNING, "lsp_proxy")
    s = Session()
    await s.handshake()
    s.send({"method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": URI, "languageId": "lean4", "version": 1, "text": "abc"}}})
    odd = {"method": "textDocument/didChange",
           "params": {"textDocument": {"uri": URI, "version": 2}, "contentChanges": {"text": "zzz"}}}
    for _ in range(3):
        s.send(odd)
    await until(lambda: sum(1 for m in s.server.received if m.get("params", {}).get("contentChanges") == {"text": "zzz"}) == 3)
    assert s.router.documents.is_unknown(URI)
    await echo_works(s, 1)
    assert sum("could not mirror" in r.getMessage() for r in caplog.records) == 1
    await s.close()


async def test_a_dead_writer_ends_the_session_with_a_log_line(caplog):
    """A bug that kills a pump or writer ends the session (exit code 70) with a critical log
    line instead of freezing or restarting Lean in a loop."""
    caplog.set_level(logging.CRITICAL, "lsp_proxy")
    s = Session()
    await s.handshake()

    def broken(data: bytes) -> None:
        raise TypeError("a bug in the editor sink")

    s.editor.write = broken  # type: ignore[method-assign]
    s.server.send({"method": "window/logMessage", "params": {"type": 3, "message": "hi"}})
    assert await asyncio.wait_for(s.task, 5) == 70
    assert any("task died" in r.getMessage() for r in caplog.records)
    assert len(s.servers) == 1


async def test_late_cancel_for_an_aliased_id_never_reaches_lean_in_our_id_space():
    """An editor request id that looks like ours is aliased; a $/cancelRequest for it that comes
    after the reply must not reach Lean (it would name one of the proxy's own requests)."""
    s = Session()
    await s.handshake()
    s.send({"id": "lcp:1", "method": "test/echo", "params": {}})
    reply = await s.editor.message()
    assert reply["id"] == "lcp:1"
    s.send({"method": "$/cancelRequest", "params": {"id": "lcp:1"}})
    await echo_works(s, 7)
    cancels = [m for m in s.server.received if m.get("method") == "$/cancelRequest"]
    assert cancels == []
    await s.close()


async def test_float_and_bool_request_ids():
    """A float id is forwarded and answered with the id as given; a bool id (invalid) is answered
    -32600 with that id, never a -32700 with id null."""
    s = Session()
    await s.handshake()
    s.send({"id": 1.5, "method": "test/echo", "params": {}})
    assert (await s.editor.message())["id"] == 1.5
    s.send({"id": True, "method": "test/echo", "params": {}})
    reply = await s.editor.message()
    assert reply["id"] is True and reply["error"]["code"] == -32600
    assert not [m for m in s.server.received if m.get("id") is True]
    await s.close()


async def test_a_document_over_the_decode_limit_still_reaches_lean():
    """A didOpen bigger than the decode limit is forwarded byte for byte (not dropped); the
    mirror marks it unknown, and the session goes on."""
    s = Session(max_frame=1000)
    await s.handshake()
    big = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": URI, "languageId": "lean4", "version": 1, "text": "-- x\n" * 2000}}}).encode()
    s.send_raw(encode_frame(big))
    await until(lambda: big in s.server.raw_received)
    assert s.router.documents.is_unknown(URI)
    await echo_works(s, 3)
    await s.close()


async def test_rpc_references_in_both_encodings_pass_untouched():
    """RPC references ({"p": n} and Lean 4.30+'s {"__rpcref": n}) pass both ways byte for byte."""
    s = Session(handler=lambda server, message: (lean_like(server, message), rpc_reply(server, message)))
    await s.handshake()
    call = (b'{"jsonrpc":"2.0","id":4,"method":"$/lean/rpc/call","params":{"sessionId":"123","method":"m",'
            b'"params":{"a":{"p":"1"},"b":{"__rpcref":"2"}},"textDocument":{"uri":"file:///a.lean"},'
            b'"position":{"line":0,"character":0}}}')
    s.send_raw(encode_frame(call))
    await until(lambda: call in s.server.raw_received)
    assert await s.editor.body() == b'{"id":4,"jsonrpc":"2.0","result":[{"info":{"p":"7"}},{"info":{"__rpcref":"8"}}]}'
    await s.close()


def rpc_reply(server, message: dict) -> None:
    if message.get("method") == "$/lean/rpc/call":
        server.send_raw(encode_frame(
            b'{"id":%d,"jsonrpc":"2.0","result":[{"info":{"p":"7"}},{"info":{"__rpcref":"8"}}]}' % message["id"]))


async def test_initialize_observer_sees_the_params_and_lean_gets_the_request_unchanged():
    """observe_initialize: observers read the editor's initialize params (one that raises is
    logged and changes nothing); the request reaches Lean as it was sent."""
    s = Session()
    seen = []
    s.router.hooks.observe_initialize(seen.append)

    def broken(params):
        raise ValueError("observer bug")

    s.router.hooks.observe_initialize(broken)
    await s.handshake()
    assert seen == [{"capabilities": {}}]
    assert s.server.received[0] == {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"capabilities": {}}}
    await echo_works(s, 1)
    await s.close()


async def test_subscribers_per_method_and_nothing_else_decoded(monkeypatch):
    """A subscriber gets only the methods it asked for, and a Lean notification that no
    subscriber or hook wants is forwarded without being decoded."""
    from lsp_proxy import envelope

    s = Session()
    got = []
    s.router.subscribe(lambda method, params: got.append(method), ["textDocument/publishDiagnostics"])
    await s.handshake()
    decoded = []
    real = envelope.decode_any
    monkeypatch.setattr(envelope, "decode_any", lambda raw: decoded.append(bytes(raw)) or real(raw))
    log = b'{"jsonrpc":"2.0","method":"window/logMessage","params":{"type":3,"message":"m"}}'
    s.server.send_raw(encode_frame(log))
    assert await s.editor.body() == log
    assert decoded == []
    s.server.send({"method": "textDocument/publishDiagnostics", "params": {"uri": URI, "diagnostics": []}})
    await s.editor.body()
    assert got == ["textDocument/publishDiagnostics"] and len(decoded) == 1
    await s.close()
