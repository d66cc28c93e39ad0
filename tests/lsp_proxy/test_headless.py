"""Headless Lean (here: the Lean test double) through start_lean + LeanClient: handshake,
document sync, goals, diagnostics, server requests answered, RPC reconnect, crashes, and a
clean or forced shutdown."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from lsp_proxy.errors import WORKER_CRASHED, LeanExited, LeanRequestError
from lsp_proxy.headless import start_lean as _start_lean
from lsp_proxy.lean_client import Position, Range, TextChange

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "tests" / "copilot" / "scenarios" / "search.json"
TEXT = "theorem t (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  rw [Nat.add_zero]\n  sorry\n"
URI = "file:///project/A.lean"


def double(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.lean_double", "--scenario", str(SCENARIO), "--elab-delay-ms", "5", *args]


async def start_lean(cmd: list[str], cwd: Path):
    """start_lean in a directory outside the repository (the double is found via PYTHONPATH)."""
    return await _start_lean(cmd, cwd, env={"PYTHONPATH": str(REPO)})


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_handshake_documents_goals_and_clean_shutdown(tmp_path: Path) -> None:
    """initialize (with lean.silentDiagnosticSupport) then initialized come first; Lean's
    own requests get null replies; open/edit/goal/diagnostics work; shutdown exits 0."""
    log = tmp_path / "double.jsonl"
    client = await start_lean(double("--log", str(log), "--refresh-requests", "2"), tmp_path)
    assert client.connection.initialize_result["serverInfo"]["name"] == "Lean 4 Server"
    await client.open(URI, TEXT)
    diags = await client.wait_for_diagnostics(URI, 1, timeout=5)
    assert [d.message for d in diags] == ["declaration uses `sorry`"]
    assert diags[0].is_sorry_warning
    goal = await client.plain_goal(URI, 2, 2)
    assert goal is not None and goal.goals == ["a b : Nat\nh : a ≤ b\n⊢ a ≤ b + 0"]
    # a ranged edit: replace `sorry` with `rw [Nat.add_zero]`, then the goal after it
    version = await client.change_incremental(
        URI, [TextChange(text="rw [Nat.add_zero]", range=Range(Position(2, 2), Position(2, 7)))]
    )
    diags = await client.wait_for_diagnostics(URI, version, timeout=5)
    assert [d.message.split("\n")[0] for d in diags] == ["unsolved goals"]
    assert diags[0].is_unsolved_goals
    after = await client.plain_goal(URI, 2, 19)
    assert after is not None and after.goals == ["a b : Nat\nh : a ≤ b\n⊢ a ≤ b"]
    assert client.progress(URI).done
    await client.shutdown()
    assert client.connection.returncode == 0

    entries = read_log(log)
    received = [e for e in entries if e["dir"] == "recv"]
    assert received[0]["method"] == "initialize"
    assert received[0]["params"]["capabilities"]["lean"]["silentDiagnosticSupport"] is True
    assert received[1]["method"] == "initialized"
    server_requests = {e["id"] for e in entries if e["dir"] == "send" and "method" in e and "id" in e}
    assert "register_lean_watcher" in server_requests and len(server_requests) >= 3
    replies = {e["id"]: e.get("result", "missing") for e in received if "id" in e and "method" not in e}
    assert all(replies.get(i, "missing") is None for i in server_requests)
    methods = [e.get("method") for e in received]
    assert methods[-2:] == ["shutdown", "exit"]


async def test_early_empty_publish_and_interactive_goals_reconnect(tmp_path: Path) -> None:
    """With Lake's early empty publish the real diagnostics still win; an expired RPC session
    (-32900) is reconnected transparently."""
    client = await start_lean(double("--lake-early-empty", "--rpc-expiry-s", "0.3"), tmp_path)
    try:
        await client.open(URI, TEXT)
        diags = await client.wait_for_diagnostics(URI, 1, timeout=5)
        assert len(diags) == 1 and client.diagnostics_arrived(URI, 1)
        first = await client.interactive_goals(URI, 2, 2)
        await asyncio.sleep(0.6)  # the session expires (no keepAlive this fast)
        second = await client.interactive_goals(URI, 2, 2)
        assert first is not None and second is not None
        assert [g.text for g in first] == [g.text for g in second] == ["a b : Nat\nh : a ≤ b\n⊢ a ≤ b + 0"]
    finally:
        await client.shutdown()


async def test_worker_crash_is_reported_and_revived(tmp_path: Path) -> None:
    """A crashed worker fails the pending wait with -32902 and reports fatal progress; a
    revive (full text, next version) brings it back."""
    client = await start_lean(double("--worker-crash-on", "CRASHME"), tmp_path)
    try:
        await client.open(URI, TEXT + "-- CRASHME\n")
        with pytest.raises(LeanRequestError) as info:
            await client.wait_for_diagnostics(URI, 1, timeout=5)
        assert info.value.code == WORKER_CRASHED
        await asyncio.sleep(0.05)
        assert client.progress(URI).failed
        version = await client.change(URI, TEXT)
        diags = await client.wait_for_diagnostics(URI, version, timeout=5)
        assert [d.message for d in diags] == ["declaration uses `sorry`"]
    finally:
        await client.shutdown()


async def test_server_exit_fails_pending_requests(tmp_path: Path) -> None:
    """When the server dies, pending and later requests raise LeanExited and listeners hear
    "exited"."""
    client = await start_lean(double("--crash-after", "4"), tmp_path)
    events: list[str] = []
    client.add_listener(lambda kind, uri: events.append(kind))
    await client.open(URI, TEXT)  # message 3
    with pytest.raises(LeanExited):
        await client.wait_for_diagnostics(URI, 1, timeout=5)  # message 4: the double dies
    await asyncio.sleep(0.05)
    assert "exited" in events
    with pytest.raises(LeanExited):
        await client.plain_goal(URI, 0, 0)
    await client.shutdown(timeout=1)
    assert client.connection.returncode == 137


async def test_unresponsive_server_is_killed_on_shutdown(tmp_path: Path) -> None:
    """A server that stops answering is killed (its process group) when shutdown times out."""
    client = await start_lean(double("--silent-eof-after", "3", "--silent-eof-mode", "hang"), tmp_path)
    await client.open(URI, TEXT)
    started = time.monotonic()
    await client.shutdown(timeout=0.5)
    assert client.connection.returncode is not None and client.connection.returncode < 0
    assert time.monotonic() - started < 6


async def test_a_server_that_dies_at_start_gives_a_clear_error(tmp_path: Path) -> None:
    """If Lean exits during the handshake, start_lean raises LeanExited naming the command
    and quoting Lean's stderr."""
    cmd = [sys.executable, "-c", "import sys; sys.stderr.write('error: no lakefile found\\n'); sys.exit(1)"]
    with pytest.raises(LeanExited) as info:
        await start_lean(cmd, tmp_path)
    assert "Lean did not start" in str(info.value)
    assert "no lakefile found" in str(info.value)
