"""A scripted stand-in for the proxy's ``$/leanCompanion/*`` side, for testing the editor
plugins' client code before copilot implements it (docs/editor-protocol.md).

It is NOT the proxy and not Lean: it answers ``suggest``/``fillSorry``/``premises``/``status``
with fixed data that replaces the ``sorry`` on the requested line, offers a ``Fill sorry with a
proof (search)`` code action whose command goes through ``workspace/executeCommand`` →
``workspace/applyEdit``, and appends every method it receives to ``--record``.

    python -m tests.editors.fake_companion_server --record FILE --log-file FILE
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, BinaryIO

COMMAND = f"leanCompanion.proxy.{os.getpid()}.fillSorry"


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        raise ValueError("frame without Content-Length")
    return json.loads(stream.read(length))


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stream.flush()


class FakeCompanion:
    def __init__(self, record: str, log_file: str) -> None:
        self.record = record
        self.log_file = log_file
        self.docs: dict[str, tuple[int, list[str]]] = {}
        self.next_id = 1
        self.out = sys.stdout.buffer

    def sorry_edit(self, uri: str, line: int, text: str) -> dict[str, Any]:
        """A WorkspaceEdit replacing the first `sorry` on `line` with `text`."""
        version, lines = self.docs[uri]
        column = lines[line].index("sorry")
        rng = {"start": {"line": line, "character": column}, "end": {"line": line, "character": column + 5}}
        edits = [{"range": rng, "newText": text}]
        return {"documentChanges": [{"textDocument": {"uri": uri, "version": version}, "edits": edits}]}

    def sorry_range(self, uri: str, line: int) -> dict[str, Any]:
        return self.sorry_edit(uri, line, "")["documentChanges"][0]["edits"][0]["range"]

    def handle(self, msg: dict[str, Any]) -> bool:
        method = msg.get("method")
        with open(self.record, "a") as f:
            f.write(json.dumps({"method": method, "params": msg.get("params"), "id": msg.get("id")}) + "\n")
        params = msg.get("params") or {}
        reply: Any = None
        if method == "initialize":
            reply = {"capabilities": {"textDocumentSync": 1, "codeActionProvider": True,
                                      "executeCommandProvider": {"commands": [COMMAND]}},
                     "serverInfo": {"name": "fake-companion (test double, not the proxy)"}}
        elif method == "textDocument/didOpen":
            doc = params["textDocument"]
            self.docs[doc["uri"]] = (doc["version"], doc["text"].split("\n"))
            return True
        elif method == "textDocument/didChange":
            doc = params["textDocument"]
            self.docs[doc["uri"]] = (doc["version"], params["contentChanges"][-1]["text"].split("\n"))
            return True
        elif method == "$/leanCompanion/suggest":
            uri, line = params["textDocument"]["uri"], params["position"]["line"]
            rng = self.sorry_range(uri, line)
            reply = {"goal": "n : Nat\n⊢ n + 0 = n", "latencyMs": 7, "suggestions": [
                {"tactic": "omega", "verdict": "closes", "goalsAfter": [], "source": "fake", "score": 0.9, "range": rng},
                {"tactic": "induction n", "verdict": "progress", "goalsAfter": ["case zero ⊢ 0 + 0 = 0"],
                 "source": "fake", "score": 0.4, "range": rng},
            ]}
        elif method == "$/leanCompanion/fillSorry":
            uri, line = params["textDocument"]["uri"], params["position"]["line"]
            reply = {"status": "proved", "proof": "simp", "edit": self.sorry_edit(uri, line, "simp"),
                     "stats": {"elapsedMs": 1200, "expansions": 3, "leanChecks": 4}}
        elif method == "$/leanCompanion/premises":
            reply = {"premises": [{"name": "Nat.zero_add", "signature": "∀ (n : Nat), 0 + n = n", "module": "Init.Core",
                                   "score": 0.9}]}
        elif method == "$/leanCompanion/status":
            reply = {"version": "0.0.0-fake", "protocolVersion": 1, "pid": os.getpid(),
                     "models": [{"id": "fake-model", "role": "tactic", "backend": "fake", "installed": True, "active": True}],
                     "index": {"state": "ready", "declarations": 42}, "lastLatencyMs": 7, "busy": False,
                     "logFile": self.log_file, "features": ["suggest"], "lean": {"running": True, "restarts": 0}}
        elif method == "textDocument/codeAction":
            uri, line = params["textDocument"]["uri"], params["range"]["start"]["line"]
            version, lines = self.docs[uri]
            reply = []
            if "sorry" in lines[line]:
                reply.append({"title": "Fill sorry with a proof (search)", "kind": "quickfix",
                              "command": {"title": "Fill sorry with a proof (search)", "command": COMMAND,
                                          "arguments": [{"textDocument": {"uri": uri, "version": version},
                                                         "position": {"line": line, "character": lines[line].index("sorry")}}]}})
        elif method == "workspace/executeCommand":
            arg = params["arguments"][0]
            uri, line = arg["textDocument"]["uri"], arg["position"]["line"]
            edit = self.sorry_edit(uri, line, "decide")
            request_id = f"fake:{self.next_id}"
            self.next_id += 1
            write_message(self.out, {"jsonrpc": "2.0", "id": request_id, "method": "workspace/applyEdit",
                                     "params": {"label": "Fill sorry", "edit": edit}})
            reply = {"status": "proved", "proof": "decide", "stats": {"elapsedMs": 5}}
        elif method == "shutdown":
            reply = None
        elif method == "exit":
            return False
        elif "id" in msg and method is None:
            return True  # the editor's answer to our applyEdit
        elif "id" not in msg:
            return True
        else:
            write_message(self.out, {"jsonrpc": "2.0", "id": msg["id"],
                                     "error": {"code": -32601, "message": f"fake server: no {method}"}})
            return True
        if "id" in msg:
            write_message(self.out, {"jsonrpc": "2.0", "id": msg["id"], "result": reply})
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", required=True)
    parser.add_argument("--log-file", required=True)
    args = parser.parse_args()
    server = FakeCompanion(args.record, args.log_file)
    while True:
        msg = read_message(sys.stdin.buffer)
        if msg is None or not server.handle(msg):
            return 0


if __name__ == "__main__":
    sys.exit(main())
