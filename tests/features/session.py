"""A small LSP client driving ``lean-companion serve`` in front of the Lean test double (test code).

It plays the editor: handshake, didOpen/didChange, requests, and answers the proxy's requests to
the editor (``workspace/applyEdit`` is recorded and applied to its own copy of the text). Every
message received is kept. The wire is the shared raw-bytes client, tests/lsp_client.py.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from lsp_proxy.documents import Document
from tests.lean_double import double_command
from tests.lean_double.msglog import read_log
from tests.lsp_client import LspClient

REPO = Path(__file__).resolve().parents[2]
UNSET = object()


def project(tmp_path: Path, *, models: dict[str, dict] | None = None, config: str = "") -> Path:
    """A project folder with ``.lean-companion.toml`` declaring scripted models (fake_backend)."""
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "lean-toolchain").write_text("leanprover/lean4:v4.30.0\n")
    lines = [] if "[index]" in config else ["[index]", "enabled = false", ""]
    if models:
        tactic = [m for m, b in models.items() if b.get("role", "tactic") == "tactic"]
        whole = [m for m, b in models.items() if b.get("role") == "whole-proof"]
        lines += ["[models]", f"tactic = {json.dumps(tactic)}", f"whole_proof = {json.dumps(whole)}", ""]
        for model_id, behaviour in models.items():
            folder = root / "models" / model_id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "model.onnx").write_bytes(b"\x08\x07scripted placeholder")
            (folder / "behaviour.json").write_text(json.dumps(behaviour, ensure_ascii=False), encoding="utf-8")
            lines += [f"[models.custom.{model_id}]", f'path = "models/{model_id}"',
                      f'role = "{behaviour.get("role", "tactic")}"', 'format = "onnx"',
                      'backend = "tests.features.fake_backend"', ""]
    (root / ".lean-companion.toml").write_text("\n".join(lines) + "\n" + config, encoding="utf-8")
    return root


class Session:
    """One proxy process and the editor side of its connection (wire I/O: tests/lsp_client.py)."""

    def __init__(self, proc: asyncio.subprocess.Process, tmp_path: Path, root: Path) -> None:
        self.proc = proc
        self.tmp_path = tmp_path
        self.root = root
        self.applied_edits: list[dict] = []
        self.apply_result: dict = {"applied": True}
        self.docs: dict[str, Document] = {}
        self.client = LspClient(proc, answer=self._answer)

    @classmethod
    async def start(cls, tmp_path: Path, *, scenario: Path, models: dict[str, dict] | None = None,
                    config: str = "", double_args: tuple[str, ...] = ("--elab-delay-ms", "10"),
                    capabilities: dict | None = None, env: dict[str, str] | None = None,
                    handshake: bool = True) -> Session:
        root = project(tmp_path, models=models, config=config)
        environ = {
            **os.environ,
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "LEAN_COMPANION_CONFIG_FILE": str(tmp_path / "user-config.toml"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "LEAN_COMPANION_RUNTIME_DIR": str(tmp_path / "runtime"),
            **(env or {}),
        }
        for name in list(environ):
            if name.startswith("LEAN_COMPANION_") and "__" in name:
                del environ[name]
        argv = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"),
                "--log-level", "DEBUG", "--",
                *double_command("--log", str(tmp_path / "double.jsonl"), *double_args, scenario=scenario)]
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=str(root), env=environ, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=2**24)
        session = cls(proc, tmp_path, root)
        if handshake:
            await session.handshake(capabilities)
        return session

    # ---------------------------------------------------------------- wire

    @property
    def messages(self) -> list[dict]:
        return self.client.messages

    @property
    def notifications(self) -> list[dict]:
        return [m for m in self.client.messages if "method" in m and "id" not in m]

    @property
    def server_requests(self) -> list[dict]:
        return [m for m in self.client.messages if "method" in m and "id" in m]

    def send(self, message: dict) -> None:
        self.client.send(message)

    def _answer(self, message: dict) -> Any:
        """The editor's answer to a request from the proxy (``workspace/applyEdit`` is applied)."""
        if message["method"] != "workspace/applyEdit":
            return None
        edit = message["params"]["edit"]
        self.applied_edits.append(edit)
        if self.apply_result.get("applied"):
            self._apply(edit)
        return self.apply_result

    def _apply(self, edit: dict) -> None:
        for change in edit.get("documentChanges", []):
            doc = self.docs[change["textDocument"]["uri"]]
            assert change["textDocument"]["version"] == doc.version, "edit for an older version"
            for text_edit in sorted(change["edits"], key=lambda e: (e["range"]["start"]["line"],
                                                                    e["range"]["start"]["character"]), reverse=True):
                doc.apply_change({"range": text_edit["range"], "text": text_edit["newText"]})

    async def request(self, method: str, params: Any, timeout: float = 20.0) -> dict:
        """Send a request; the whole reply message (``result`` or ``error``)."""
        return await self.client.request(method, params, timeout=timeout)

    def start_request(self, method: str, params: Any) -> tuple[int, asyncio.Future]:
        id_ = self.client.send_request(method, params)
        return id_, asyncio.ensure_future(self.client.reply(id_, timeout=3600))

    def notify(self, method: str, params: Any) -> None:
        self.client.notify(method, params)

    async def wait_for(self, predicate, timeout: float = 20.0) -> dict:
        """The first notification (already received or coming) matching ``predicate``."""
        return await self.client.wait_for(lambda m: "method" in m and "id" not in m and predicate(m), timeout=timeout)

    async def until(self, check, timeout: float = 20.0, interval: float = 0.1) -> Any:
        """Poll an async ``check()`` until it returns something truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await check()
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError("condition not met")
            await asyncio.sleep(interval)

    # ---------------------------------------------------------------- editor actions

    async def handshake(self, capabilities: dict | None = None) -> dict:
        caps = {"window": {"workDoneProgress": True}, "workspace": {"applyEdit": True}} if capabilities is None else capabilities
        reply = await self.request("initialize", {"processId": None, "rootUri": self.root.as_uri(),
                                                  "capabilities": caps})
        self.notify("initialized", {})
        return reply

    def open(self, name: str, text: str) -> str:
        uri = (self.root / name).as_uri()
        self.docs[uri] = Document.from_text(uri, "lean4", 1, text)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1,
                                                              "text": text}})
        return uri

    def change(self, uri: str, text: str) -> int:
        doc = self.docs[uri]
        doc.version += 1
        doc.apply_change({"text": text})
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": doc.version},
                                               "contentChanges": [{"text": text}]})
        return doc.version

    def sync_applied(self, uri: str) -> int:
        """Send the didChange an editor sends after applying an edit to its buffer."""
        doc = self.docs[uri]
        doc.version += 1
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": doc.version},
                                               "contentChanges": [{"text": doc.text}]})
        return doc.version

    async def wait_diagnostics(self, uri: str, version: int) -> dict:
        reply = await self.request("textDocument/waitForDiagnostics", {"uri": uri, "version": version})
        assert "error" not in reply, reply
        return reply

    def double_log(self) -> list[dict]:
        path = self.tmp_path / "double.jsonl"
        return read_log(path) if path.exists() else []

    def proxy_log(self) -> str:
        path = self.tmp_path / "proxy.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    async def close(self) -> int | None:
        try:
            reply = await self.request("shutdown", None, timeout=10)
            assert "error" not in reply
            self.send({"method": "exit"})
            return await asyncio.wait_for(self.proc.wait(), 10)
        except (asyncio.TimeoutError, ConnectionError, AssertionError):
            return None
        finally:
            await self.client.kill()
