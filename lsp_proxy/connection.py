"""The contract between :class:`lsp_proxy.lean_client.LeanClient` and whatever carries its
messages to Lean: the proxy's router (requests injected into a live editor session) or a
headless connection that spawns Lean itself.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lsp_proxy.documents import DocumentMirror
    from lsp_proxy.hooks import HookRegistry

# A pseudo-notification delivered to subscribers (never sent on the wire) right after Lean
# was restarted and re-initialised, so clients can re-open their private documents.
SERVER_RESTARTED = "$/leanCompanion/internal/serverRestarted"
# Delivered to subscribers when the server is gone for good (headless: process exited).
SERVER_EXITED = "$/leanCompanion/internal/serverExited"

NotificationCallback = Callable[[str, Any], None]
_logger = logging.getLogger(__name__)


class LeanConnection(Protocol):
    """Send requests and notifications to Lean; receive its notifications.

    * ``request`` raises :class:`lsp_proxy.errors.LeanRequestError` for an error reply,
      :class:`~lsp_proxy.errors.LeanTimeout` after ``timeout`` seconds and
      :class:`~lsp_proxy.errors.LeanExited` if the server went away. Cancelling the awaiting
      task sends ``$/cancelRequest`` for it. Ids never collide with the editor's.
    * ``params`` is always an object or array (Lean kills the server otherwise).
    * ``subscribe`` registers a callback for server->client notifications (decoded method
      and params) plus the pseudo-notifications above: those in ``methods``, or all of them
      when ``methods`` is None. It returns an unsubscribe function. Callbacks run on the event
      loop and must not block. A notification nobody subscribed to is never decoded.
    * ``set_private_uri`` marks a document as ours (a shadow file): Lean's notifications
      about it go to subscribers only and never reach the editor. A no-op headless.
    """

    async def request(self, method: str, params: dict[str, Any] | list[Any], *, timeout: float | None = None) -> Any: ...

    async def notify(self, method: str, params: dict[str, Any] | list[Any]) -> None: ...

    def subscribe(
        self, callback: NotificationCallback, methods: Collection[str] | None = None
    ) -> Callable[[], None]: ...

    def set_private_uri(self, uri: str, private: bool = True) -> None: ...

    @property
    def initialize_result(self) -> dict[str, Any] | None: ...


class EditorSession(LeanConnection, Protocol):
    """What features get from the proxy (implemented by :class:`lsp_proxy.router.Router`):
    the LeanConnection, the hook registry, the document mirror and the editor side."""

    @property
    def hooks(self) -> HookRegistry: ...

    @property
    def documents(self) -> DocumentMirror: ...

    async def request_editor(self, method: str, params: Any, *, timeout: float | None = None) -> Any: ...

    async def notify_editor(self, method: str, params: Any) -> None: ...


class Subscribers:
    """The notification callbacks of a connection, per method (``None``: every method):
    ``add`` returns the unsubscribe function, ``wants`` says whether a method has any
    subscriber (so the caller decodes only those), ``deliver`` calls them, logging (never
    raising) a callback's failure."""

    def __init__(self) -> None:
        self._callbacks: list[tuple[NotificationCallback, frozenset[str] | None]] = []
        self._all = 0  # subscribers to every method
        self._methods: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def wants(self, method: str) -> bool:
        """Whether any subscriber takes ``method`` (a cheap check before decoding)."""
        return self._all > 0 or method in self._methods

    def add(self, callback: NotificationCallback, methods: Collection[str] | None = None) -> Callable[[], None]:
        entry = (callback, frozenset(methods) if methods is not None else None)
        self._callbacks.append(entry)
        self._count(entry[1], +1)

        def unsubscribe() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)
                self._count(entry[1], -1)

        return unsubscribe

    def _count(self, methods: frozenset[str] | None, delta: int) -> None:
        if methods is None:
            self._all += delta
            return
        for method in methods:
            count = self._methods.get(method, 0) + delta
            if count:
                self._methods[method] = count
            else:
                self._methods.pop(method, None)

    def deliver(self, method: str, params: Any) -> None:
        for callback, methods in list(self._callbacks):
            if methods is not None and method not in methods:
                continue
            try:
                callback(method, params)
            except Exception:
                _logger.warning("notification subscriber %r raised on %s", callback, method, exc_info=True)
