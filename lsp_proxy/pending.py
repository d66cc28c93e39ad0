"""Outstanding requests the proxy itself sent (to Lean or to the editor), keyed by our ids.

Ids are strings with a fixed prefix (``"lcp:17"`` towards Lean, ``"lcp-e:17"`` towards the
editor): Lean's and the editor's own ids are numbers (plus Lean's ``"register_lean_watcher"``),
and the router aliases any editor string id that starts with ``"lcp"``, so ours never collide.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Any

from lsp_proxy.envelope import Id

# Who put a message on the Lean queue (the router's and the supervisor's book-keeping).
FROM_EDITOR, FROM_PROXY, INTERNAL = 0, 1, 2

TO_LEAN_PREFIX = "lcp:"
TO_EDITOR_PREFIX = "lcp-e:"
ALIAS_PREFIX = "lcp-a:"
SERVER_ALIAS_PREFIX = "lcp-s"  # + "<incarnation>:<Lean's id>": Lean's requests from a restarted server
RESERVED_PREFIX = "lcp"


def is_reserved(id_: Id | None) -> bool:
    """True for string ids in the proxy's namespace."""
    return isinstance(id_, str) and id_.startswith(RESERVED_PREFIX)


class PendingRequests:
    """Futures of the proxy's outstanding requests in one direction."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._counter = itertools.count(1)
        self._futures: dict[str, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    def owns(self, id_: Id | None) -> bool:
        return isinstance(id_, str) and id_.startswith(self.prefix)

    def new(self) -> tuple[str, asyncio.Future[Any]]:
        """A fresh id and the future its reply will resolve."""
        id_ = f"{self.prefix}{next(self._counter)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[id_] = future
        return id_, future

    def discard(self, id_: str) -> None:
        self._futures.pop(id_, None)

    def resolve(self, id_: Id | None, result: Any = None, error: BaseException | None = None) -> bool:
        """Complete the request ``id_``; False if it is unknown (late reply after cancel/timeout)."""
        if not isinstance(id_, str):
            return False
        future = self._futures.pop(id_, None)
        if future is None or future.done():
            return False
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        return True

    def fail_all(self, make_error: type[BaseException] | Any, message: str) -> int:
        """Fail every outstanding request (e.g. with LeanExited); returns how many."""
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(make_error(message))
                future.exception()  # retrieved: nobody may be awaiting it any more
        return len(futures)
