"""A recorded multi-file editor session against real Lean, and the tools to compare recordings.

The same script runs directly against ``lean --server``, through the bare proxy and through
``lean-companion serve``. The server command can be wrapped by :func:`tee_command`, which copies
both directions of Lean's own stdio to files, so what the editor got can be compared message by
message with what Lean sent *in the same run* (no timing differences between two runs to
normalise). Across runs, only answers that do not depend on timing are compared.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lsp_client import REPO, LspClient, answer_null

TIMEOUT = 90.0  # two shared cores: Lean is quick here, but the box may be busy

# Two prelude files: A with LF line ends; B with CRLF line ends and astral characters
# (two UTF-16 units each) before every position the session asks about.
FILE_A = """\
prelude
/-! Real-Lean session file A (LF line ends). -/
inductive Bool' where
  | tt | ff

inductive Eq' {α : Sort u} : α → α → Prop where
  | refl (a : α) : Eq' a a

def Bool'.id (b : Bool') : Bool' := b

theorem id_tt : Eq' (Bool'.id Bool'.tt) Bool'.tt := Eq'.refl Bool'.tt
theorem by_block : Eq' Bool'.tt Bool'.tt := by

#check id_tt
#check fals
"""

FILE_B = (
    "prelude\r\n"
    "-- astral: 𝔸 𝔹 (two UTF-16 code units each), CRLF line ends\r\n"
    "inductive 𝔸 where\r\n"
    "  | mk : 𝔸\r\n"
    "\r\n"
    "def 𝔸.𝕗 (x : 𝔸) : 𝔸 := x\r\n"
    "\r\n"
    "#check 𝔸.𝕗 𝔸.mk\r\n"
)

FILES = {"A.lean": FILE_A, "B.lean": FILE_B}
# As VS Code declares them: refresh requests supported (else the proxy answers them itself).
LEAN_CAPABILITIES: dict[str, Any] = {
    "textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]},
                     "completion": {"completionItem": {"snippetSupport": True}},
                     "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix"]}}},
                     "publishDiagnostics": {"relatedInformation": True}},
    "workspace": {"inlayHint": {"refreshSupport": True}, "semanticTokens": {"refreshSupport": True},
                  "didChangeWatchedFiles": {"dynamicRegistration": True}},
    "window": {"workDoneProgress": False},
    "lean": {"silentDiagnosticSupport": True, "rpcWireFormat": "v1", "incrementalDiagnosticSupport": True},
}


def position(text: str, needle: str, delta: int = 0) -> dict[str, int]:
    """LSP position (UTF-16 units) of ``needle``'s first occurrence in ``text`` plus ``delta`` chars."""
    offset = text.index(needle) + delta
    before = text[:offset].replace("\r\n", "\n")
    line = before.count("\n")
    column = before[before.rfind("\n") + 1:]
    return {"line": line, "character": len(column.encode("utf-16-le")) // 2}


def write_project(root: Path) -> Path:
    """The session's project: the two files (B written with its CRLFs) and a companion config."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (root / name).write_bytes(text.encode("utf-8"))
    (root / ".lean-companion.toml").write_text("[index]\nenabled = false\n", encoding="utf-8")
    return root


def tee_command(folder: Path, lean: Path) -> list[str]:
    """``lean --server`` with both directions of its stdio appended to ``folder``/to-lean.bin and
    from-lean.bin (bash, ``pipefail``: the exit status is Lean's)."""
    script = folder / "lean-tee.sh"
    script.write_text(
        "#!/bin/bash\n"
        "set -o pipefail\n"
        f"tee -a '{folder / 'to-lean.bin'}' | '{lean}' --server \"$@\" | tee -a '{folder / 'from-lean.bin'}'\n",
        encoding="utf-8")
    script.chmod(0o755)
    return [str(script)]


def read_frames(path: Path) -> list[bytes]:
    """The message bodies of a recorded LSP byte stream."""
    data = path.read_bytes() if path.exists() else b""
    bodies = []
    while data:
        header, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"truncated header in {path}: {header[:80]!r}"
        match = re.search(rb"Content-Length: *(\d+)", header, re.IGNORECASE)
        assert match, f"no Content-Length in {header!r}"
        length = int(match.group(1))
        bodies.append(rest[:length])
        data = rest[length:]
    return bodies


def isolated_env(tmp: Path) -> dict[str, str]:
    """Environment for a proxy process: its config, state and caches under ``tmp``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "LEAN_COMPANION_CONFIG_FILE": str(tmp / "user-config.toml"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "LEAN_COMPANION_RUNTIME_DIR": str(tmp / "runtime"),
    }
    return {k: v for k, v in env.items() if not (k.startswith("LEAN_COMPANION_") and "__" in k)}


def bare_proxy(tmp: Path, server: list[str]) -> list[str]:
    return [sys.executable, "-m", "lsp_proxy", "--log-file", str(tmp / "proxy.log"), "--log-level", "DEBUG",
            "--", *server]


def serve(tmp: Path, server: list[str]) -> list[str]:
    return [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp / "proxy.log"),
            "--log-level", "DEBUG", "--", *server]


@dataclass
class Recording:
    """What the editor saw in one run of the session."""

    bodies: list[bytes]
    messages: list[dict[str, Any]]
    sent: list[bytes]
    replies: dict[Any, bytes] = field(default_factory=dict)  # editor request id -> reply body
    returncode: int | None = None
    stderr: bytes = b""
    uris: dict[str, str] = field(default_factory=dict)


SESSION_ID = re.compile(rb'"sessionId":"[0-9]+"')


def normalise(body: bytes) -> bytes:
    """Across runs, only the random RPC ``sessionId`` differs in a deterministic answer."""
    return SESSION_ID.sub(b'"sessionId":"<session>"', body)


async def run_session(argv: list[str], root: Path, *, env: dict[str, str] | None = None) -> Recording:
    """Play the scripted editor session against ``argv``; returns everything the editor saw."""
    client = await LspClient.start(argv, cwd=root, env=env, answer=answer_null)
    uri_a, uri_b = (root / "A.lean").as_uri(), (root / "B.lean").as_uri()
    rec_ids: list[Any] = []

    async def ask(method: str, params: Any, id_: Any = None) -> dict[str, Any]:
        reply = await client.request(method, params, timeout=TIMEOUT, id_=id_)
        rec_ids.append(reply["id"])
        return reply

    try:
        init = await client.handshake(LEAN_CAPABILITIES, root_uri=root.as_uri(), timeout=TIMEOUT)
        rec_ids.append(0)
        assert "result" in init, init
        for uri, name in ((uri_a, "A.lean"), (uri_b, "B.lean")):
            client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1,
                                                                    "text": FILES[name]}})
        await ask("textDocument/waitForDiagnostics", {"uri": uri_a, "version": 1})
        await ask("textDocument/waitForDiagnostics", {"uri": uri_b, "version": 1})
        doc_a, doc_b = {"uri": uri_a}, {"uri": uri_b}
        # hover after astral characters (UTF-16 positions), term goal, goal inside `by`
        await ask("textDocument/hover", {"textDocument": doc_b, "position": position(FILE_B, "𝕗 𝔸.mk", 1)})
        await ask("textDocument/hover", {"textDocument": doc_a, "position": position(FILE_A, "id_tt\n#check", 1)})
        await ask("$/lean/plainTermGoal", {"textDocument": doc_a, "position": position(FILE_A, "Eq'.refl Bool'.tt", 2)})
        await ask("$/lean/plainGoal", {"textDocument": doc_a, "position": position(FILE_A, ":= by", 5)})
        await ask("textDocument/completion", {"textDocument": doc_a, "position": position(FILE_A, "Eq'.refl Bool'", 4)})
        await ask("textDocument/codeAction", {"textDocument": doc_a,
                                              "range": {"start": position(FILE_A, "#check fals"),
                                                        "end": position(FILE_A, "#check fals", 11)},
                                              "context": {"diagnostics": []}})
        await ask("textDocument/documentSymbol", {"textDocument": doc_a})
        await ask("textDocument/documentSymbol", {"textDocument": doc_b})
        await ask("textDocument/semanticTokens/full", {"textDocument": doc_b})
        await ask("textDocument/semanticTokens/range", {"textDocument": doc_a, "range": {
            "start": {"line": 8, "character": 0}, "end": {"line": 11, "character": 0}}})
        await ask("textDocument/definition", {"textDocument": doc_a, "position": position(FILE_A, "Bool'.id Bool'.tt", 2)})
        await ask("textDocument/documentHighlight", {"textDocument": doc_a, "position": position(FILE_A, "Bool'.tt)", 1)})
        # RPC: connect, a call, keep-alive
        connect = await ask("$/lean/rpc/connect", {"uri": uri_a})
        session_id = connect["result"]["sessionId"]
        await ask("$/lean/rpc/call", {"sessionId": session_id, "method": "Lean.Widget.getInteractiveDiagnostics",
                                      "params": {"lineRange": {"start": 0, "end": 20}},
                                      "textDocument": doc_a, "position": {"line": 0, "character": 0}})
        client.notify("$/lean/rpc/keepAlive", {"uri": uri_a, "sessionId": session_id})
        # incremental edits: B (CRLF, astral) in UTF-16 ranges; A twice quickly (v2 superseded by v3)
        start = position(FILE_B, ":= x", 3)
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri_b, "version": 2}, "contentChanges": [
            {"range": {"start": start, "end": {"line": start["line"], "character": start["character"] + 1}},
             "text": "𝔸.mk"}]})
        await ask("textDocument/waitForDiagnostics", {"uri": uri_b, "version": 2})
        await ask("textDocument/hover", {"textDocument": doc_b, "position": {"line": start["line"],
                                                                             "character": start["character"] + 3}})
        end_a = position(FILE_A, "#check fals", 11)
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri_a, "version": 2}, "contentChanges": [
            {"range": {"start": position(FILE_A, "fals"), "end": end_a}, "text": "id_t"}]})
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri_a, "version": 3}, "contentChanges": [
            {"range": {"start": {"line": end_a["line"], "character": end_a["character"] - 1}, "end": end_a},
             "text": "tt"}]})
        await ask("textDocument/waitForDiagnostics", {"uri": uri_a, "version": 3})
        # cancel: a cancelled waitForDiagnostics is never answered (until shutdown closes the file)
        client.send_request("textDocument/waitForDiagnostics", {"uri": uri_a, "version": 99}, id_="never")
        client.notify("$/cancelRequest", {"id": "never"})
        # bad requests: missing position, a closed file, an unknown method; edits of unknown files
        await ask("textDocument/hover", {"textDocument": doc_a})
        await ask("textDocument/hover", {"textDocument": {"uri": (root / "Nope.lean").as_uri()},
                                         "position": {"line": 0, "character": 0}})
        await ask("$/lean/noSuchMethod", {})
        client.notify("textDocument/didChange", {"textDocument": {"uri": (root / "Nope.lean").as_uri(), "version": 3},
                                                 "contentChanges": [{"text": "x"}]})
        client.notify("textDocument/didClose", {"textDocument": doc_b})
        await ask("textDocument/documentSymbol", {"textDocument": doc_a})
        # shutdown answers the cancelled request (-32801) and closes A
        rc = await client.shutdown(TIMEOUT)
        await asyncio.wait_for(client.reader, TIMEOUT)
        stderr = await client.stderr()
    finally:
        await client.kill()
    replies = {}
    for message, body in zip(client.messages, client.bodies, strict=True):
        if "method" not in message and "id" in message:
            replies[message["id"]] = body
    return Recording(bodies=list(client.bodies), messages=list(client.messages), sent=list(client.sent),
                     replies=replies, returncode=rc, stderr=stderr, uris={"A": uri_a, "B": uri_b})


def final_publishes(messages: list[dict[str, Any]], bodies: list[bytes]) -> dict[tuple[str, Any], bytes]:
    """The last ``publishDiagnostics`` body per (uri, version)."""
    out: dict[tuple[str, Any], bytes] = {}
    for message, body in zip(messages, bodies, strict=True):
        if message.get("method") == "textDocument/publishDiagnostics":
            out[(message["params"]["uri"], message["params"].get("version"))] = body
    return out


def publish_counts(messages: list[dict[str, Any]]) -> dict[tuple[str, Any], int]:
    """How many ``publishDiagnostics`` the editor got per (uri, version)."""
    counts: dict[tuple[str, Any], int] = {}
    for message in messages:
        if message.get("method") == "textDocument/publishDiagnostics":
            key = (message["params"]["uri"], message["params"].get("version"))
            counts[key] = counts.get(key, 0) + 1
    return counts


def describe(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


def first_difference(expected: list[bytes], actual: list[bytes]) -> str | None:
    """None when equal; else where the two message lists first differ."""
    for index, (a, b) in enumerate(zip(expected, actual)):
        if a != b:
            return f"message {index}:\n  expected {describe(a)}\n  actual   {describe(b)}"
    if len(expected) != len(actual):
        longer = expected if len(expected) > len(actual) else actual
        extra = longer[min(len(expected), len(actual))]
        which = "missing" if len(expected) > len(actual) else "added"
        return f"{which} at message {min(len(expected), len(actual))} ({len(expected)} vs {len(actual)}): {describe(extra)}"
    return None


def decoded(bodies: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(body) for body in bodies]
