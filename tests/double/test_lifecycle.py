"""Lifecycle and strictness of the double as a process: Lean's startup, shutdown and exit rules."""
from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SHARED
from tests.double.driver import FAST, Driver, frame
from tests.lean_double.capabilities import RECENT


def documented_initialize_result() -> dict:
    """The InitializeResult recorded from Lean 4.29/4.30, as lean-lsp-protocol.md §1.2 gives it."""
    doc = SHARED / "docs" / "lean-lsp-protocol.md"
    if not doc.exists():
        pytest.skip(f"protocol reference not available: {doc}")
    section = doc.read_text(encoding="utf-8").split("#### InitializeResult: exact capability list", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


async def started(*options: str) -> Driver:
    return await Driver.start(*FAST, *options)


async def test_initialize_reply_register_watcher_and_clean_shutdown():
    """initialize gets the 4.30 capabilities and serverInfo, then the watcher registration; exit 0."""
    d = await started()
    reply = await d.initialize({"lean": {"silentDiagnosticSupport": True}})
    assert reply["result"] == documented_initialize_result()
    assert reply["result"]["capabilities"] == RECENT
    reg = next(m for m in d.messages if m.get("id") == "register_lean_watcher")
    assert reg["method"] == "client/registerCapability"
    [registration] = reg["params"]["registrations"]
    assert registration["method"] == "workspace/didChangeWatchedFiles"
    assert [w["globPattern"] for w in registration["registerOptions"]["watchers"]] == ["**/*.lean", "**/*.ilean"]
    await d.send({"jsonrpc": "2.0", "id": "register_lean_watcher", "result": None})  # ignored
    assert await d.shutdown() == 0
    # Frames only on stdout, compact with sorted keys.
    first_body = bytes(d.raw).split(b"\r\n\r\n", 1)[1]
    assert first_body.startswith(b'{"id":1,"jsonrpc":"2.0","result":{"capabilities":{"callHierarchyProvider":true')


async def test_older_lean_version_has_the_older_capability_shape():
    """--lean-version 4.9 drops the capabilities added later."""
    d = await started("--lean-version", "4.9")
    caps = (await d.initialize())["result"]["capabilities"]
    for key in ("colorProvider", "signatureHelpProvider", "experimental"):
        assert key not in caps
    assert "source.organizeImports" not in caps["codeActionProvider"]["codeActionKinds"]
    assert "leanSorryLike" not in caps["semanticTokensProvider"]["legend"]["tokenTypes"]
    assert await d.shutdown() == 0


async def expect_fatal(d: Driver, fragment: str) -> None:
    assert await d.wait_exit() == 1
    assert fragment in await d.stderr_text()
    await d.kill()


async def test_first_message_must_be_initialize():
    """Anything before initialize kills the server with exit code 1 and a stderr line."""
    d = await started()
    await d.send_request("textDocument/hover", {"textDocument": {"uri": "file:///a.lean"},
                                                "position": {"line": 0, "character": 0}})
    await expect_fatal(d, "initialize")


async def test_initialize_requires_capabilities():
    """initialize without capabilities is fatal."""
    d = await started()
    await d.send_request("initialize", {"processId": None})
    await expect_fatal(d, "capabilities")


async def test_initialized_must_come_next():
    """A request between initialize and initialized is fatal."""
    d = await started()
    await d.request("initialize", {"capabilities": {}})
    await d.send_request("shutdown")
    await expect_fatal(d, "Expected method 'initialized'")


async def test_requests_after_shutdown_get_invalid_request_then_exit_0():
    """After shutdown, requests get -32600; exit ends with code 0."""
    d = await started()
    await d.initialize()
    assert (await d.request("shutdown"))["result"] is None
    reply = await d.request("$/lean/plainGoal", {"textDocument": {"uri": "file:///a.lean"},
                                                 "position": {"line": 0, "character": 0}})
    assert reply["error"] == {"code": -32600, "message": "Request received after 'shutdown' request."}
    await d.notify("exit")
    assert await d.wait_exit() == 0


async def test_eof_after_shutdown_is_exit_0_and_before_is_exit_1():
    """Closing stdin after shutdown exits 0; before shutdown it exits 1."""
    d = await started()
    await d.initialize()
    await d.request("shutdown")
    d.proc.stdin.close()
    assert await d.wait_exit() == 0
    d = await started()
    await d.initialize()
    d.proc.stdin.close()
    assert await d.wait_exit() == 1


async def test_exit_before_shutdown_is_fatal_but_exit_with_params_is_ignored():
    """`exit` without params before shutdown exits 1; with params it is only logged."""
    d = await started()
    await d.initialize()
    await d.notify("exit", {})
    reply = await d.request("workspace/symbol", {"query": ""})
    assert reply["result"] == []
    await d.notify("exit")
    await expect_fatal(d, "exit")


async def test_open_documents_are_closed_on_shutdown():
    """shutdown fails pending requests with -32801 and publishes [] for each open file."""
    d = await started()
    await d.initialize()
    await d.open("file:///a.lean", "theorem t (n : Nat) : n + 0 = n := by\n  simp\n")
    rid = await d.send_request("textDocument/waitForDiagnostics", {"uri": "file:///a.lean", "version": 7})
    assert (await d.request("shutdown"))["result"] is None
    failed = await d.reply(rid)
    assert failed["error"] == {"code": -32801, "message": "The file worker for file:///a.lean has been terminated."}
    assert d.notifications("textDocument/publishDiagnostics", "file:///a.lean")[-1]["diagnostics"] == []
    await d.notify("exit")
    assert await d.wait_exit() == 0


@pytest.mark.parametrize("message", [
    {"jsonrpc": "2.0", "id": 5, "method": "$/lean/plainGoal"},
    {"jsonrpc": "2.0", "method": "textDocument/didOpen"},
])
async def test_missing_params_are_fatal_in_strict_mode(message):
    """A request or notification without params kills the server (Lean's watchdog does)."""
    d = await started()
    await d.initialize()
    await d.send(message)
    await expect_fatal(d, "without params")


async def test_lenient_mode_accepts_missing_params():
    """--lenient-params keeps running and answers a param-less request with an error."""
    d = await started("--lenient-params")
    await d.initialize()
    reply = await d.request("$/lean/plainGoal")
    assert reply["error"]["code"] == -32602  # Lean: "Cannot parse request params: …"
    assert await d.shutdown() == 0


@pytest.mark.parametrize("raw,fragment", [
    (b"Content-Length: 2\n\n{}", "header"),
    (frame({"id": 9, "method": "shutdown"}), "jsonrpc"),
    (b"Content-Length: 5\r\n\r\n{oops", "JSON"),
    (frame({"jsonrpc": "2.0", "id": "register_lean_watcher", "error": {"code": 1, "message": "x"}}), "code"),
])
async def test_malformed_input_is_fatal(raw, fragment):
    """Bad framing, missing jsonrpc, bad JSON or undecodable error codes exit 1 with a stderr line."""
    d = await started()
    await d.initialize()
    await d.send_raw(raw)
    await expect_fatal(d, fragment)


async def test_runs_as_module_from_the_repo_root():
    """`python -m tests.lean_double` works from the repository root as well as the file path."""
    d = await Driver.start(*FAST, module=True)
    assert "capabilities" in (await d.initialize())["result"]
    assert await d.shutdown() == 0


async def test_unknown_methods_and_notifications():
    """Unknown requests get -32601; unknown notifications only a stderr line; $/ ones nothing."""
    d = await started()
    await d.initialize()
    reply = await d.request("textDocument/implementation", {"textDocument": {"uri": "file:///a.lean"}})
    assert reply["error"] == {"code": -32601, "message": "No request handler found for 'textDocument/implementation'"}
    await d.notify("workspace/didChangeConfiguration", {"settings": {}})
    await d.notify("$/setTrace", {"value": "off"})
    assert await d.shutdown() == 0
    err = await d.stderr_text()
    assert "Got unsupported notification: workspace/didChangeConfiguration" in err
    assert "setTrace" not in err
    assert all(json.dumps(m) for m in d.messages) and not d.undecodable
