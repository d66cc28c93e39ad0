"""Router behaviour with in-memory editor and server: forwarding, ids, hooks, cancel, crashes."""
from __future__ import annotations

import asyncio
import json
import logging

import pytest

from lsp_proxy.connection import SERVER_RESTARTED
from lsp_proxy.errors import LeanExited, LeanRequestError, LeanTimeout, ResponseError
from lsp_proxy.framing import encode_frame
from lsp_proxy.hooks import DROP
from tests.lsp_proxy.memory import MemoryServer, Session, lean_like

URI = "file:///a.lean"


def did_open(text: str = "x", uri: str = URI, version: int = 1) -> dict:
    return {"method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": uri, "languageId": "lean4", "version": version, "text": text}}}


async def until(predicate, timeout: float = 2.0) -> None:
    async def poll():
        while not predicate():  # noqa: ASYNC110 - polls test state that has no event
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


async def test_bytes_forwarded_unchanged_both_ways():
    """Odd spacing and key order survive in both directions: original bytes are forwarded."""
    s = Session()
    await s.handshake()
    odd = b'{ "method" : "test/raw",  "params":{"b":1,"a":[ 1 ,2]}, "id":7 ,"jsonrpc":"2.0"}'
    s.send_raw(encode_frame(odd))
    await until(lambda: odd in s.server.raw_received)
    reply = b'{"result":{"z":1, "a":2},"id":7,"jsonrpc":"2.0"}'
    s.server.send_raw(encode_frame(reply))
    assert await s.editor.body() == reply
    note = b'{"jsonrpc":"2.0","method":"$/lean/fileProgress","params":{"processing":[] }}'
    s.server.send_raw(encode_frame(note))
    assert await s.editor.body() == note
    await s.close()


async def test_order_preserved_for_a_burst():
    """Thousands of interleaved notifications and requests reach the server in order."""
    s = Session()
    await s.handshake()
    s.send(did_open("", version=1))
    for i in range(2, 2000):
        if i % 7 == 0:
            s.send({"id": 1000 + i, "method": "textDocument/hover", "params": {"textDocument": {"uri": URI}}})
        else:
            s.send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": i},
                "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 0}}, "text": "a"}]}})
    await until(lambda: len(s.server.received) >= 2 + 1998)
    sent = [m.get("params", {}).get("textDocument", {}).get("version") or m.get("id") for m in s.server.received[3:]]
    expected = [1000 + i if i % 7 == 0 else i for i in range(2, 2000)]
    assert sent == expected
    assert s.router.documents.get(URI).text == "a" * sum(1 for i in range(2, 2000) if i % 7)
    await s.close()


async def test_injected_request_ids_and_reply_consumed():
    """Proxy requests use "lcp:N" ids; their replies resolve the call and never reach the editor."""
    s = Session()
    await s.handshake()
    result = await s.router.request("test/echo", {"q": 1}, timeout=2)
    assert result == {"echo": {"q": 1}}
    injected = [m for m in s.server.received if m.get("method") == "test/echo"]
    assert injected[0]["id"].startswith("lcp:")
    assert s.editor.nothing_pending()
    await s.close()


async def test_injected_request_error_timeout_and_cancel():
    """An error reply raises LeanRequestError; a timeout raises LeanTimeout and cancels in Lean."""
    def handler(server: MemoryServer, message: dict) -> None:
        if message.get("method") == "test/fail":
            server.send({"id": message["id"], "error": {"code": -32801, "message": "File changed."}})
        else:
            lean_like(server, message)

    s = Session(handler)
    await s.handshake()
    with pytest.raises(LeanRequestError) as info:
        await s.router.request("test/fail", {}, timeout=2)
    assert info.value.code == -32801
    with pytest.raises(LeanTimeout):
        await s.router.request("test/never", {}, timeout=0.05)
    await until(lambda: any(m.get("method") == "$/cancelRequest" for m in s.server.received))
    never = next(m for m in s.server.received if m.get("method") == "test/never")
    cancel = next(m for m in s.server.received if m.get("method") == "$/cancelRequest")
    assert cancel["params"]["id"] == never["id"]
    # A late reply to the cancelled request is dropped, not forwarded.
    s.server.send({"id": never["id"], "result": 1})
    await asyncio.sleep(0.05)
    assert s.editor.nothing_pending()
    await s.close()


async def test_cancelling_the_awaiting_task_sends_cancel_request():
    """Cancelling the task awaiting a proxy request sends $/cancelRequest for its id."""
    s = Session()
    await s.handshake()
    task = asyncio.ensure_future(s.router.request("test/never", {}))
    await until(lambda: any(m.get("method") == "test/never" for m in s.server.received))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: any(m.get("method") == "$/cancelRequest" for m in s.server.received))
    await s.close()


async def test_editor_id_that_looks_like_ours_is_aliased():
    """An editor string id "lcp:1" is renamed towards Lean and restored in the reply."""
    s = Session()
    await s.handshake()
    s.send({"id": "lcp:1", "method": "test/echo", "params": {}})
    reply = await s.editor.message()
    assert reply["id"] == "lcp:1" and reply["result"] == {"echo": {}}
    seen = next(m for m in s.server.received if m.get("method") == "test/echo")
    assert seen["id"] != "lcp:1"
    await s.close()


async def test_request_editor_reply_not_forwarded_to_lean():
    """request_editor uses "lcp-e:N"; the editor's reply resolves it and Lean never sees it."""
    s = Session()
    await s.handshake()
    task = asyncio.ensure_future(s.router.request_editor("workspace/applyEdit", {"edit": {}}))
    outgoing = await s.editor.message()
    assert outgoing["id"].startswith("lcp-e:")
    count = len(s.server.received)
    s.send({"id": outgoing["id"], "result": {"applied": True}})
    assert await asyncio.wait_for(task, 2) == {"applied": True}
    await asyncio.sleep(0.02)
    assert len(s.server.received) == count
    await s.close()


async def test_lean_request_forwarded_and_error_reply_made_lean_safe():
    """Lean's requests reach the editor as sent; an editor error code Lean can't parse becomes -32603."""
    s = Session()
    await s.handshake()
    raw = b'{"id":0,"jsonrpc":"2.0","method":"window/workDoneProgress/create","params":{"token":"t"}}'
    s.server.send_raw(encode_frame(raw))
    assert await s.editor.body() == raw
    s.send({"id": 0, "error": {"code": -32803, "message": "failed"}})
    await until(lambda: any(m.get("error") for m in s.server.received))
    error = next(m for m in s.server.received if m.get("error"))
    assert error["error"]["code"] == -32603
    await s.close()


async def test_request_interceptor_answers_and_lean_never_sees_it():
    """A claimed request is answered by the handler; Lean never receives it."""
    s = Session()

    async def status(params):
        return {"ok": True, "params": params}

    s.router.hooks.intercept_request("$/leanCompanion/status", status)
    await s.handshake()
    s.send({"id": 5, "method": "$/leanCompanion/status", "params": {"a": 1}})
    assert await s.editor.message() == {"jsonrpc": "2.0", "id": 5, "result": {"ok": True, "params": {"a": 1}}}
    assert not any(m.get("method", "").startswith("$/leanCompanion") for m in s.server.received)
    s.send({"id": 6, "method": "$/leanCompanion/unknown", "params": {}})
    reply = await s.editor.message()
    assert reply["error"]["code"] == -32601
    await s.close()


async def test_interceptor_with_predicate_errors_and_cancel():
    """`when` decides what is claimed; ResponseError and crashes become error replies; cancel gives -32800."""
    s = Session()
    gate = asyncio.Event()

    async def execute(params):
        command = params["command"]
        if command == "companion.fail":
            raise ResponseError(-32602, "bad arguments")
        if command == "companion.crash":
            raise RuntimeError("boom")
        await gate.wait()
        return "done"

    s.router.hooks.intercept_request("workspace/executeCommand", execute,
                                     when=lambda p: p["command"].startswith("companion."))
    await s.handshake()
    s.send({"id": 1, "method": "workspace/executeCommand", "params": {"command": "companion.fail"}})
    assert (await s.editor.message())["error"] == {"code": -32602, "message": "bad arguments"}
    s.send({"id": 2, "method": "workspace/executeCommand", "params": {"command": "companion.crash"}})
    reply = await s.editor.message()
    assert reply["error"]["code"] == -32603 and "boom" in reply["error"]["message"]
    s.send({"id": 3, "method": "workspace/executeCommand", "params": {"command": "companion.wait"}})
    await asyncio.sleep(0.02)
    s.send({"method": "$/cancelRequest", "params": {"id": 3}})
    assert await s.editor.message() == {"jsonrpc": "2.0", "id": 3, "error": {"code": -32800, "message": ""}}
    s.send({"id": 4, "method": "workspace/executeCommand", "params": {"command": "lean.other"}})
    await until(lambda: any(m.get("id") == 4 for m in s.server.received))
    assert not any(m.get("method") == "$/cancelRequest" for m in s.server.received)
    await s.close()


async def test_cancel_for_forwarded_request_goes_to_lean():
    """$/cancelRequest for a request Lean is handling is forwarded untouched."""
    s = Session()
    await s.handshake()
    s.send({"id": 9, "method": "textDocument/hover", "params": {}})
    s.send({"method": "$/cancelRequest", "params": {"id": 9}})
    await until(lambda: any(m.get("method") == "$/cancelRequest" for m in s.server.received))
    await s.close()


def completion_handler(server: MemoryServer, message: dict) -> None:
    if message.get("method") == "textDocument/completion":
        server.send({"id": message["id"], "result": {"isIncomplete": False, "items": [{"label": "lean"}]}})
    else:
        lean_like(server, message)


async def test_response_transformer_merges_and_sees_params():
    """A response transformer gets the request params and Lean's result and may replace it."""
    s = Session(completion_handler)
    seen = []

    async def merge(params, result):
        seen.append(params)
        return {**result, "items": result["items"] + [{"label": "ours"}]}

    s.router.hooks.transform_response("textDocument/completion", merge)
    await s.handshake()
    s.send({"id": 3, "method": "textDocument/completion", "params": {"position": {"line": 1}}})
    reply = await s.editor.message()
    assert [i["label"] for i in reply["result"]["items"]] == ["lean", "ours"]
    assert seen == [{"position": {"line": 1}}]
    await s.close()


@pytest.mark.parametrize("failure", ["raise", "timeout"])
async def test_response_transformer_fails_open(failure, caplog):
    """A transformer that raises or overruns its deadline leaves Lean's bytes untouched, with a warning."""
    s = Session(completion_handler)

    async def broken(params, result):
        if failure == "raise":
            raise ValueError("broken feature")
        await asyncio.sleep(10)

    s.router.hooks.transform_response("textDocument/completion", broken, deadline=0.05)
    await s.handshake()
    s.send({"id": 3, "method": "textDocument/completion", "params": {}})
    reply = await s.editor.message()
    assert reply["result"]["items"] == [{"label": "lean"}]
    assert "passing the result on unchanged" in caplog.text


async def test_broken_hook_is_switched_off_after_repeated_failures(caplog):
    """After MAX_FAILURES consecutive exceptions the hook is disabled and no longer called."""
    s = Session(completion_handler)
    calls = []

    async def broken(params, result):
        calls.append(1)
        raise ValueError("always")

    s.router.hooks.transform_response("textDocument/completion", broken)
    await s.handshake()
    for i in range(8):
        s.send({"id": 100 + i, "method": "textDocument/completion", "params": {}})
        assert (await s.editor.message())["result"]["items"] == [{"label": "lean"}]
    assert len(calls) == 5
    assert "switched off" in caplog.text
    await s.close()


async def test_notification_transformer_merge_drop_and_failure():
    """publishDiagnostics can be merged into, dropped, and a failing transformer passes it on."""
    s = Session()
    mode = {"value": "merge"}

    def merge(params):
        if mode["value"] == "drop":
            return DROP
        if mode["value"] == "fail":
            raise KeyError("oops")
        return {**params, "diagnostics": params["diagnostics"] + [{"message": "ours"}]}

    s.router.hooks.transform_notification("textDocument/publishDiagnostics", merge)
    await s.handshake()
    diag = {"method": "textDocument/publishDiagnostics", "params": {"uri": URI, "diagnostics": [{"message": "lean"}]}}
    s.server.send(diag)
    assert [d["message"] for d in (await s.editor.message())["params"]["diagnostics"]] == ["lean", "ours"]
    mode["value"] = "drop"
    s.server.send(diag)
    mode["value"] = "fail"
    s.server.send(diag)
    assert [d["message"] for d in (await s.editor.message())["params"]["diagnostics"]] == ["lean"]
    await s.close()


async def test_private_uri_notifications_go_to_subscribers_only():
    """Lean's notifications about a private URI reach subscribers but not the editor."""
    s = Session()
    got = []
    s.router.subscribe(lambda method, params: got.append((method, params)))
    await s.handshake()
    s.router.set_private_uri("file:///shadow.lean")
    s.server.send({"method": "textDocument/publishDiagnostics", "params": {"uri": "file:///shadow.lean", "diagnostics": []}})
    s.server.send({"method": "$/lean/fileProgress", "params": {"textDocument": {"uri": "file:///shadow.lean"}, "processing": []}})
    s.server.send({"method": "textDocument/publishDiagnostics", "params": {"uri": URI, "diagnostics": []}})
    assert (await s.editor.message())["params"]["uri"] == URI
    assert [m for m, _ in got] == ["textDocument/publishDiagnostics", "$/lean/fileProgress", "textDocument/publishDiagnostics"]
    assert s.editor.nothing_pending()
    await s.close()


async def test_initialize_hook_advertises_and_initialize_result_is_leans():
    """on_initialize changes what the editor sees; initialize_result keeps Lean's original."""
    s = Session()

    def advertise(result):
        result["capabilities"]["executeCommandProvider"] = {"commands": ["companion.fill"]}
        return result

    s.router.hooks.on_initialize(advertise)
    s.start()
    s.send({"id": 0, "method": "initialize", "params": {"capabilities": {}}})
    reply = await s.editor.message()
    assert reply["result"]["capabilities"]["executeCommandProvider"] == {"commands": ["companion.fill"]}
    assert "executeCommandProvider" not in s.router.initialize_result["capabilities"]
    await s.close()


async def test_requests_without_params_are_repaired():
    """A request or notification without params gets params {} (Lean would stop otherwise)."""
    s = Session()
    await s.handshake()
    s.send_raw(encode_frame(b'{"jsonrpc":"2.0","id":4,"method":"textDocument/hover"}'))
    s.send_raw(encode_frame(b'{"jsonrpc":"2.0","method":"workspace/didChangeConfiguration","params":null}'))
    s.send_raw(encode_frame(b'{"jsonrpc":"2.0","id":5,"method":"shutdown"}'))
    await until(lambda: len(s.server.received) >= 5)
    hover, config, shutdown = s.server.received[2:5]
    assert hover["params"] == {} and config["params"] == {}
    assert "params" not in shutdown
    await s.close()


async def test_editor_parse_error_answered_and_session_continues():
    """Non-JSON from the editor gets a -32700 reply with id null; later messages still flow."""
    s = Session()
    await s.handshake()
    s.send_raw(encode_frame(b"{not json"))
    reply = await s.editor.message()
    assert reply["id"] is None and reply["error"]["code"] == -32700
    s.send({"id": 2, "method": "test/echo", "params": {}})
    assert (await s.editor.message())["id"] == 2
    await s.close()


async def test_lean_garbage_skipped_session_continues(caplog):
    """Junk on Lean's stdout is skipped and logged; the next frame is delivered."""
    s = Session()
    await s.handshake()
    s.server.send_raw(b"Traceback (most recent call last)\n")
    s.server.send({"id": 1, "result": "ok"})
    assert (await s.editor.message())["result"] == "ok"
    assert "garbage" in caplog.text
    await s.close()


def crashy(server: MemoryServer, message: dict) -> None:
    if message.get("method") == "test/crash":
        server.crash(3)
    elif message.get("method") == "test/text":
        server.send({"id": message["id"], "result": {"n": server.number}})
    elif message.get("method") == "textDocument/hover":
        pass  # never answered
    else:
        lean_like(server, message)


async def test_crash_restart_replays_and_answers_in_flight(caplog):
    """After a crash: in-flight requests get errors, the server is re-initialised, documents re-opened
    with mirrored text, queued messages follow, the duplicate watcher registration is swallowed."""
    caplog.set_level(logging.INFO)
    s = Session(crashy)
    events = []
    s.router.subscribe(lambda method, params: events.append(method))
    await s.handshake()
    s.send(did_open("hello 𝔽", version=1))
    s.send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": URI, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 8}, "end": {"line": 0, "character": 8}},
                                "text": "!"}]}})
    s.send({"id": 10, "method": "textDocument/hover", "params": {"textDocument": {"uri": URI}}})
    s.send({"id": 11, "method": "test/stats", "params": {}})
    await until(lambda: len(s.server.received) >= 6)
    injected = asyncio.ensure_future(s.router.request("test/never", {}))
    await until(lambda: len(s.server.received) >= 7)
    s.send({"id": 12, "method": "test/crash", "params": {}})
    replies = {}
    for _ in range(3):
        msg = await s.editor.message()
        replies[msg["id"]] = msg
    assert replies[10]["error"]["code"] == -32801 and URI in replies[10]["error"]["message"]
    assert replies[11]["error"]["code"] == -32902
    assert replies[12]["error"]["code"] == -32902
    with pytest.raises(LeanExited):
        await injected
    await until(lambda: len(s.servers) == 2 and len(s.server.received) >= 3)
    second = s.server
    assert [m.get("method") for m in second.received[:3]] == ["initialize", "initialized", "textDocument/didOpen"]
    assert second.received[0]["params"] == {"capabilities": {}}
    assert second.received[2]["params"]["textDocument"] == {
        "uri": URI, "languageId": "lean4", "version": 2, "text": "hello 𝔽!"}
    s.send({"id": 13, "method": "test/text", "params": {}})
    assert (await s.editor.message()) == {"jsonrpc": "2.0", "id": 13, "result": {"n": 2}}
    assert any(m.get("id") == "register_lean_watcher" and "result" in m for m in second.received)
    assert SERVER_RESTARTED in events
    await s.close()


async def test_repeated_crashes_give_up_until_next_edit():
    """Too many crashes in a minute: the user is told, requests get errors, an edit restarts Lean."""
    def always_crash_after_init(server: MemoryServer, message: dict) -> None:
        lean_like(server, message)
        if message.get("method") == "initialized" and server.number > 1 and server.number < 5:
            server.crash(4)

    s = Session(always_crash_after_init)
    await s.handshake()
    s.send(did_open("a"))
    s.server.crash(4)
    shown = await s.editor.message(timeout=3)
    assert shown["method"] == "window/showMessage" and "crashed 4 times" in shown["params"]["message"]
    s.send({"id": 20, "method": "textDocument/hover", "params": {"textDocument": {"uri": URI}}})
    reply = await s.editor.message()
    assert reply["id"] == 20 and reply["error"]["code"] == -32801
    s.send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": URI, "version": 2},
            "contentChanges": [{"text": "b"}]}})
    await until(lambda: len(s.servers) == 5 and len(s.server.received) >= 3)
    assert s.server.received[2]["params"]["textDocument"]["text"] == "b"
    s.send({"id": 21, "method": "test/echo", "params": {}})
    assert (await s.editor.message())["id"] == 21
    await s.close()


async def test_clean_shutdown_and_exit_code():
    """shutdown/exit pass through; run() returns Lean's exit code and no restart happens."""
    s = Session()
    await s.handshake()
    s.send({"id": 1, "method": "shutdown"})
    assert (await s.editor.message())["result"] is None
    s.send({"method": "exit"})
    assert await asyncio.wait_for(s.task, 3) == 0
    assert len(s.servers) == 1


async def test_editor_eof_stops_server():
    """When the editor goes away, the server is stopped and run() returns."""
    s = Session()
    await s.handshake()
    code = await s.close()
    assert code == 1
    assert s.server._exit.done()


async def test_editor_observer_sees_changes_after_mirror_update():
    """Observers of didChange run after the mirror holds the new text."""
    s = Session()
    texts = []
    s.router.hooks.observe("textDocument/didChange",
                           lambda method, params: texts.append(s.router.documents.get(URI).text),
                           direction=__import__("lsp_proxy.hooks", fromlist=["Direction"]).Direction.FROM_EDITOR)
    await s.handshake()
    s.send(did_open("a"))
    s.send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": URI, "version": 2},
            "contentChanges": [{"text": "bb"}]}})
    await until(lambda: texts)
    assert texts == ["bb"]
    await s.close()


async def test_params_must_be_object_or_array():
    """LeanConnection rejects scalar params before anything is sent."""
    s = Session()
    with pytest.raises(TypeError):
        await s.router.request("x", "bad")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await s.router.notify("x", None)  # type: ignore[arg-type]


async def test_injected_request_waits_for_handshake_and_fails_when_stopped():
    """A feature request sent before `initialized` waits for it, and fails with LeanExited on stop."""
    s = Session()
    s.start()
    early = asyncio.ensure_future(s.router.request("test/echo", {"early": True}))
    await asyncio.sleep(0.05)
    assert not early.done()
    s.send({"id": 0, "method": "initialize", "params": {"capabilities": {}}})
    s.send({"method": "initialized", "params": {}})
    assert await asyncio.wait_for(early, 2) == {"echo": {"early": True}}
    methods = [m.get("method") for m in s.server.received]
    assert methods.index("test/echo") > methods.index("initialized")
    await s.close()

    s2 = Session()
    s2.start()
    waiting = asyncio.ensure_future(s2.router.request("test/echo", {}))
    await asyncio.sleep(0.02)
    await s2.close()
    with pytest.raises(LeanExited):
        await asyncio.wait_for(waiting, 2)


async def test_frames_arriving_together_are_written_together():
    """A burst read in one chunk goes out in very few writes, in order, in both directions."""
    s = Session()
    await s.handshake()
    await asyncio.sleep(0.02)
    before = s.server.stdin.writes
    burst = b"".join(encode_frame(b'{"jsonrpc":"2.0","method":"x/n","params":{"i":%d}}' % i) for i in range(50))
    s.send_raw(burst)
    await until(lambda: sum(1 for m in s.server.received if m.get("method") == "x/n") == 50)
    assert s.server.stdin.writes - before <= 3
    assert [m["params"]["i"] for m in s.server.received if m.get("method") == "x/n"] == list(range(50))
    before = s.editor.writes
    s.server.send_raw(burst)
    bodies = [await s.editor.body() for _ in range(50)]
    assert s.editor.writes - before <= 3
    assert [json.loads(b)["params"]["i"] for b in bodies] == list(range(50))
    await s.close()


async def test_editor_error_reply_with_valid_code_passes_byte_for_byte():
    """An editor error reply Lean can parse is forwarded as its original bytes."""
    s = Session()
    await s.handshake()
    raw = b'{"jsonrpc":"2.0", "id":3, "error":{"code":-32601,"message":"nope"}}'
    s.send_raw(encode_frame(raw))
    await until(lambda: raw in s.server.raw_received)
    await s.close()
