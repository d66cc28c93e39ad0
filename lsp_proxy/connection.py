"""The contract between :class:`lsp_proxy.lean_client.LeanClient` and whatever carries its
messages to Lean: the proxy's router (requests injected into a live editor session) or a
headless connection that spawns Lean itself.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
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
    * ``subscribe`` registers a callback for every server->client notification (decoded
      method and params) plus the pseudo-notifications above; it returns an unsubscribe
      function. Callbacks run on the event loop and must not block.
    * ``set_private_uri`` marks a document as ours (a shadow file): Lean's notifications
      about it go to subscribers only and never reach the editor. A no-op headless.
    """

    async def request(self, method: str, params: dict[str, Any] | list[Any], *, timeout: float | None = None) -> Any: ...

    async def notify(self, method: str, params: dict[str, Any] | list[Any]) -> None: ...

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]: ...

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
    """The notification callbacks of a connection: ``add`` returns the unsubscribe function,
    ``deliver`` calls each one, logging (never raising) a callback's failure."""

    def __init__(self) -> None:
        self._callbacks: list[NotificationCallback] = []

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def add(self, callback: NotificationCallback) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def deliver(self, method: str, params: Any) -> None:
        for callback in list(self._callbacks):
            try:
                callback(method, params)
            except Exception:
                _logger.warning("notification subscriber %r raised on %s", callback, method, exc_info=True)
