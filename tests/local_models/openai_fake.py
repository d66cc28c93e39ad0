"""A tiny scripted OpenAI-compatible server on 127.0.0.1 for the served-model failure tests.

Test code only. It runs ``http.server.ThreadingHTTPServer`` in a thread, answers
``GET /v1/models`` and ``POST /v1/completions`` / ``/v1/chat/completions`` from a script, and
records every request body. ``mode`` picks a behaviour: ``ok`` (answers with ``answers``,
cycling), ``ignore-n`` (one choice whatever ``n`` says), ``refuse-n`` (HTTP 400 when ``n`` > 1),
``slow`` (waits ``delay`` seconds, noticing when the client hangs up), ``error500``, ``garbage`` (200 with a
non-JSON body), ``no-choices`` (JSON without ``choices``), ``drop`` (headers and half a body,
then closes the connection), ``unknown-model`` (404 like Ollama's), ``unauthorized`` (401).
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    """Start with ``with FakeOpenAI(...) as fake:``; ``fake.base_url`` ends in ``/v1``."""

    def __init__(self, *, mode: str = "ok", answers: list[str] | None = None, models: list[str] | None = None,
                 delay: float = 5.0, api_key: str | None = None, port: int = 0) -> None:
        self.port = port
        self.mode = mode
        self.answers = answers or ["simp"]
        self.models = models if models is not None else ["fake-model"]
        self.delay = delay
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.hangups = 0  # slow requests whose client closed the connection before the answer
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                body = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                if fake.api_key is None and fake.mode != "unauthorized":
                    return True
                if fake.mode != "unauthorized" and self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                    return True
                self._send(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})
                return False

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(body)
                    fake.paths.append(self.path)
                    fake.headers.append(dict(self.headers))
                if not self._authorised():
                    return
                mode = fake.mode
                if mode == "unknown-model" or body.get("model") not in fake.models:
                    self._send(404, {"error": {"message": f"model \"{body.get('model')}\" not found, try pulling it first",
                                               "type": "api_error"}})
                    return
                if mode == "slow" and self._wait_or_hangup(fake.delay):
                    with fake.lock:
                        fake.hangups += 1
                    return
                if mode == "error500":
                    self._send(500, {"error": {"message": "CUDA out of memory"}})
                    return
                if mode == "garbage":
                    self._send(200, None, raw=b"<html>502 Bad Gateway</html>")
                    return
                if mode == "no-choices":
                    self._send(200, {"object": "text_completion", "result": "simp"})
                    return
                if mode == "drop":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "400")
                    self.end_headers()
                    self.wfile.write(b'{"choices": [{"text": "sim')
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                n = int(body.get("n") or 1)
                if mode == "refuse-n" and n > 1:
                    self._send(400, {"error": {"message": "'n' must be 1 for this server"}})
                    return
                if mode == "ignore-n":
                    n = 1
                seed = int(body.get("seed") or 0)
                chat = self.path.endswith("/chat/completions")
                choices = []
                for i in range(n):
                    text = fake.answers[(seed + i) % len(fake.answers)]
                    logprobs = -0.5 * (i + 1 + seed)
                    if chat:
                        choices.append({"index": i, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": text},
                                        "logprobs": {"content": [{"token": text, "logprob": logprobs}]}})
                    else:
                        choices.append({"index": i, "finish_reason": "stop", "text": text,
                                        "logprobs": {"token_logprobs": [logprobs]}})
                self._send(200, {"id": "x", "object": "chat.completion" if chat else "text_completion",
                                 "model": body.get("model"), "choices": choices})

            def _wait_or_hangup(self, seconds: float) -> bool:
                """Sleep up to ``seconds``; True as soon as the client closes the connection."""
                end = time.monotonic() + seconds
                sock = self.connection
                while time.monotonic() < end:
                    ready, _, _ = select.select([sock], [], [], 0.05)
                    if ready:
                        try:
                            if sock.recv(1, socket.MSG_PEEK) == b"":
                                return True
                        except OSError:
                            return True
                return False

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
