"""Shadow documents: URIs beside the user's file, private, reused per file, bounded in number,
closed when idle."""
from __future__ import annotations

import asyncio

from copilot.shadow import ShadowPool, is_shadow_uri, shadow_uri
from lsp_proxy.lean_client import LeanClient
from tests.lsp_proxy.test_lean_client import FakeConnection


def test_shadow_uri_is_hidden_beside_the_user_file() -> None:
    """Same directory, hidden name with the stem and a number; percent-encoding kept."""
    assert shadow_uri("file:///home/u/My%20Proj/Foo.lean", 2) == "file:///home/u/My%20Proj/.lean-companion-shadow-Foo-2.lean"
    assert is_shadow_uri(shadow_uri("file:///p/A.lean"))
    assert not is_shadow_uri("file:///p/A.lean")


async def test_pool_reuses_evicts_and_closes_idle() -> None:
    """One shadow per user file is reused; opening a third file's shadow with max_open=2
    closes the least recently used one; close_idle closes the rest; all stay private."""
    conn = FakeConnection()
    client = LeanClient(conn)
    pool = ShadowPool(client, max_open=2)
    for user in ("file:///p/A.lean", "file:///p/B.lean", "file:///p/A.lean"):
        async with pool.acquire(user) as doc:
            await pool.set_text(doc, f"-- {user}")
            await asyncio.sleep(0.01)
    assert sorted(client.open_documents) == [shadow_uri("file:///p/A.lean"), shadow_uri("file:///p/B.lean")]
    async with pool.acquire("file:///p/C.lean") as doc:
        await pool.set_text(doc, "-- C")
    assert sorted(client.open_documents) == [shadow_uri("file:///p/A.lean"), shadow_uri("file:///p/C.lean")]
    closed = [p["textDocument"]["uri"] for p in conn.notifications("textDocument/didClose")]
    assert closed == [shadow_uri("file:///p/B.lean")]
    opened = conn.notifications("textDocument/didOpen")
    assert len(opened) == 3  # A, B, C: A's second use was a didChange
    assert await pool.close_idle(0.0) == 2
    assert client.open_documents == []
    assert all(conn.private[uri] for uri in conn.private)


async def test_pool_serialises_checks_on_one_shadow() -> None:
    """Two concurrent users of the same file's shadow take turns (per_file=1)."""
    client = LeanClient(FakeConnection())
    pool = ShadowPool(client, per_file=1)
    order: list[str] = []

    async def use(tag: str) -> None:
        async with pool.acquire("file:///p/A.lean"):
            order.append(f"{tag}-in")
            await asyncio.sleep(0.02)
            order.append(f"{tag}-out")

    await asyncio.gather(use("x"), use("y"))
    assert order in (["x-in", "x-out", "y-in", "y-out"], ["y-in", "y-out", "x-in", "x-out"])
