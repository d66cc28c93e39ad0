"""A local stand-in for the Hugging Face hub's file endpoints, for download tests (no network).

Serves ``HEAD``/``GET /{repo}/resolve/{revision}/{path}`` the way huggingface_hub 2.x reads
them: ``X-Repo-Commit``, ``ETag`` plus ``X-Linked-Etag`` (the sha256, as for LFS files) and
``X-Linked-Size``, ``Content-Length``, and ``Range: bytes=N-`` answered with 206 and
``Content-Range``. Faults per file: ``missing`` (404 ``EntryNotFound``), ``gated`` (401
``GatedRepo``), ``corrupt`` (serves other bytes than the etag promises) and ``drop_after``
(the first GET closes the connection after that many bytes); ``redirect`` answers like an LFS
file (302 to ``/cdn/<sha256>`` with the ``X-Linked-*`` headers). Every request is recorded.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HostedFile:
    """One file in the fake hub and the fault it should show."""

    data: bytes
    missing: bool = False
    gated: bool = False
    corrupt: bool = False
    drop_after: int | None = None  # first GET sends this many bytes, then closes
    redirect: bool = False  # answer /resolve/ with 302 to /cdn/<sha256>, as the hub does for LFS files

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Request:
    """A request the server saw."""

    method: str
    path: str
    range: str | None


@dataclass
class FakeHub:
    """The files (keyed ``repo/path``), the requests seen, and the server's base URL."""

    files: dict[str, HostedFile] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def add(self, repo: str, path: str, data: bytes, **faults) -> HostedFile:
        hosted = HostedFile(data, **faults)
        self.files[f"{repo}/{path}"] = hosted
        return hosted

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]


def _handler(hub: FakeHub, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _lookup(self) -> HostedFile | None:
            parts = self.path.split("?")[0].lstrip("/").split("/")
            if len(parts) == 2 and parts[0] == "cdn":
                return next((f for f in hub.files.values() if f.sha256 == parts[1]), None)
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            key = "/".join(parts[:2] + parts[4:])
            return hub.files.get(key)

        def _error(self, status: int, code: str) -> None:
            body = f'{{"error": "{code}"}}'.encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            with lock:
                hub.requests.append(Request(self.command, self.path, self.headers.get("Range")))
            hosted = self._lookup()
            if hosted is None or hosted.missing:
                self._error(404, "EntryNotFound")
                return
            if hosted.gated:
                self._error(401, "GatedRepo")
                return
            if hosted.redirect and "/resolve/" in self.path:
                self.send_response(302)
                self.send_header("Location", f"{hub.url}/cdn/{hosted.sha256}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Size", str(len(hosted.data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = hosted.data if not hosted.corrupt else bytes(b ^ 0xFF for b in hosted.data)
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and self.command == "GET":
                start = int(rng[len("bytes="):].split("-")[0])
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hosted.sha256}"')
            self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
            self.send_header("X-Linked-Size", str(len(hosted.data)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return
            if hosted.drop_after is not None:
                cut, hosted.drop_after = hosted.drop_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        do_GET = _serve
        do_HEAD = _serve

    return Handler


class HubServer:
    """Context manager running a :class:`FakeHub` on 127.0.0.1 (an ephemeral port) in a thread."""

    def __init__(self) -> None:
        self.hub = FakeHub()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.hub, threading.Lock()))
        self._server.daemon_threads = True
        self.hub.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self.hub

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
