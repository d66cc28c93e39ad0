"""A typed async client for Lean's language server over any :class:`LeanConnection`.

``LeanClient`` owns *its own* documents (shadow files, or every file headless): it opens,
edits and closes them, tracks Lean's diagnostics and file progress for every URI it hears
about, and asks for goals (``$/lean/plainGoal``, ``$/lean/plainTermGoal``, and the interactive
goals over ``$/lean/rpc``). Every wait has a timeout, because a crashed worker never answers
(lean-lsp-protocol.md §8.10, §8.16).

Diagnostics follow Lean's rules (§4.2, §8.6): each publish replaces the list for its version
(``isIncremental: true`` appends), publishes older than the newest version seen are dropped,
and only a publish *after* a version's done progress counts as "diagnostics have arrived" for
it (real Lean sends an early empty publish, then ``processing: []``, then the final publish).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import msgspec

from lsp_proxy import methods
from lsp_proxy.connection import SERVER_EXITED, SERVER_RESTARTED, LeanConnection
from lsp_proxy.errors import (
    INTERNAL_ERROR,
    RPC_NEEDS_RECONNECT,
    LeanError,
    LeanExited,
    LeanRequestError,
    LeanTimeout,
)
from lsp_proxy.utf16 import offset_to_position, position_to_offset

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
RPC_KEEPALIVE_PERIOD = 10.0  # Lean expires sessions 30 s after the last touch (§3.6)
LEAN_RPC_KEEPALIVE = "$/lean/rpc/keepAlive"
GET_INTERACTIVE_GOALS = "Lean.Widget.getInteractiveGoals"

SEVERITY_ERROR = 1
SEVERITY_WARNING = 2
SEVERITY_INFORMATION = 3
LEAN_TAG_UNSOLVED_GOALS = 1
LEAN_TAG_GOALS_ACCOMPLISHED = 2


# --------------------------------------------------------------------------- wire types


class Position(msgspec.Struct, frozen=True):
    """0-based line and UTF-16 character offset."""

    line: int
    character: int


class Range(msgspec.Struct, frozen=True):
    start: Position
    end: Position


class Diagnostic(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """One Lean diagnostic (§4.1). ``full_range`` is the real extent; ``range`` is cut after
    the first line by Lean."""

    range: Range
    message: str
    severity: int = SEVERITY_ERROR
    full_range: Range | None = None
    source: str | None = None
    code: str | int | None = None
    tags: list[int] | None = None
    lean_tags: list[int] | None = None
    is_silent: bool | None = None

    @property
    def extent(self) -> Range:
        """``fullRange`` when Lean sent one, else ``range``."""
        return self.full_range or self.range

    @property
    def is_error(self) -> bool:
        return self.severity == SEVERITY_ERROR

    @property
    def is_sorry_warning(self) -> bool:
        """Lean's sorry warning in any wording (see :func:`is_sorry_message`)."""
        return self.severity == SEVERITY_WARNING and is_sorry_message(self.message)

    @property
    def is_unsolved_goals(self) -> bool:
        return self.is_error and (
            LEAN_TAG_UNSOLVED_GOALS in (self.lean_tags or ()) or self.message.startswith("unsolved goals")
        )


class _PublishHead(msgspec.Struct):
    """A publishDiagnostics without converting its diagnostics (done lazily, per URI asked)."""

    uri: str
    diagnostics: list[Any]
    version: int | None = None
    isIncremental: bool | None = None


class ProcessingInfo(msgspec.Struct, frozen=True):
    range: Range
    kind: int = 1  # 1 processing, 2 fatalError


class _VersionedId(msgspec.Struct):
    uri: str
    version: int | None = None


class _FileProgressParams(msgspec.Struct):
    textDocument: _VersionedId
    processing: list[ProcessingInfo]


class PlainGoal(msgspec.Struct, frozen=True):
    """``$/lean/plainGoal`` result: ``goals`` are plain text, ``[]`` means "no goals"."""

    rendered: str
    goals: list[str]


class PlainTermGoal(msgspec.Struct, frozen=True):
    """``$/lean/plainTermGoal`` result: the expected type at a term, shown as a goal."""

    goal: str
    range: Range


class InteractiveGoal(msgspec.Struct, frozen=True):
    """One goal of ``Lean.Widget.getInteractiveGoals`` flattened to text (tags stripped);
    ``raw`` keeps Lean's JSON (with its opaque RPC references)."""

    hyps: list[tuple[list[str], str]]
    type: str
    goal_prefix: str
    user_name: str | None
    raw: dict[str, Any]

    @property
    def text(self) -> str:
        """The goal the way ``plainGoal`` prints it."""
        lines = [f"case {self.user_name}"] if self.user_name else []
        lines += [f"{' '.join(names)} : {typ}" for names, typ in self.hyps]
        lines.append(f"{self.goal_prefix}{self.type}")
        return "\n".join(lines)


class FileProgress(msgspec.Struct):
    """The latest ``$/lean/fileProgress`` for a URI: ``processing == []`` means done."""

    version: int | None = None
    processing: list[ProcessingInfo] = msgspec.field(default_factory=list)
    seen: bool = False

    @property
    def done(self) -> bool:
        return self.seen and not self.processing

    @property
    def failed(self) -> bool:
        """A fatal error (kind 2): crashed worker or broken header."""
        return any(p.kind == 2 for p in self.processing)


class TextChange(msgspec.Struct, frozen=True):
    """One ``contentChanges`` entry: ranged when ``range`` is set, else full text."""

    text: str
    range: Range | None = None


# Lean's sorry warning, every wording: ``declaration uses 'sorry'`` (Lean ≤ 2025, src/Lean/AddDecl.lean),
# ``declaration uses `sorry` `` (2025), and ``declaration `foo.bar` uses `sorry` `` (newest; the name
# is the declaration's or an auxiliary one's, e.g. a `where` helper: lean4 tests/lean/run/
# sorryWarningDeclName.lean).
_SORRY_MESSAGE = re.compile(r"declaration (?:`[^`\n]*` |'[^'\n]*' )?uses ['`]sorry['`]")


def is_sorry_message(message: str) -> bool:
    """Whether a diagnostic message is Lean's "declaration uses sorry" warning, in any of its
    wordings (single quotes, backticks, or backticks naming the declaration)."""
    return _SORRY_MESSAGE.match(message) is not None


def _convert(value: Any, type_: Any) -> Any:
    """Validate an already-parsed JSON value into a typed Struct (no re-encoding: this runs for
    every Lean notification behind the proxy)."""
    return msgspec.convert(value, type_)


# --------------------------------------------------------------------------- text helpers


def position_to_index(text: str, position: Position) -> int:
    """Python index into ``text`` of an LSP position (clamped like Lean, :mod:`lsp_proxy.utf16`)."""
    return position_to_offset(text, position.line, position.character)


def index_to_position(text: str, index: int) -> Position:
    """LSP position (UTF-16 character) of a Python index into ``text``."""
    return Position(*offset_to_position(text, index))


def apply_change(text: str, change: TextChange) -> str:
    """Apply one ``contentChanges`` entry the way Lean does (CRLF becomes LF)."""
    new = change.text.replace("\r\n", "\n")
    if change.range is None:
        return new
    start = position_to_index(text, change.range.start)
    end = position_to_index(text, change.range.end)
    return text[:start] + new + text[max(start, end):]


def strip_tags(tagged: Any) -> str:
    """Plain text of a ``TaggedText`` (``{"text"}``, ``{"append"}``, ``{"tag": [info, t]}``)."""
    if isinstance(tagged, dict):
        if "text" in tagged:
            return str(tagged["text"])
        if "append" in tagged:
            return "".join(strip_tags(part) for part in tagged["append"])
        if "tag" in tagged and isinstance(tagged["tag"], list) and len(tagged["tag"]) == 2:
            return strip_tags(tagged["tag"][1])
    if isinstance(tagged, str):
        return tagged
    return ""


def _hyp_text(hyp: dict[str, Any]) -> str:
    """A hypothesis bundle's type, with ``:= value`` for a let-bound one (``x : Nat := 5``),
    as Lean's plain goal printer shows it."""
    text = strip_tags(hyp.get("type"))
    if hyp.get("val") is not None:
        text += f" := {strip_tags(hyp['val'])}"
    return text


def parse_interactive_goals(result: Any) -> list[InteractiveGoal] | None:
    """Flatten an ``InteractiveGoals`` JSON result (§3.6) to :class:`InteractiveGoal` s."""
    if result is None:
        return None
    goals = []
    for goal in result.get("goals", []):
        hyps = [(list(h.get("names", [])), _hyp_text(h)) for h in goal.get("hyps", [])]
        goals.append(
            InteractiveGoal(
                hyps=hyps,
                type=strip_tags(goal.get("type")),
                goal_prefix=goal.get("goalPrefix", "⊢ "),
                user_name=goal.get("userName"),
                raw=goal,
            )
        )
    return goals


# --------------------------------------------------------------------------- state


class _OwnDocument:
    """A document this client opened: its text and version sequence are ours."""

    __slots__ = ("build_mode", "language_id", "text", "uri", "version")

    def __init__(self, uri: str, text: str, version: int, language_id: str, build_mode: str | None) -> None:
        self.uri = uri
        self.text = text
        self.version = version
        self.language_id = language_id
        self.build_mode = build_mode


class _DiagnosticsState:
    """One URI's diagnostics. They are kept as Lean's decoded JSON and converted to
    :class:`Diagnostic` only when asked for (most URIs behind the proxy are never asked about,
    and a publish can be megabytes)."""

    __slots__ = ("_items", "arrived", "raw", "version")

    def __init__(self) -> None:
        self.version: int | None = None
        self.raw: list[Any] = []
        self._items: list[Diagnostic] | None = []
        self.arrived = False  # the final publish for ``version`` (one after its done progress) was seen

    def set(self, raw: list[Any]) -> None:
        self.raw, self._items = raw, None

    @property
    def items(self) -> list[Diagnostic]:
        if self._items is None:
            items = []
            for entry in self.raw:
                try:
                    items.append(_convert(entry, Diagnostic))
                except (msgspec.ValidationError, TypeError) as exc:
                    logger.warning("ignored a malformed diagnostic from Lean: %s", exc)
            self._items = items
        return self._items


# Real Lean's RPC session ids are JSON strings (a 64-bit number in decimal); a number sent
# back gets -32602, and a keep-alive with one makes the watchdog exit (lean-lsp-protocol.md §12).
# The id is therefore kept exactly as Lean gave it, never converted.
RpcSessionId = str | int


class _RpcSession:
    __slots__ = ("keepalive", "session_id")

    def __init__(self, session_id: RpcSessionId, keepalive: asyncio.Task[None] | None) -> None:
        self.session_id = session_id
        self.keepalive = keepalive


# --------------------------------------------------------------------------- client

# The only notifications LeanClient reads: the proxy decodes nothing else on its behalf.
_SUBSCRIBED = (methods.PUBLISH_DIAGNOSTICS, methods.LEAN_FILE_PROGRESS, SERVER_RESTARTED, SERVER_EXITED)


class LeanClient:
    """Typed async API over a :class:`LeanConnection` (router or headless).

    Use one client per Lean server. Methods raise :class:`LeanTimeout`, :class:`LeanExited`
    or :class:`LeanRequestError` (all :class:`LeanError`); document bookkeeping methods
    (``diagnostics``, ``progress``) never raise.
    """

    def __init__(self, connection: LeanConnection, *, request_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.connection = connection
        self.request_timeout = request_timeout
        self.rpc_keepalive_period = RPC_KEEPALIVE_PERIOD
        self._docs: dict[str, _OwnDocument] = {}
        self._last_version: dict[str, int] = {}  # survives close, so re-opens keep counting up
        self._diagnostics: dict[str, _DiagnosticsState] = {}
        self._progress: dict[str, FileProgress] = {}
        self._rpc: dict[str, _RpcSession] = {}
        self._rpc_connecting: dict[str, asyncio.Future[Any]] = {}
        self._changed = asyncio.Event()  # pulsed on every diagnostics/progress update
        self._listeners: list[Callable[[str, str], None]] = []
        self._exited = False
        self._reopen_task: asyncio.Task[Any] | None = None
        self._unsubscribe = connection.subscribe(self._on_notification, _SUBSCRIBED)

    # ------------------------------------------------------------------ events

    def add_listener(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``callback(kind, uri)`` on ``"diagnostics"``, ``"progress"``, ``"restarted"``
        (uri ``""``) and ``"exited"`` (uri ``""``). Returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _emit(self, kind: str, uri: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(kind, uri)
            except Exception:  # a listener bug must not break notification handling
                logger.exception("LeanClient listener failed on %s %s", kind, uri)
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_notification(self, method: str, params: Any) -> None:
        try:
            if method == methods.PUBLISH_DIAGNOSTICS:
                self._on_publish(params)
            elif method == methods.LEAN_FILE_PROGRESS:
                self._on_progress(params)
            elif method == SERVER_RESTARTED:
                self._on_restarted()
            elif method == SERVER_EXITED:
                self._exited = True
                self._emit("exited", "")
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError, KeyError) as exc:
            logger.warning("ignored malformed %s from Lean: %s", method, exc)

    def _on_publish(self, params: Any) -> None:
        publish: _PublishHead = _convert(params, _PublishHead)
        state = self._diagnostics.setdefault(publish.uri, _DiagnosticsState())
        version = publish.version
        if version is not None and state.version is not None and version < state.version:
            logger.debug("dropped stale diagnostics for %s v%s < v%s", publish.uri, version, state.version)
            return
        own = self._docs.get(publish.uri)
        if own is not None and version is not None and version < own.version:
            logger.debug("dropped diagnostics for superseded version %s of %s", version, publish.uri)
            return
        if version is None or version != state.version:
            state.version = version
            state.set([])
            state.arrived = False
        if publish.isIncremental:
            state.set(state.raw + publish.diagnostics)
        else:
            state.set(list(publish.diagnostics))
        if self._version_done(publish.uri, version):
            # Real Lean reports "done" (fileProgress processing: [], often twice) *before* the
            # version's final publish (lean-lsp-protocol.md §12): only a publish after it is final.
            state.arrived = True
        self._emit("diagnostics", publish.uri)

    def _version_done(self, uri: str, version: int | None) -> bool:
        progress = self._progress.get(uri)
        return progress is not None and progress.done and progress.version == version

    def _on_progress(self, params: Any) -> None:
        progress: _FileProgressParams = _convert(params, _FileProgressParams)
        uri = progress.textDocument.uri
        version = progress.textDocument.version
        current = self._progress.get(uri)
        if current is not None and current.version is not None and version is not None and version < current.version:
            return
        self._progress[uri] = FileProgress(version=version, processing=list(progress.processing), seen=True)
        self._emit("progress", uri)

    def _on_restarted(self) -> None:
        """Lean was restarted: every worker and RPC session is gone; re-open our documents."""
        logger.info("Lean restarted: re-opening %d private document(s)", len(self._docs))
        for session in self._rpc.values():
            if session.keepalive is not None:
                session.keepalive.cancel()
        self._rpc.clear()
        self._diagnostics.clear()
        self._progress.clear()
        self._exited = False
        self._reopen_task = asyncio.ensure_future(self._reopen_all())
        self._emit("restarted", "")

    async def _reopen_all(self) -> None:
        for doc in list(self._docs.values()):
            try:
                await self._send_open(doc)
            except LeanError as exc:
                logger.warning("could not re-open %s after restart: %s", doc.uri, exc)

    # ------------------------------------------------------------------ documents

    @property
    def open_documents(self) -> list[str]:
        """URIs this client has open."""
        return list(self._docs)

    def document_text(self, uri: str) -> str | None:
        """The text of one of our documents as Lean has it."""
        doc = self._docs.get(uri)
        return doc.text if doc else None

    def document_version(self, uri: str) -> int | None:
        doc = self._docs.get(uri)
        return doc.version if doc else None

    async def _send_open(self, doc: _OwnDocument) -> None:
        params: dict[str, Any] = {
            "textDocument": {"uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text}
        }
        if doc.build_mode is not None:
            params["dependencyBuildMode"] = doc.build_mode
        await self.connection.notify(methods.DID_OPEN, params)

    async def open(
        self,
        uri: str,
        text: str,
        version: int | None = None,
        *,
        language_id: str = "lean4",
        private: bool = True,
        dependency_build_mode: str | None = None,
    ) -> int:
        """Open a document of our own (``didOpen``). ``private`` hides Lean's notifications
        about it from the editor (shadow files); ``dependency_build_mode`` is Lean's
        ``always``/``once``/``never`` (default: Lean's). Opening an open URI raises
        ``ValueError``: a second ``didOpen`` would spawn a second worker (§2.2).

        ``version`` defaults to 1 for a new URI and to one more than the last version used
        for a re-opened one, so late publishes about the previous incarnation (Lean's empty
        publish after ``didClose``) are recognised as stale. Returns the version sent."""
        if uri in self._docs:
            raise ValueError(f"{uri} is already open")
        if version is None:
            version = self._last_version.get(uri, 0) + 1
        text = text.replace("\r\n", "\n")
        doc = _OwnDocument(uri, text, version, language_id, dependency_build_mode)
        if private:
            self.connection.set_private_uri(uri, True)
        self._docs[uri] = doc
        self._diagnostics.pop(uri, None)
        self._progress.pop(uri, None)
        self._last_version[uri] = max(version, self._last_version.get(uri, 0))
        try:
            await self._send_open(doc)
        except BaseException:
            self._docs.pop(uri, None)
            raise
        return version

    def _own(self, uri: str) -> _OwnDocument:
        doc = self._docs.get(uri)
        if doc is None:
            raise ValueError(f"{uri} is not open in this client")
        return doc

    async def change(self, uri: str, text: str, version: int | None = None) -> int:
        """Replace the whole text (one full-text ``didChange``). Returns the version sent
        (``version`` or the next one); versions must strictly increase."""
        return await self.change_incremental(uri, [TextChange(text=text)], version)

    async def change_incremental(self, uri: str, changes: Sequence[TextChange], version: int | None = None) -> int:
        """Send ranged and/or full-text changes in order; the local mirror applies them the
        way Lean does. Returns the version sent."""
        doc = self._own(uri)
        if not changes:
            raise ValueError("no changes: Lean ignores an empty contentChanges (§2.3)")
        await self._after_reopen()
        new_version = doc.version + 1 if version is None else version
        if new_version <= doc.version:
            raise ValueError(f"version {new_version} is not above {doc.version} for {uri}")
        text = doc.text
        wire = []
        for change in changes:
            text = apply_change(text, change)
            entry: dict[str, Any] = {"text": change.text}
            if change.range is not None:
                entry = {"range": msgspec.to_builtins(change.range), "text": change.text}
            wire.append(entry)
        doc.text, doc.version = text, new_version
        self._last_version[uri] = new_version
        await self.connection.notify(
            methods.DID_CHANGE,
            {"textDocument": {"uri": uri, "version": new_version}, "contentChanges": wire},
        )
        return new_version

    async def revive(self, uri: str) -> int:
        """Restart a crashed worker: resend the full text with version+1 (§1.5, §8.10)."""
        doc = self._own(uri)
        return await self.change(uri, doc.text)

    async def close(self, uri: str) -> None:
        """Close one of our documents (``didClose``) and forget its state."""
        doc = self._docs.pop(uri, None)
        session = self._rpc.pop(uri, None)
        if session is not None and session.keepalive is not None:
            session.keepalive.cancel()
        self._diagnostics.pop(uri, None)
        self._progress.pop(uri, None)
        if doc is None:
            return
        # The URI stays private: Lean answers didClose with an empty publishDiagnostics that
        # must not reach the editor either (and a shadow URI is reused later anyway).
        await self.connection.notify(methods.DID_CLOSE, {"textDocument": {"uri": uri}})

    async def close_all(self) -> None:
        """Close every document this client opened (errors are logged, not raised)."""
        for uri in list(self._docs):
            try:
                await self.close(uri)
            except LeanError as exc:
                logger.warning("could not close %s: %s", uri, exc)

    # ------------------------------------------------------------------ diagnostics and progress

    def diagnostics(self, uri: str) -> list[Diagnostic]:
        """The latest diagnostics Lean published for ``uri`` (any version)."""
        state = self._diagnostics.get(uri)
        return list(state.items) if state else []

    def diagnostics_version(self, uri: str) -> int | None:
        """The version the stored diagnostics belong to, or ``None``."""
        state = self._diagnostics.get(uri)
        return state.version if state else None

    def diagnostics_arrived(self, uri: str, version: int) -> bool:
        """Whether the final diagnostics for ``version`` or later were seen (a publish after
        that version's done progress; Lean's early and intermediate publishes do not count)."""
        state = self._diagnostics.get(uri)
        return bool(state and state.version is not None and state.version >= version and state.arrived)

    def progress(self, uri: str) -> FileProgress:
        """The latest file-progress state for ``uri`` (``seen`` false if none arrived)."""
        return self._progress.get(uri) or FileProgress()

    async def wait_for_diagnostics(self, uri: str, version: int | None = None, timeout: float | None = None) -> list[Diagnostic]:
        """Barrier: send ``textDocument/waitForDiagnostics`` for ``version`` (default: our
        latest), then return the diagnostics for that version (``[]`` if Lean published
        none for it). Raises :class:`LeanTimeout` after ``timeout`` seconds."""
        if version is None:
            version = self._own(uri).version
        timeout = self.request_timeout if timeout is None else timeout
        await self._barrier(uri, version, timeout)
        state = self._diagnostics.get(uri)
        if state is None or state.version is None or state.version < version:
            return []
        return list(state.items)

    async def _barrier(self, uri: str, version: int, timeout: float) -> None:
        """``textDocument/waitForDiagnostics``: Lean answers after the version's final
        publish, so what is stored for that version is then final."""
        await self._request(methods.WAIT_FOR_DIAGNOSTICS, {"uri": uri, "version": version}, timeout)
        state = self._diagnostics.get(uri)
        if state is not None and state.version == version:
            state.arrived = True

    async def wait_until_done(self, uri: str, version: int, timeout: float | None = None) -> FileProgress:
        """Wait for file progress to report done (or failed) for ``version`` or later, and
        for that version's final diagnostics: afterwards :meth:`diagnostics` is complete.

        Real Lean sends ``processing: []`` *before* the final ``publishDiagnostics`` of a
        version (§12); when that publish has not arrived with the progress, one
        ``textDocument/waitForDiagnostics`` (answered after it) is the barrier. Raises
        :class:`LeanTimeout`."""
        deadline = time.monotonic() + (self.request_timeout if timeout is None else timeout)
        while True:
            progress = self.progress(uri)
            if progress.version is not None and progress.version >= version and (progress.done or progress.failed):
                if progress.failed or self.diagnostics_arrived(uri, progress.version):
                    return progress
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LeanTimeout(f"{uri} v{version}: no final diagnostics in time")
                await self._barrier(uri, progress.version, remaining)
                return self.progress(uri)
            if self._exited:
                raise LeanExited("Lean exited")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LeanTimeout(f"{uri} v{version} not processed in time")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # ------------------------------------------------------------------ goals

    async def _after_reopen(self) -> None:
        """After a restart, let the re-opening finish before anything else is sent."""
        task = self._reopen_task
        if task is not None and not task.done():
            await asyncio.shield(task)

    async def _request(self, method: str, params: dict[str, Any], timeout: float | None) -> Any:
        timeout = self.request_timeout if timeout is None else timeout
        await self._after_reopen()
        return await self.connection.request(method, params, timeout=timeout)

    async def plain_goal(self, uri: str, line: int, character: int, *, timeout: float | None = None) -> PlainGoal | None:
        """Goals at a position (``None`` outside tactic blocks; ``goals == []`` when done)."""
        result = await self._request(
            methods.LEAN_PLAIN_GOAL,
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
            timeout,
        )
        return cast("PlainGoal | None", _convert(result, PlainGoal | None))

    async def plain_term_goal(self, uri: str, line: int, character: int, *, timeout: float | None = None) -> PlainTermGoal | None:
        """Expected type at a term position, or ``None``."""
        result = await self._request(
            methods.LEAN_PLAIN_TERM_GOAL,
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
            timeout,
        )
        return cast("PlainTermGoal | None", _convert(result, PlainTermGoal | None))

    async def _rpc_session(self, uri: str, timeout: float | None) -> RpcSessionId:
        session = self._rpc.get(uri)
        if session is not None:
            return session.session_id
        pending = self._rpc_connecting.get(uri)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._rpc_connecting[uri] = future
        try:
            result = await self._request(methods.LEAN_RPC_CONNECT, {"uri": uri}, timeout)
            session_id = result["sessionId"] if isinstance(result, dict) else None
            if not isinstance(session_id, (str, int)) or isinstance(session_id, bool):
                raise LeanRequestError(INTERNAL_ERROR, f"$/lean/rpc/connect returned no sessionId: {result!r}")
            keepalive = asyncio.ensure_future(self._keepalive(uri, session_id))
            self._rpc[uri] = _RpcSession(session_id, keepalive)
            future.set_result(session_id)
            return session_id
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else LeanExited("cancelled"))
                future.exception()  # mark retrieved
            raise
        finally:
            self._rpc_connecting.pop(uri, None)

    def rpc_session_id(self, uri: str) -> RpcSessionId | None:
        """The RPC session this client holds for ``uri`` (exactly as Lean gave it), if any."""
        session = self._rpc.get(uri)
        return session.session_id if session is not None else None

    async def _keepalive(self, uri: str, session_id: RpcSessionId) -> None:
        while True:
            await asyncio.sleep(self.rpc_keepalive_period)
            try:
                await self.connection.notify(LEAN_RPC_KEEPALIVE, {"uri": uri, "sessionId": session_id})
            except LeanError as exc:
                logger.debug("keepAlive for %s failed: %s", uri, exc)
                return

    def _drop_session(self, uri: str, session_id: RpcSessionId) -> None:
        session = self._rpc.get(uri)
        if session is not None and session.session_id == session_id:
            if session.keepalive is not None:
                session.keepalive.cancel()
            del self._rpc[uri]

    async def rpc_call(
        self, uri: str, line: int, character: int, method: str, params: Any, *, timeout: float | None = None
    ) -> Any:
        """Call a Lean RPC method at a position; reconnects once on -32900 (outdated session)."""
        for attempt in (1, 2):
            session_id = await self._rpc_session(uri, timeout)
            try:
                return await self._request(
                    methods.LEAN_RPC_CALL,
                    {
                        "textDocument": {"uri": uri},
                        "position": {"line": line, "character": character},
                        "sessionId": session_id,
                        "method": method,
                        "params": params,
                    },
                    timeout,
                )
            except LeanRequestError as exc:
                if exc.code != RPC_NEEDS_RECONNECT or attempt == 2:
                    raise
                logger.info("RPC session for %s outdated; reconnecting", uri)
                self._drop_session(uri, session_id)
        raise AssertionError("unreachable")

    async def interactive_goals(
        self, uri: str, line: int, character: int, *, timeout: float | None = None
    ) -> list[InteractiveGoal] | None:
        """``Lean.Widget.getInteractiveGoals`` at a position, flattened (``None`` if no goals info)."""
        position = {"line": line, "character": character}
        result = await self.rpc_call(
            uri, line, character, GET_INTERACTIVE_GOALS, {"textDocument": {"uri": uri}, "position": position}, timeout=timeout
        )
        return parse_interactive_goals(result)

    # ------------------------------------------------------------------ lifetime

    async def aclose(self) -> None:
        """Close our documents and stop listening (the connection itself stays up)."""
        await self.close_all()
        for session in self._rpc.values():
            if session.keepalive is not None:
                session.keepalive.cancel()
        self._rpc.clear()
        if self._reopen_task is not None:
            self._reopen_task.cancel()
        self._unsubscribe()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Close our documents, then shut the server down if the connection can (headless)."""
        try:
            await asyncio.wait_for(self.aclose(), timeout)
        except (LeanError, asyncio.TimeoutError) as exc:
            logger.warning("closing documents before shutdown failed: %s", exc)
        shutdown = getattr(self.connection, "shutdown", None)
        if shutdown is not None:
            await shutdown(timeout=timeout)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()
