"""Shadow documents: private copies of a user's file where candidates are tried.

A shadow document lives at another URI in the same directory as the user's file
(``file:///dir/.lean-companion-shadow-<stem>-<n>.lean``) so that Lean resolves imports the same
way; it is opened through :class:`~lsp_proxy.lean_client.LeanClient` as a *private* URI (its
diagnostics never reach the editor) and is never written to disk. Its text is replaced with one
full-text ``didChange`` per check, so an unchanged prefix (imports, earlier declarations) is
reused by Lean's incremental elaboration and only the declaration under test is re-elaborated.

:class:`ShadowPool` keeps at most ``per_file`` shadows per user file and ``max_open`` overall
(each Lean worker costs memory: with ``import Mathlib`` several GB), closing the least recently
used idle one when needed. Callers should also call :meth:`ShadowPool.close_idle` now and then.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from lsp_proxy.errors import LeanError
from lsp_proxy.lean_client import LeanClient

logger = logging.getLogger(__name__)

SHADOW_PREFIX = ".lean-companion-shadow-"


def shadow_uri(user_uri: str, n: int = 0) -> str:
    """The URI of shadow number ``n`` for a user file: same directory, hidden name."""
    parts = urlsplit(user_uri)
    path = PurePosixPath(unquote(parts.path))
    stem = path.stem or "untitled"
    shadow = path.with_name(f"{SHADOW_PREFIX}{stem}-{n}.lean")
    return urlunsplit((parts.scheme or "file", parts.netloc, quote(str(shadow)), "", ""))


def is_shadow_uri(uri: str) -> bool:
    """Whether a URI names one of our shadow documents."""
    return SHADOW_PREFIX in unquote(urlsplit(uri).path.rsplit("/", 1)[-1])


@dataclass
class ShadowDocument:
    """One open shadow: its URI, the user file it shadows, and a lock (one check at a time)."""

    uri: str
    user_uri: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    opened: bool = False
    opened_version: int = 0


class ShadowPool:
    """Shadow documents per user file, opened lazily and closed when idle or over budget."""

    def __init__(self, client: LeanClient, *, per_file: int = 1, max_open: int = 2) -> None:
        self.client = client
        self.per_file = max(1, per_file)
        self.max_open = max(1, max_open)
        self._docs: dict[str, list[ShadowDocument]] = {}
        self._guard = asyncio.Lock()

    def documents(self) -> list[ShadowDocument]:
        return [doc for docs in self._docs.values() for doc in docs]

    @contextlib.asynccontextmanager
    async def acquire(self, user_uri: str) -> AsyncIterator[ShadowDocument]:
        """Hold a shadow of ``user_uri`` exclusively for one check."""
        doc = await self._pick(user_uri)
        async with doc.lock:
            doc.last_used = time.monotonic()
            try:
                yield doc
            finally:
                doc.last_used = time.monotonic()

    async def _pick(self, user_uri: str) -> ShadowDocument:
        async with self._guard:
            docs = self._docs.setdefault(user_uri, [])
            idle = [d for d in docs if not d.lock.locked()]
            if idle:
                return min(idle, key=lambda d: d.last_used)
            if len(docs) < self.per_file:
                used = {d.uri for d in docs}
                n = next(i for i in range(len(docs) + 1) if shadow_uri(user_uri, i) not in used)
                doc = ShadowDocument(shadow_uri(user_uri, n), user_uri)
                docs.append(doc)
                await self._evict()
                return doc
            return min(docs, key=lambda d: d.last_used)

    async def _evict(self) -> None:
        opened = [d for d in self.documents() if d.opened]
        excess = len(opened) + 1 - self.max_open
        for doc in sorted((d for d in opened if not d.lock.locked()), key=lambda d: d.last_used)[: max(0, excess)]:
            await self._close_doc(doc)

    async def set_text(self, doc: ShadowDocument, text: str) -> int:
        """Give the shadow ``text`` (opening it on first use; ``doc.opened_version`` is then
        the version sent); returns the version Lean has."""
        if not doc.opened or self.client.document_version(doc.uri) is None:
            version = await self.client.open(doc.uri, text, private=True)
            doc.opened = True
            doc.opened_version = version
            return version
        return await self.client.change(doc.uri, text)

    async def _close_doc(self, doc: ShadowDocument) -> None:
        docs = self._docs.get(doc.user_uri, [])
        if doc in docs:
            docs.remove(doc)
        if not docs:
            self._docs.pop(doc.user_uri, None)
        if doc.opened:
            doc.opened = False
            try:
                await asyncio.shield(self.client.close(doc.uri))
            except LeanError as exc:
                logger.warning("could not close shadow %s: %s", doc.uri, exc)

    async def release(self, user_uri: str) -> None:
        """Close every shadow of one user file (e.g. when the editor closes it)."""
        for doc in list(self._docs.get(user_uri, [])):
            async with doc.lock:
                await self._close_doc(doc)

    async def close_idle(self, older_than: float) -> int:
        """Close shadows unused for ``older_than`` seconds; returns how many were closed."""
        now = time.monotonic()
        closed = 0
        for doc in self.documents():
            if doc.opened and not doc.lock.locked() and now - doc.last_used > older_than:
                await self._close_doc(doc)
                closed += 1
        return closed

    async def close_all(self) -> None:
        """Close every shadow document."""
        for user_uri in list(self._docs):
            await self.release(user_uri)
