"""The double's watchdog: lifecycle, documents, simulated workers, requests, RPC and faults.

Everything runs on one asyncio loop; a reader thread decodes frames from stdin in order and a
blocking writer puts frames on stdout. Each request runs as its own task, so replies can come
out of order, and each gets exactly one reply (a result, an error, or -32800 when cancelled).
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import jsonrpc, navigation
from .capabilities import initialize_result
from .documents import LineIndex, apply_change, normalize_newlines
from .elaborator import Diagnostic, ElabOptions, Elaboration, elaborate
from .faults import Faults
from .features import (
    OUT_OF_DATE_IMPORTS,
    code_actions,
    completion_result,
    hover_result,
    huge_diagnostic,
    imported_modules,
    is_lean_resolve_data,
    is_module_file,
    stale_imports_diagnostic,
)
from .goals import interactive_goals, plain_goal_result
from .msglog import MessageLog
from .output import Output, stderr
from .rpc import interactive_diagnostics, interactive_term_goal, open_session, touch_session
from .scenario import MISSING, Scenario
from .state import Document, Eof, Fatal, Pending, RequestError, Run, Session

CLOSED_FILE = "Cannot process request to closed file '{uri}'"
TERMINATED = "The file worker for {uri} has been terminated."
PROGRESS_DELAY_MS = 100
REFRESH_TICK_S = 0.5  # an edit's kind-1 fileProgress only when elaboration takes longer
WORKER_EXITED = "Server process for {uri} crashed, see stderr for exception."
WORKER_CRASHED = "Server process for {uri} crashed, likely due to a stack overflow or a bug."
GARBAGE = b"\x00\xff lean-double injected garbage: this is not an LSP frame \r\n\r\n"


@dataclass
class Config:
    """Everything the command line (and scenario) sets; see README.md for each option."""

    lean_version: tuple[int, int] = (4, 30)
    elab_delay_ms: int = 200
    per_decl_delay_ms: int = 0
    strict_params: bool = True
    lake_early_empty: bool = False
    refresh_requests: int = 0
    progress_done_twice: bool = False
    restart_delay_ms: int = 200
    rpc_expiry_s: float = 30.0
    sorry_wording: str = "new"
    try_this_format: str = "old"
    goals_accomplished: bool = False
    lean_refresh: bool = False
    faults: Faults = field(default_factory=Faults)


def id_key(value: int | str) -> tuple[str, int | str]:
    """Pending-table key: ``1`` and ``"1"`` are different ids."""
    return (type(value).__name__, value)


def _uri_text_document(params: Any) -> str:
    return params["textDocument"]["uri"]


def _uri_plain(params: Any) -> str:
    return params["uri"]


def _uri_resolve(params: Any) -> str:
    return params["data"]["params"]["textDocument"]["uri"]


def is_lean_completion_data(params: Any) -> bool:
    """Lean's completion items carry ``data: [fileSource, line, character, 0, ("c<Name>")]``."""
    data = params.get("data") if isinstance(params, dict) else None
    return isinstance(data, list) and len(data) >= 4 and isinstance(data[0], str)


# Resolve requests whose data Lean did not make: Lean routes them by a file it cannot find.
FOREIGN_RESOLVE = frozenset({"codeAction/resolve", "completionItem/resolve"})


def compact(value: Any) -> str:
    """JSON as Lean prints it in error messages (compact, keys sorted)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def is_position(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("line"), int) and value["line"] >= 0
            and isinstance(value.get("character"), int) and value["character"] >= 0)


class Server:
    """The simulated watchdog plus one simulated worker per open document."""

    def __init__(self, config: Config, scenario: Scenario, output: Output, log: MessageLog) -> None:
        self.config, self.scenario, self.out, self.log = config, scenario, output, log
        self.state = "await-initialize"
        self.docs: dict[str, Document] = {}
        # id -> pending requests with that id (a client may reuse an outstanding id: each still
        # gets its own reply, as with Lean; cancellation then reaches the newest one).
        self.pending: dict[tuple[str, int | str], list[Pending]] = {}
        self.received = 0
        self.server_ids = 0
        self.refresher: asyncio.Task | None = None
        self.changed_modules: set[str] = set()  # URIs saved/changed since their importers last built
        self.client_caps: dict[str, Any] = {}
        self.rng = random.Random(config.faults.seed)
        self.options = ElabOptions(config.sorry_wording, config.try_this_format, config.goals_accomplished)
        self.uniq = iter(range(1000, 10**12)).__next__
        self.handlers: dict[str, tuple[Callable[[Any], str] | None, Callable[..., Awaitable[Any]]]] = {
            "textDocument/waitForDiagnostics": (_uri_plain, self.wait_for_diagnostics),
            "$/lean/plainGoal": (_uri_text_document, self.plain_goal),
            "$/lean/plainTermGoal": (_uri_text_document, self.plain_term_goal),
            "$/lean/rpc/connect": (_uri_plain, self.rpc_connect),
            "$/lean/rpc/call": (_uri_text_document, self.rpc_call),
            "$/lean/waitForILeans": (None, self.empty_object),
            "textDocument/hover": (_uri_text_document, self.hover),
            "textDocument/completion": (_uri_text_document, self.completion),
            "completionItem/resolve": (None, self.completion_resolve),
            "textDocument/codeAction": (_uri_text_document, self.code_action),
            "codeAction/resolve": (_uri_resolve, self.code_action_resolve),
            "workspace/symbol": (None, self.empty_list),
        }
        for method in ("typeDefinition", "references", "foldingRange", "inlayHint", "documentColor"):
            self.handlers[f"textDocument/{method}"] = (_uri_text_document, self.empty_list_after_elab)
        for method in ("definition", "declaration", "documentHighlight", "documentSymbol",
                       "semanticTokens/full", "semanticTokens/range"):
            self.handlers[f"textDocument/{method}"] = (_uri_text_document, functools.partial(self.navigation, method))
        self.handlers["textDocument/signatureHelp"] = (_uri_text_document, self.null_result)

    # ------------------------------------------------------------ main loop

    async def run(self, inbox: asyncio.Queue) -> int:
        """Process client messages in order; returns the exit code."""
        while True:
            item = await inbox.get()
            if isinstance(item, Eof):
                return self.on_eof()
            if isinstance(item, Fatal):
                self.fatal(item.reason)
            self.received += 1
            self.log.record("recv", item.raw)
            faults = self.config.faults
            if faults.crash_after is not None and self.received >= faults.crash_after:
                stderr(f"injected crash at client message {self.received}: exit {faults.crash_exit_code}")
                os._exit(faults.crash_exit_code)
            exit_code = self.dispatch(item)
            if exit_code is not None:
                return exit_code
            if faults.garbage_after is not None and self.received == faults.garbage_after:
                self.log.record("send-raw", bytes=len(GARBAGE))
                self.out.write(GARBAGE)
            if faults.silent_eof_after is not None and self.received == faults.silent_eof_after:
                stderr("injected silent EOF: stdout closed")
                self.out.close()
                if faults.silent_eof_mode == "exit":
                    return 0

    def fatal(self, reason: str) -> None:
        stderr(f"fatal (Lean's server would exit here): {reason}")
        os._exit(1)

    def on_eof(self) -> int:
        if self.state == "shutdown":
            return 0
        self.terminate_workers()
        stderr("end of input before 'shutdown': exiting with code 1")
        return 1

    def dispatch(self, msg: jsonrpc.Message) -> int | None:
        if self.state == "await-initialize":
            if msg.kind != "request" or msg.method != "initialize":
                self.fatal(f"expected the 'initialize' request first, got {msg.method or msg.kind!r}")
            if not isinstance(msg.params, dict) or not isinstance(msg.params.get("capabilities"), dict):
                self.fatal("initialize params must be an object with 'capabilities'")
            self.client_caps = msg.params["capabilities"]
            self.out.send(jsonrpc.response(msg.id, initialize_result(self.config.lean_version)))
            self.state = "await-initialized"
            return None
        if self.state == "await-initialized":
            if msg.kind != "notification" or msg.method != "initialized":
                self.fatal(f"Expected method 'initialized', got {msg.method or msg.kind!r}")
            self.state = "running"
            self.out.send(jsonrpc.request("register_lean_watcher", "client/registerCapability", {
                "registrations": [{"id": "lean_watcher", "method": "workspace/didChangeWatchedFiles",
                                   "registerOptions": {"watchers": [{"globPattern": "**/*.lean"},
                                                                    {"globPattern": "**/*.ilean"}]}}]}))
            if self.config.lean_refresh:
                self.refresher = asyncio.create_task(self.refresh_loop())
            return None
        if msg.kind in ("response", "error"):
            return None  # Lean ignores replies to its own requests
        if self.state == "shutdown":
            if msg.kind == "request":
                self.send_error(msg.id, -32600, "Request received after 'shutdown' request.")
                return None
            return 0 if msg.method == "exit" else None
        if msg.kind == "request":
            if self.config.strict_params and not msg.has_params and msg.method != "shutdown":
                self.fatal(f"request {msg.method!r} without params is an invalid JSON-RPC message")
            self.on_request(msg)
            return None
        if msg.method == "exit":
            if not msg.has_params:
                self.terminate_workers()
                self.fatal("Watchdog error: Got invalid JSON-RPC message ('exit' before 'shutdown')")
            stderr("Got unsupported notification: exit")
            return None
        if self.config.strict_params and not msg.has_params:
            self.fatal(f"notification {msg.method!r} without params is an invalid JSON-RPC message")
        self.on_notification(msg)
        return None

    # ------------------------------------------------------------ server -> client requests

    def send_refresh(self, method: str) -> None:
        """A refresh request: integer ids from 0 (per server process), no ``params``."""
        self.out.send(jsonrpc.request(self.server_ids, method))
        self.server_ids += 1

    async def refresh_loop(self) -> None:
        """``--lean-refresh``: Lean 4.35's cadence while files are open (§12): an
        ``inlayHint/refresh`` every ~0.5 s and a ``semanticTokens/refresh`` every ~2 s."""
        tick = 0
        while self.state == "running":
            await asyncio.sleep(REFRESH_TICK_S)
            if not self.docs or self.state != "running":
                continue
            tick += 1
            if tick % 4 == 0:
                self.send_refresh("workspace/semanticTokens/refresh")
            self.send_refresh("workspace/inlayHint/refresh")

    # ------------------------------------------------------------ replies

    def send_error(self, id_: int | str, code: int, message: str) -> None:
        self.out.send(jsonrpc.error_response(id_, code, message))

    async def finish(self, pend: Pending, message: dict[str, Any]) -> None:
        """Send the one reply for a pending request (delayed at random under --shuffle-replies)."""
        faults = self.config.faults
        if faults.shuffle_replies:
            await asyncio.sleep(self.rng.uniform(0, faults.shuffle_max_ms / 1000))
        self.complete(pend, message)

    def complete(self, pend: Pending, message: dict[str, Any]) -> None:
        key = id_key(pend.msg.id)
        same_id = self.pending.get(key, [])
        if pend not in same_id:
            return
        same_id.remove(pend)
        if not same_id:
            del self.pending[key]
        self.out.send(message)

    def fail(self, pend: Pending, code: int, message: str) -> None:
        if pend.task is not None and pend.task is not asyncio.current_task():
            pend.task.cancel()
        self.complete(pend, jsonrpc.error_response(pend.msg.id, code, message))

    def fail_uri(self, uri: str, code: int, message: str) -> None:
        for pend in [p for same_id in self.pending.values() for p in same_id if p.uri == uri]:
            self.fail(pend, code, message)

    # ------------------------------------------------------------ requests

    def on_request(self, msg: jsonrpc.Message) -> None:
        pend = Pending(msg)
        self.pending.setdefault(id_key(msg.id), []).append(pend)
        if msg.method == "shutdown":
            self.terminate_workers()
            self.state = "shutdown"
            self.complete(pend, jsonrpc.response(msg.id, None))
            return
        entry = self.handlers.get(msg.method or "")
        if entry is None:
            self.fail(pend, -32601, f"No request handler found for '{msg.method}'")
            return
        uri_of, handler = entry
        doc = None
        if uri_of is not None:
            try:
                pend.uri = uri_of(msg.params)
                if not isinstance(pend.uri, str):
                    raise TypeError("uri is not a string")
            except (KeyError, TypeError, IndexError) as exc:
                if msg.method in FOREIGN_RESOLVE:
                    self.fail(pend, -32801, CLOSED_FILE.format(uri=""))
                    return
                self.fail(pend, -32602, f"Cannot parse request params: {compact(msg.params)}\n{exc!r}")
                return
            doc = self.docs.get(pend.uri)
            if doc is None:
                self.fail(pend, -32801, CLOSED_FILE.format(uri=pend.uri))
                return
            if doc.crashed:
                doc.queue.append(pend)
                return
        pend.task = asyncio.create_task(self.run_request(pend, handler, doc))

    async def run_request(self, pend: Pending, handler: Callable[..., Awaitable[Any]], doc: Document | None) -> None:
        try:
            result = await handler(pend.msg.params, doc)
        except RequestError as exc:
            await self.finish(pend, jsonrpc.error_response(pend.msg.id, exc.code, exc.message))
            return
        except asyncio.CancelledError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            await self.finish(pend, jsonrpc.error_response(
                pend.msg.id, -32602, f"Cannot parse request params: {compact(pend.msg.params)}\n{exc!r}"))
            return
        except Exception as exc:  # a bug in the double: report it like Lean's internal errors
            stderr("handler failed:\n" + traceback.format_exc())
            await self.finish(pend, jsonrpc.error_response(pend.msg.id, -32603, f"internal error: {exc!r}"))
            return
        await self.finish(pend, jsonrpc.response(pend.msg.id, result))

    async def wait_command(self, doc: Document, line: int) -> Run:
        """Wait until the current run has elaborated the command containing ``line``.

        A request keeps the version current when it arrived (an edit does not restart it, it
        answers from that version), but a worker restart replays it against the new worker.
        """
        generation = doc.generation
        while True:
            run = doc.run
            assert run is not None
            await doc.wait(lambda run=run: run.finished or run.superseded or run.upto_line >= line)
            if not run.superseded or doc.generation == generation or doc.run is run:
                return run
            generation = doc.generation

    def position_entry(self, uri: str, line: int, character: int, key: str) -> Any:
        for entry in self.scenario.positions:
            if entry.line == line and entry.character == character and entry.uri in (None, uri):
                value = getattr(entry, key)
                if value is not MISSING:
                    return value
        return MISSING

    async def wait_for_diagnostics(self, params: dict, doc: Document) -> dict:
        version = params.get("version", 0)
        await doc.wait(lambda: doc.finished_version >= version)
        return {}

    async def plain_goal(self, params: dict, doc: Document) -> Any:
        return plain_goal_result(await self.goals_at(doc, params["position"]))

    async def goals_at(self, doc: Document, position: dict) -> list[str] | None:
        line, character = int(position["line"]), int(position["character"])
        run = await self.wait_command(doc, line)
        override = self.position_entry(doc.uri, line, character, "goals")
        if override is not MISSING:
            return override
        return run.elab.goals_at(line, run.elab.index.cp_col(line, character))

    async def plain_term_goal(self, params: dict, doc: Document) -> Any:
        line, character = int(params["position"]["line"]), int(params["position"]["character"])
        run = await self.wait_command(doc, line)
        override = self.position_entry(doc.uri, line, character, "term_goal")
        if override is not MISSING:
            if override is not None and "range" not in override:
                override = {**override, "range": {"start": params["position"], "end": params["position"]}}
            return override
        return run.elab.term_goal_at(line, run.elab.index.cp_col(line, character))

    async def hover(self, params: dict, doc: Document) -> Any:
        line, character = int(params["position"]["line"]), int(params["position"]["character"])
        run = await self.wait_command(doc, line)
        return hover_result(run.elab, self.scenario, line, character)

    async def completion(self, params: dict, doc: Document) -> Any:
        line, character = int(params["position"]["line"]), int(params["position"]["character"])
        await self.wait_command(doc, line)
        return completion_result(self.scenario, doc.uri, line, character)

    async def code_action(self, params: dict, doc: Document) -> Any:
        run = await self.wait_command(doc, int(params["range"]["end"]["line"]))
        return code_actions(run.elab, doc.uri, run.version, params["range"])

    async def code_action_resolve(self, params: dict, doc: Document) -> Any:
        data = params["data"]
        if not is_lean_resolve_data(data):
            raise RequestError(-32801, CLOSED_FILE.format(uri=""))  # Lean cannot decode the data (§12)
        await self.wait_command(doc, int(data["params"]["range"]["end"]["line"]))
        return params

    async def echo(self, params: Any, doc: Any) -> Any:
        return params

    async def completion_resolve(self, params: Any, doc: Any) -> Any:
        if not is_lean_completion_data(params):
            # Lean routes by the item's data; for data it did not make it finds no file (and
            # prints a PANIC line on stderr)
            stderr("PANIC at Lean.Lsp.CompletionItem.getFileSource! (foreign completion item data)")
            raise RequestError(-32801, CLOSED_FILE.format(uri=""))
        return params

    async def empty_object(self, params: Any, doc: Any) -> Any:
        return {}

    async def empty_list(self, params: Any, doc: Any) -> Any:
        return []

    async def null_result(self, params: Any, doc: Any) -> Any:
        return None

    async def empty_list_after_elab(self, params: Any, doc: Document) -> Any:
        run = doc.run
        assert run is not None
        await doc.wait(lambda: run.finished or run.superseded)
        return []

    async def navigation(self, method: str, params: Any, doc: Document) -> Any:
        """Symbols, definitions, highlights, semantic tokens (tests/lean_double/navigation.py)."""
        run = doc.run
        assert run is not None
        await doc.wait(lambda: run.finished or run.superseded)
        elab = run.elab
        if method == "documentSymbol":
            return navigation.document_symbols(elab)
        if method == "semanticTokens/full":
            return navigation.semantic_tokens(elab)
        if method == "semanticTokens/range":
            rng = params["range"]
            return navigation.semantic_tokens(elab, int(rng["start"]["line"]), int(rng["end"]["line"]))
        line, character = int(params["position"]["line"]), int(params["position"]["character"])
        if method == "documentHighlight":
            return navigation.highlights(elab, line, character)
        return navigation.definition(elab, doc.uri, line, character)

    # ------------------------------------------------------------ RPC

    def session(self, doc: Document, session_id: Any) -> Session | None:
        return touch_session(doc.sessions, session_id, self.config.rpc_expiry_s)

    async def rpc_connect(self, params: dict, doc: Document) -> Any:
        wire = (self.client_caps.get("lean") or {}).get("rpcWireFormat", "v0")
        return {"sessionId": open_session(doc.sessions, self.rng, wire, self.config.lean_version < (4, 29))}

    async def rpc_call(self, params: dict, doc: Document) -> Any:
        if not isinstance(params.get("sessionId"), str):
            raise RequestError(-32602, f"Cannot parse request params: {compact(params)}\n"
                                       "Lean.Lsp.RpcCallParams.sessionId: String expected")
        session = self.session(doc, params.get("sessionId"))
        if session is None:
            raise RequestError(-32900, "Outdated RPC session")
        method = params["method"]
        inner = params.get("params")
        inner = inner if isinstance(inner, dict) else {}
        position = inner.get("position", params.get("position"))
        if method == "Lean.Widget.getInteractiveGoals":
            goals = await self.goals_at(doc, position)
            return interactive_goals(goals, session.refs, self.uniq)
        if method == "Lean.Widget.getInteractiveTermGoal":
            term = await self.plain_term_goal({"position": position}, doc)
            if term is None:
                return None
            return interactive_term_goal(term, session.refs, self.uniq)
        if method == "Lean.Widget.getWidgets":
            await self.wait_command(doc, int(position["line"]))
            return {"widgets": list(self.scenario.widgets)}
        if method == "Lean.Widget.getWidgetSource":
            digest = inner.get("hash")
            problem = ("hash: String expected" if not isinstance(digest, str)
                       else None if is_position(inner.get("pos")) else "pos: Lean.Lsp.Position.line: Natural number expected")
            if problem is not None:
                raise RequestError(-32602, f"Cannot decode params in RPC call '{method}({compact(params.get('params'))})'\n"
                                           f"Lean.Widget.GetWidgetSourceParams.{problem}")
            if digest not in self.scenario.widget_sources:
                raise RequestError(-32602, f"No widget module with hash {digest} registered")
            return {"sourcetext": self.scenario.widget_sources[digest]}
        if method == "Lean.Widget.getInteractiveDiagnostics":
            run = doc.run
            assert run is not None
            diags = [d.to_lsp(run.elab.index) for d in run.elab.diagnostics()] if run.finished else []
            return interactive_diagnostics(diags, session.refs)
        if method == "Lean.Widget.InteractiveDiagnostics.infoToInteractive":
            ref = params.get("params")
            valid, payload = session.refs.resolve(ref)
            if not valid:
                value = ref.get("p", ref.get("__rpcref")) if isinstance(ref, dict) else ref
                raise RequestError(-32602, f"RPC reference '{value}' is not valid")
            return {"type": {"text": payload or ""}, "exprExplicit": {"text": payload or ""}}
        raise RequestError(-32601, f"No RPC method '{method}' found")

    def rpc_notification(self, method: str, params: dict) -> None:
        if method == "$/lean/rpc/keepAlive" and not isinstance(params.get("sessionId"), str):
            self.fatal(f"Cannot parse notification params of {method}: sessionId: String expected")
            return
        doc = self.docs.get(params.get("uri", ""))
        if doc is None or doc.crashed:
            return
        session = self.session(doc, params.get("sessionId"))
        if session is not None and method == "$/lean/rpc/release":
            session.refs.release(params.get("refs") or [])

    # ------------------------------------------------------------ notifications

    def on_notification(self, msg: jsonrpc.Message) -> None:
        try:
            self.handle_notification(msg)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            stderr(f"Cannot parse notification params of {msg.method}: {exc!r} (ignored)")

    def handle_notification(self, msg: jsonrpc.Message) -> None:
        params = msg.params if isinstance(msg.params, dict) else {}
        method = msg.method or ""
        if method == "textDocument/didOpen":
            self.did_open(params)
        elif method == "textDocument/didChange":
            self.did_change(params)
        elif method == "textDocument/didClose":
            self.did_close(params)
        elif method == "$/cancelRequest":
            self.cancel(params.get("id"))
        elif method in ("$/lean/rpc/release", "$/lean/rpc/keepAlive"):
            self.rpc_notification(method, params)
        elif method == "textDocument/didSave":
            self.dependency_changed(params["textDocument"]["uri"])
        elif method == "workspace/didChangeWatchedFiles":
            for change in params.get("changes", []):
                if str(change.get("uri", "")).endswith(".lean"):
                    self.dependency_changed(change["uri"])
        elif method.startswith("$/"):
            pass
        else:
            stderr(f"Got unsupported notification: {method}")

    def dependency_changed(self, uri: str) -> None:
        """A saved or changed module makes its open importers stale (sticky diagnostic, §1.6)."""
        self.changed_modules.add(uri)
        for doc in self.docs.values():
            if doc.uri == uri or doc.crashed or doc.stale or doc.run is None:
                continue
            if any(is_module_file(uri, m) for _, m in imported_modules(doc.run.elab.header)):
                doc.stale = True
                if doc.run.finished:
                    self.publish(doc, doc.run, doc.run.elab.diagnostics(), full=True)

    def cancel(self, request_id: Any) -> None:
        if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
            return
        same_id = self.pending.get(id_key(request_id))
        if not same_id:
            return
        pend = same_id[-1]
        if pend.msg.method == "textDocument/waitForDiagnostics":
            return  # Lean ignores this cancellation: answered only when the file closes (§12)
        for doc in self.docs.values():
            if pend in doc.queue:
                doc.queue.remove(pend)
        self.fail(pend, -32800, "")

    def did_open(self, params: dict) -> None:
        td = params["textDocument"]
        uri = td["uri"]
        if uri in self.docs:
            self.close_document(self.docs.pop(uri), publish=False)
        doc = Document(uri, normalize_newlines(td.get("text", "")), int(td.get("version", 0)))
        mode = params.get("dependencyBuildMode", "always")
        doc.build_mode = mode
        self.docs[uri] = doc
        self.start_run(doc, self.config.elab_delay_ms, fresh_worker=True)
        doc.build_mode = "never" if mode == "once" else mode

    def did_change(self, params: dict) -> None:
        td = params.get("textDocument", {})
        doc = self.docs.get(td.get("uri"))
        changes = params.get("contentChanges") or []
        if doc is None or not changes:
            return
        for change in changes:
            doc.text = apply_change(doc.text, change)
        doc.version = int(td.get("version") or 0)
        if doc.crashed:
            stderr(f"[{doc.uri}] restarting crashed worker")
            doc.crashed = False
            doc.stale = False
            doc.generation += 1
            self.start_run(doc, self.config.elab_delay_ms, fresh_worker=True)
            queued, doc.queue = doc.queue, []
            for pend in queued:
                entry = self.handlers[pend.msg.method or ""]
                pend.task = asyncio.create_task(self.run_request(pend, entry[1], doc))
            return
        old_header = doc.run.elab.header if doc.run else ""
        run = self.start_run(doc, self.config.elab_delay_ms)
        if run.elab.header != old_header:
            stderr(f"[{doc.uri}] imports changed: restarting the worker")
            doc.generation += 1
            doc.sessions.clear()
            doc.stale = False
            run.fresh_worker = True
            self.restart_run(doc, run)

    def restart_run(self, doc: Document, run: Run) -> None:
        if run.task is not None:
            run.task.cancel()
        run.task = asyncio.create_task(self.elaborate_run(doc, run, self.config.restart_delay_ms + self.config.elab_delay_ms))

    def did_close(self, params: dict) -> None:
        doc = self.docs.pop(params.get("textDocument", {}).get("uri", ""), None)
        if doc is not None:
            self.close_document(doc, publish=True)

    def close_document(self, doc: Document, publish: bool) -> None:
        if doc.run is not None:
            doc.run.superseded = True
            if doc.run.task is not None:
                doc.run.task.cancel()
        self.fail_uri(doc.uri, -32801, TERMINATED.format(uri=doc.uri))
        doc.queue.clear()
        doc.notify()
        if publish:
            self.out.send(jsonrpc.notification("textDocument/publishDiagnostics",
                                               {"uri": doc.uri, "version": doc.version, "diagnostics": []}))

    def terminate_workers(self) -> None:
        for doc in list(self.docs.values()):
            self.close_document(doc, publish=True)
        self.docs.clear()

    # ------------------------------------------------------------ simulated worker

    def start_run(self, doc: Document, delay_ms: int, fresh_worker: bool = False) -> Run:
        if doc.run is not None:
            doc.run.superseded = True
            if doc.run.task is not None:
                doc.run.task.cancel()
        try:
            elab = elaborate(doc.text, self.scenario, self.options, doc.uri)
        except Exception:  # a bug in the mini-elaborator must not take the session down
            stderr(f"[{doc.uri}] mini-elaborator failed (reporting no diagnostics):\n" + traceback.format_exc())
            elab = Elaboration(doc.text, LineIndex(doc.text), "", [])
        run = Run(doc.version, elab, build_mode=doc.build_mode, fresh_worker=fresh_worker)
        doc.run = run
        doc.notify()
        run.task = asyncio.create_task(self.elaborate_run(doc, run, delay_ms))
        return run

    def progress(self, doc: Document, run: Run, processing: list[dict[str, Any]]) -> None:
        if run.superseded:
            return
        self.out.send(jsonrpc.notification("$/lean/fileProgress", {
            "textDocument": {"uri": doc.uri, "version": run.version}, "processing": processing}))

    def shown(self, diagnostics: list[Diagnostic]) -> bool:
        """Whether this client sees any of these (silent ones only with silentDiagnosticSupport)."""
        silent_ok = bool((self.client_caps.get("lean") or {}).get("silentDiagnosticSupport"))
        return any(silent_ok or not d.silent for d in diagnostics)

    def publish(self, doc: Document, run: Run, diagnostics: list[Any], full: bool = False) -> None:
        """Publish the cumulative list for a version (§4.2). Clients that declared
        ``lean.incrementalDiagnosticSupport`` get ``isIncremental``: a full list first, then
        only what was added since (``full`` forces a replacement)."""
        if run.superseded:
            return
        lean_caps = self.client_caps.get("lean") or {}
        silent_ok = bool(lean_caps.get("silentDiagnosticSupport"))
        payload = [d.to_lsp(run.elab.index) for d in diagnostics if silent_ok or not d.silent]
        if doc.stale:
            payload.insert(0, stale_imports_diagnostic(run.elab.index))
        if self.config.faults.huge_diagnostic_bytes:
            payload.append(huge_diagnostic(self.config.faults.huge_diagnostic_bytes))
        params: dict[str, Any] = {"uri": doc.uri, "version": run.version, "diagnostics": payload}
        if lean_caps.get("incrementalDiagnosticSupport") is True:
            incremental = run.published is not None and not full
            params["isIncremental"] = incremental
            if incremental:
                params["diagnostics"] = payload[run.published:]
            run.published = len(payload)
        self.out.send(jsonrpc.notification("textDocument/publishDiagnostics", params))

    async def elaborate_run(self, doc: Document, run: Run, delay_ms: int) -> None:
        index: LineIndex = run.elab.index
        whole = {"start": {"line": 0, "character": 0}, "end": index.end_position()}
        if run.fresh_worker:
            # a new worker reports the whole file at once and publishes the header's (empty) list
            self.progress(doc, run, [{"range": whole, "kind": 1}])
            self.publish(doc, run, [])
        elif self.config.lake_early_empty:
            self.publish(doc, run, [])
        for k in range(self.config.refresh_requests):
            kind = "semanticTokens" if k % 2 == 0 else "inlayHint"
            self.send_refresh(f"workspace/{kind}/refresh")
        if not run.fresh_worker and delay_ms > PROGRESS_DELAY_MS:
            # after an edit Lean reports progress only when elaboration takes a while; a version
            # superseded before then shows nothing at all
            await asyncio.sleep(PROGRESS_DELAY_MS / 1000)
            self.progress(doc, run, [{"range": whole, "kind": 1}])
            delay_ms -= PROGRESS_DELAY_MS
        await asyncio.sleep(delay_ms / 1000)
        marker = self.config.faults.worker_crash_on
        if marker and marker in doc.text:
            self.crash_worker(doc, run)
            return
        if self.imports_out_of_date(doc, run):
            return
        delays = self.scenario.delays.get("decls", {}) if isinstance(self.scenario.delays.get("decls"), dict) else {}
        so_far: list[Any] = []
        commands = run.elab.commands
        for k, cmd in enumerate(commands):
            pause = 0
            if cmd.keyword is not None:
                pause = self.config.per_decl_delay_ms + int(delays.get(cmd.name or "", 0))
            if pause:
                await asyncio.sleep(pause / 1000)
            so_far.extend(cmd.diagnostics)
            run.upto_line = cmd.last_line
            doc.notify()
            if pause and self.shown(cmd.diagnostics):
                self.publish(doc, run, so_far)
            if pause and k + 1 < len(commands):  # progress shrinks to what is left, as Lean's does
                rest = {"start": {"line": commands[k + 1].first_line, "character": 0}, "end": index.end_position()}
                self.progress(doc, run, [{"range": rest, "kind": 1}])
        # Lean 4.35 reports "done" (twice) *before* the version's final publish (§12)
        self.progress(doc, run, [])
        self.progress(doc, run, [])
        self.publish(doc, run, so_far)
        run.finished = True
        doc.finished_version = max(doc.finished_version, run.version)
        doc.notify()

    def imports_out_of_date(self, doc: Document, run: Run) -> bool:
        """Import setup (§2.5): builds clear changed imports; with ``never`` they are a fatal header error."""
        stale = [(k, m) for k, m in imported_modules(run.elab.header)
                 if any(is_module_file(u, m) for u in self.changed_modules)]
        if not stale:
            return False
        if run.build_mode != "never":
            self.changed_modules = {u for u in self.changed_modules if not any(is_module_file(u, m) for _, m in stale)}
            return False
        index = run.elab.index
        line = next(i for i, text in enumerate(index.lines) if text.startswith("import") and stale[0][1] in text.split())
        diag = Diagnostic((line, 0), (line, len(index.lines[line])), 1, OUT_OF_DATE_IMPORTS)
        run.elab = Elaboration(run.elab.text, index, run.elab.header, [])  # no command is elaborated
        self.publish(doc, run, [diag])
        rest = {"start": {"line": line, "character": 0}, "end": index.end_position()}
        self.progress(doc, run, [{"range": rest, "kind": 2}])
        run.finished = True
        doc.finished_version = max(doc.finished_version, run.version)
        doc.notify()
        return True

    def crash_worker(self, doc: Document, run: Run) -> None:
        code = self.config.faults.worker_crash_exit_code
        stderr(f"[{doc.uri}] injected worker crash (exit code {code})")
        run.superseded = True
        doc.crashed = True
        doc.sessions.clear()
        template, err = (WORKER_EXITED, -32901) if code == 1 else (WORKER_CRASHED, -32902)
        self.fail_uri(doc.uri, err, template.format(uri=doc.uri))
        whole = {"start": {"line": 0, "character": 0}, "end": run.elab.index.end_position()}
        self.out.send(jsonrpc.notification("$/lean/fileProgress", {
            "textDocument": {"uri": doc.uri, "version": doc.version}, "processing": [{"range": whole, "kind": 2}]}))
        doc.notify()
