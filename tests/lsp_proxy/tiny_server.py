"""A tiny scripted LSP server for the proxy's own tests (not Lean, not the Lean double).

``python -m tests.lsp_proxy.tiny_server`` speaks just enough of Lean's dialect to exercise
routing: the initialize/initialized handshake (then ``client/registerCapability`` with id
``"register_lean_watcher"``), document text per URI (full and ranged changes, UTF-16), a
``publishDiagnostics`` per didOpen/didChange, and test methods:

* ``test/echo``: result ``{"method", "params", "incarnation"}``;
* ``test/text {uri}``: the server's text and version of the document;
* ``test/slow {ms}``: answers after ``ms`` milliseconds (cancellable: then -32800 ``""``);
* ``test/crash {code}``: exits at once with that code;
* ``test/garbage``: writes junk bytes to stdout, then answers normally;
* ``test/notifyMe {count, uri}``: sends ``count`` publishDiagnostics for ``uri``, then answers.

Its ``initialize`` count survives restarts via ``TINY_SERVER_STATE`` (a file path), so tests can
see re-initialisation. Free-text lines go to stderr.
"""
from __future__ import annotations

import json
import os
import sys
import threading

from lsp_proxy.documents import DocumentMirror

_out_lock = threading.Lock()
_pending: dict = {}
_mirror = DocumentMirror()
_shutdown = False


def send(message: dict) -> None:
    message = {"jsonrpc": "2.0", **message}
    body = json.dumps(message, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    with _out_lock:
        sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        sys.stdout.buffer.flush()


def read_message() -> dict | None:
    length = None
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        if line == b"\r\n":
            break
        if not line.endswith(b"\r\n"):
            print(f"bad header line {line!r}", file=sys.stderr)
            sys.exit(1)
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    if length is None:
        print("missing Content-Length", file=sys.stderr)
        sys.exit(1)
    return json.loads(sys.stdin.buffer.read(length))


def incarnation() -> int:
    path = os.environ.get("TINY_SERVER_STATE")
    if not path:
        return 1
    try:
        with open(path) as fh:
            count = int(fh.read() or 0) + 1
    except FileNotFoundError:
        count = 1
    with open(path, "w") as fh:
        fh.write(str(count))
    return count


def publish(uri: str) -> None:
    doc = _mirror.get(uri)
    if doc is None:
        return
    send({"method": "textDocument/publishDiagnostics", "params": {
        "uri": uri, "version": doc.version,
        "diagnostics": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                         "severity": 3, "source": "Lean 4", "message": f"{len(doc.text)} chars"}]}})


def main() -> None:
    global _shutdown
    first = read_message()
    if not first or first.get("method") != "initialize" or "capabilities" not in first.get("params", {}):
        print("Expected initialize first", file=sys.stderr)
        sys.exit(1)
    inc = incarnation()
    send({"id": first["id"], "result": {"capabilities": {"hoverProvider": True, "textDocumentSync": {"change": 2}},
                                        "serverInfo": {"name": "tiny", "version": str(inc)}}})
    second = read_message()
    if not second or second.get("method") != "initialized":
        print(f"Expected method 'initialized', got {second}", file=sys.stderr)
        sys.exit(1)
    send({"id": "register_lean_watcher", "method": "client/registerCapability", "params": {"registrations": []}})
    print(f"tiny server ready (incarnation {inc})", file=sys.stderr)
    while True:
        msg = read_message()
        if msg is None:
            sys.exit(0 if _shutdown else 1)
        if msg.get("jsonrpc") != "2.0":
            print("missing jsonrpc", file=sys.stderr)
            sys.exit(1)
        method = msg.get("method")
        if method is None:
            continue  # a reply to our request
        params = msg.get("params")
        if params is None and method not in ("shutdown", "exit"):
            print(f"message without params: {method}", file=sys.stderr)
            sys.exit(1)
        id_ = msg.get("id")
        if method == "exit":
            sys.exit(0 if _shutdown else 1)
        if id_ is None:
            if method == "textDocument/didOpen":
                _mirror.did_open(params)
                publish(params["textDocument"]["uri"])
            elif method == "textDocument/didChange":
                if params.get("contentChanges"):
                    _mirror.did_change(params)
                    publish(params["textDocument"]["uri"])
            elif method == "textDocument/didClose":
                _mirror.did_close(params)
            elif method == "$/cancelRequest":
                timer = _pending.pop(params.get("id"), None)
                if timer is not None and timer.cancel() is None:
                    send({"id": params["id"], "error": {"code": -32800, "message": ""}})
            continue
        if _shutdown:
            send({"id": id_, "error": {"code": -32600, "message": "Request received after 'shutdown' request."}})
        elif method == "shutdown":
            _shutdown = True
            send({"id": id_, "result": None})
        elif method == "test/echo":
            send({"id": id_, "result": {"method": method, "params": params, "incarnation": inc}})
        elif method == "test/text":
            doc = _mirror.get(params["uri"])
            send({"id": id_, "result": None if doc is None else {"text": doc.text, "version": doc.version}})
        elif method == "test/slow":
            def reply(id_=id_) -> None:
                if _pending.pop(id_, None) is not None:
                    send({"id": id_, "result": {"slow": True}})
            timer = threading.Timer(params.get("ms", 100) / 1000, reply)
            _pending[id_] = timer
            timer.start()
        elif method == "test/crash":
            sys.stdout.flush()
            os._exit(params.get("code", 3))
        elif method == "test/garbage":
            with _out_lock:
                sys.stdout.buffer.write(b"this is not a header\r\n")
                sys.stdout.buffer.flush()
            send({"id": id_, "result": "after garbage"})
        elif method == "test/notifyMe":
            for _ in range(params.get("count", 1)):
                send({"method": "textDocument/publishDiagnostics",
                      "params": {"uri": params["uri"], "diagnostics": []}})
            send({"id": id_, "result": "notified"})
        else:
            send({"id": id_, "error": {"code": -32601, "message": f"No request handler found for '{method}'"}})


if __name__ == "__main__":
    main()
