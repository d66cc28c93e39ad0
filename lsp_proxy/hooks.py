"""The hook registry: how features change what flows through the proxy, failing open.

Four kinds of hook, registered per method (see docs/proxy.md):

* **request interceptors** (``intercept_request``): claim an editor request (optionally only when a
  ``when(params)`` predicate says so); Lean never sees it; the async handler's return value is the
  result, a raised :class:`~lsp_proxy.errors.ResponseError` an error reply, any other exception
  a -32603 reply. ``$/cancelRequest`` for it cancels the handler and answers -32800.
* **response transformers** (``transform_response``): ``async fn(params, result) -> new result | None``
  for Lean's reply to an editor request; chained in registration order; each runs under a deadline.
* **notification transformers** (``transform_notification``): ``fn(params) -> new params | None | DROP``
  for notifications in one direction; synchronous so that order is kept.
* **observers** (``observe``): ``fn(method, params)`` sees notifications (``"*"`` = every method).
* **initialize hooks** (``on_initialize``): ``fn(result) -> new result | None``, to advertise capabilities.

Every hook fails open: an exception or a timeout leaves the message as it was and logs a warning;
a hook that fails ``MAX_FAILURES`` times in a row is switched off (logged as an error).
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lsp_proxy import envelope as wire
from lsp_proxy.envelope import Id
from lsp_proxy.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, REQUEST_CANCELLED, ResponseError

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE = 1.0
MAX_FAILURES = 5


class Direction(enum.Enum):
    """Which way a message travels."""

    FROM_EDITOR = "from_editor"
    FROM_LEAN = "from_lean"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()
"""Return this from a notification transformer to drop the notification."""

RequestHandler = Callable[[Any], Awaitable[Any]]
ResponseTransformer = Callable[[Any, Any], Awaitable[Any]]
NotificationTransformer = Callable[[Any], Any]
Observer = Callable[[str, Any], None]
InitializeHook = Callable[[dict[str, Any]], dict[str, Any] | None]
InitializeObserver = Callable[[Any], None]
Unregister = Callable[[], None]


@dataclass
class Hook:
    """One registered hook and its health."""

    fn: Callable[..., Any]
    name: str
    deadline: float = DEFAULT_DEADLINE
    when: Callable[[Any], bool] | None = None
    failures: int = 0
    enabled: bool = True

    def failed(self, what: str) -> None:
        self.failures += 1
        if self.failures >= MAX_FAILURES and self.enabled:
            self.enabled = False
            logger.error("hook %s failed %d times in a row; switched off (%s)", self.name, self.failures, what)

    def succeeded(self) -> None:
        self.failures = 0


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


@dataclass
class HookRegistry:
    """Hooks by kind, direction and method. The router asks it what to do with each message."""

    requests: dict[str, list[Hook]] = field(default_factory=dict)
    responses: dict[str, list[Hook]] = field(default_factory=dict)
    notifications: dict[tuple[Direction, str], list[Hook]] = field(default_factory=dict)
    observers: dict[tuple[Direction, str], list[Hook]] = field(default_factory=dict)
    initialize: list[Hook] = field(default_factory=list)
    initialize_observers: list[Hook] = field(default_factory=list)

    # -- registration ---------------------------------------------------------------------

    def intercept_request(
        self, method: str, handler: RequestHandler, *, when: Callable[[Any], bool] | None = None
    ) -> Unregister:
        """Answer editor requests for ``method`` in the proxy (those matching ``when``, if given)."""
        return self._add(self.requests, method, Hook(handler, _name(handler), when=when))

    def transform_response(
        self, method: str, transformer: ResponseTransformer, *, deadline: float = DEFAULT_DEADLINE
    ) -> Unregister:
        """Let ``transformer(params, result)`` replace Lean's result for editor requests of ``method``."""
        return self._add(self.responses, method, Hook(transformer, _name(transformer), deadline=deadline))

    def transform_notification(
        self, method: str, transformer: NotificationTransformer, *, direction: Direction = Direction.FROM_LEAN
    ) -> Unregister:
        """Let ``transformer(params)`` replace (or DROP) notifications of ``method``."""
        return self._add(self.notifications, (direction, method), Hook(transformer, _name(transformer)))

    def observe(self, method: str, observer: Observer, *, direction: Direction = Direction.FROM_LEAN) -> Unregister:
        """Call ``observer(method, params)`` for each notification of ``method`` (``"*"``: all)."""
        return self._add(self.observers, (direction, method), Hook(observer, _name(observer)))

    def on_initialize(self, hook: InitializeHook) -> Unregister:
        """Let ``hook(result)`` change Lean's InitializeResult before the editor sees it."""
        entry = Hook(hook, _name(hook))
        self.initialize.append(entry)
        return lambda: self.initialize.remove(entry) if entry in self.initialize else None

    def observe_initialize(self, observer: InitializeObserver) -> Unregister:
        """Call ``observer(params)`` with the editor's ``initialize`` params when it arrives
        (project root, client capabilities); the request goes to Lean as it is. Exceptions
        are logged and count against the observer."""
        entry = Hook(observer, _name(observer))
        self.initialize_observers.append(entry)
        return lambda: self.initialize_observers.remove(entry) if entry in self.initialize_observers else None

    def notify_initialize(self, params: Any) -> None:
        """Run the ``initialize`` observers (the router calls this; never raises)."""
        for hook in list(self.initialize_observers):
            if not hook.enabled:
                continue
            try:
                hook.fn(params)
            except Exception:
                logger.warning("initialize observer %s raised", hook.name, exc_info=True)
                hook.failed("exception")
            else:
                hook.succeeded()

    @staticmethod
    def _add(table: dict[Any, list[Hook]], key: Any, hook: Hook) -> Unregister:
        table.setdefault(key, []).append(hook)

        def unregister() -> None:
            hooks = table.get(key, [])
            if hook in hooks:
                hooks.remove(hook)
            if not hooks:
                table.pop(key, None)

        return unregister

    # -- queries the router makes per message (cheap dict lookups) --------------------------

    def has_request_hook(self, method: str) -> bool:
        return method in self.requests

    def has_response_hook(self, method: str) -> bool:
        return method in self.responses

    def has_transformer(self, direction: Direction, method: str) -> bool:
        return (direction, method) in self.notifications

    def has_observer(self, direction: Direction, method: str) -> bool:
        observers = self.observers
        return bool(observers) and ((direction, method) in observers or (direction, "*") in observers)

    def transforms_initialize(self) -> bool:
        return bool(self.initialize)

    def observes_initialize(self) -> bool:
        return bool(self.initialize_observers)

    def has_notification_hook(self, direction: Direction, method: str) -> bool:
        return (direction, method) in self.notifications or (direction, method) in self.observers or (
            direction,
            "*",
        ) in self.observers

    # -- running hooks, failing open ---------------------------------------------------------

    def claim(self, method: str, params: Any) -> Hook | None:
        """The interceptor that claims this request, if any (a failing ``when`` claims nothing)."""
        for hook in self.requests.get(method, ()):
            if not hook.enabled:
                continue
            if hook.when is None:
                return hook
            try:
                if hook.when(params):
                    return hook
            except Exception:
                logger.warning("request predicate %s raised; not claiming %s", hook.name, method, exc_info=True)
                hook.failed("predicate raised")
        return None

    async def transform_result(self, method: str, params: Any, result: Any) -> tuple[Any, bool]:
        """Run the response chain; returns (result, changed). Never raises (except cancellation)."""
        changed = False
        for hook in list(self.responses.get(method, ())):
            if not hook.enabled:
                continue
            started = time.perf_counter()
            try:
                new = await asyncio.wait_for(hook.fn(params, result), hook.deadline)
            except asyncio.TimeoutError:
                logger.warning("response transformer %s for %s ran past %.3fs; passing the result on unchanged",
                               hook.name, method, hook.deadline)
                hook.failed("timeout")
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("response transformer %s for %s raised; passing the result on unchanged",
                               hook.name, method, exc_info=True)
                hook.failed("exception")
                continue
            hook.succeeded()
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("transform.complete %s %s %.2fms", method, hook.name, (time.perf_counter() - started) * 1e3)
            if new is not None:
                result, changed = new, True
        return result, changed

    def transform_params(self, direction: Direction, method: str, params: Any) -> tuple[Any, bool]:
        """Run notification transformers; returns (params or DROP, changed)."""
        changed = False
        for hook in list(self.notifications.get((direction, method), ())):
            if not hook.enabled:
                continue
            try:
                new = hook.fn(params)
            except Exception:
                logger.warning("notification transformer %s for %s raised; passing it on unchanged",
                               hook.name, method, exc_info=True)
                hook.failed("exception")
                continue
            hook.succeeded()
            if new is DROP:
                return DROP, True
            if new is not None:
                params, changed = new, True
        return params, changed

    def notify_observers(self, direction: Direction, method: str, params: Any) -> None:
        """Call the observers of ``method`` and of ``"*"``; exceptions are logged."""
        for key in ((direction, method), (direction, "*")):
            for hook in list(self.observers.get(key, ())):
                if not hook.enabled:
                    continue
                try:
                    hook.fn(method, params)
                except Exception:
                    logger.warning("observer %s for %s raised", hook.name, method, exc_info=True)
                    hook.failed("exception")
                else:
                    hook.succeeded()

    # -- dispatch from outside the editor connection (lsp_proxy.side_channel) ---------------

    async def dispatch_request(self, method: str, params: Any) -> Any:
        """Answer a request that arrived outside the editor connection with the interceptor that
        claims it, exactly as the router would; ``ResponseError(-32601)`` when none does.

        A ``ResponseError`` from the handler propagates as it is; any other exception counts as a
        failure of the hook and propagates too (the caller turns it into -32603)."""
        hook = self.claim(method, params)
        if hook is None:
            raise ResponseError(METHOD_NOT_FOUND, f"No request handler found for '{method}'")
        return await run_request_hook(hook, params)

    def dispatch_notification(self, method: str, params: Any) -> bool:
        """Run the editor-direction observers and transformers of a notification that arrived
        outside the editor connection; whatever they return, nothing is forwarded to Lean.
        Returns whether any hook is registered for it. Never raises (hooks fail open)."""
        if not self.has_notification_hook(Direction.FROM_EDITOR, method):
            return False
        self.notify_observers(Direction.FROM_EDITOR, method, params)
        self.transform_params(Direction.FROM_EDITOR, method, params)
        return True

    def transform_initialize(self, result: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Run the initialize hooks on a copy of Lean's InitializeResult."""
        changed = False
        for hook in list(self.initialize):
            if not hook.enabled:
                continue
            try:
                new = hook.fn(result)
            except Exception:
                logger.warning("initialize hook %s raised; capabilities unchanged by it", hook.name, exc_info=True)
                hook.failed("exception")
                continue
            if new is not None:
                result, changed = new, True
        return result, changed


async def run_request_hook(hook: Hook, params: Any) -> Any:
    """Run a claimed interceptor: a ``ResponseError`` or cancellation propagates as it is; any
    other exception counts as a failure of the hook and propagates too."""
    try:
        result = await hook.fn(params)
    except (asyncio.CancelledError, ResponseError):
        raise
    except Exception:
        hook.failed("exception")
        raise
    hook.succeeded()
    return result


async def reply_to_request(call: Awaitable[Any], id_: Id | None, method: str) -> bytes:
    """The JSON-RPC reply to a request the proxy answers itself (the router's interceptors and
    the side channel share it): the result; a ``ResponseError`` as that error; cancellation as
    -32800 with message ``""`` (the request was cancelled by the client); anything else -32603."""
    try:
        return wire.response(id_, await call)
    except asyncio.CancelledError:
        return wire.error_response(id_, REQUEST_CANCELLED, "")
    except ResponseError as exc:
        return wire.error_response(id_, exc.code, exc.message, exc.data)
    except Exception as exc:
        logger.warning("answering %s failed", method, exc_info=True)
        return wire.error_response(id_, INTERNAL_ERROR, f"{method} failed: {type(exc).__name__}: {exc}")
