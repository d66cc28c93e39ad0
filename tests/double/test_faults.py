"""Fault injection: crashes, worker crashes with queueing and replay, garbage, huge and silent output."""
from __future__ import annotations

import asyncio
import json

import pytest

from tests.double.driver import Driver
from tests.lean_double import BASIC_SCENARIO

URI = "file:///p/A.lean"
GOOD = "theorem t (n : Nat) : n + 0 = n := by\n  simp\n"
CRASHING = GOOD + "-- crash here\n"


async def started(*options: str, scenario=BASIC_SCENARIO) -> Driver:
    d = await Driver.start("--elab-delay-ms", "20", *options, scenario=scenario)
    await d.initialize()
    return d


def goal_params(line: int = 1, character: int = 2) -> dict:
    return {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}


async def test_crash_when_the_nth_message_arrives():
    """--crash-after N exits with the crash code as message N arrives, without answering it."""
    d = await started("--crash-after", "4", "--crash-exit-code", "137")
    await d.open(URI, GOOD)  # message 3
    rid = await d.send_request("$/lean/plainGoal", goal_params())  # message 4
    assert await d.wait_exit() == 137
    assert not any(m.get("id") == rid for m in d.messages)
    await d.kill()


@pytest.mark.parametrize("exit_code,error_code", [(134, -32902), (1, -32901)])
async def test_worker_crash_fails_pending_queues_later_and_replays_after_change(exit_code, error_code):
    """A crashed worker fails pending requests, reports kind 2, queues requests until a didChange."""
    d = await started("--worker-crash-on", "-- crash here", "--worker-crash-exit-code", str(exit_code))
    await d.open(URI, CRASHING)
    pending = await d.send_request("textDocument/waitForDiagnostics", {"uri": URI, "version": 1})
    failed = await d.reply(pending)
    assert failed["error"]["code"] == error_code and URI in failed["error"]["message"]
    fatal = await d.wait_for(lambda m: m.get("method") == "$/lean/fileProgress"
                             and any(p["kind"] == 2 for p in m["params"]["processing"]))
    assert fatal["params"]["processing"][0]["range"]["start"] == {"line": 0, "character": 0}
    queued = await d.send_request("$/lean/plainGoal", goal_params())
    with pytest.raises(TimeoutError):
        await d.reply(queued, timeout=0.3)  # no reply while crashed
    await d.change(URI, 2, [])  # an empty change does not restart it
    with pytest.raises(TimeoutError):
        await d.reply(queued, timeout=0.2)
    await d.change(URI, 2, [{"text": GOOD}])
    replayed = await d.reply(queued)
    assert replayed["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
    assert await d.diagnostics(URI, 2) == []
    assert await d.shutdown() == 0


async def test_cancel_a_queued_request_on_a_crashed_worker():
    """A request queued on a crashed worker can still be cancelled: one -32800 reply."""
    d = await started("--worker-crash-on", "-- crash here")
    await d.open(URI, CRASHING)
    await d.wait_for(lambda m: m.get("method") == "$/lean/fileProgress"
                     and any(p["kind"] == 2 for p in m["params"]["processing"]))
    queued = await d.send_request("$/lean/plainGoal", goal_params())
    await d.notify("$/cancelRequest", {"id": queued})
    assert (await d.reply(queued))["error"] == {"code": -32800, "message": ""}
    await d.change(URI, 2, [{"text": GOOD}])
    await d.diagnostics(URI, 2)
    assert sum(1 for m in d.messages if m.get("id") == queued) == 1
    assert await d.shutdown() == 0


async def test_garbage_bytes_on_stdout():
    """--garbage-after N writes non-LSP bytes after message N; the client sees a broken stream."""
    d = await started("--garbage-after", "3")
    await d.open(URI, GOOD)
    await asyncio.sleep(0.3)
    assert b"lean-double injected garbage" in bytes(d.raw)
    assert d.undecodable
    await d.kill()


async def test_five_megabyte_message():
    """--huge-diagnostic-bytes makes every publish carry a message that large."""
    d = await started("--huge-diagnostic-bytes", "5000000")
    await d.open(URI, GOOD)
    diags = await d.diagnostics(URI, 1, timeout=20)
    assert len(diags) == 1 and len(diags[0]["message"]) == 5_000_000
    assert await d.shutdown() == 0


@pytest.mark.parametrize("mode,expected", [("exit", 0), ("hang", None)])
async def test_silent_eof(mode, expected):
    """--silent-eof-after closes stdout: nothing more arrives; the process exits 0 or keeps running."""
    d = await started("--silent-eof-after", "3", "--silent-eof-mode", mode)
    await d.open(URI, GOOD)
    with pytest.raises(EOFError):
        await d.request("$/lean/plainGoal", goal_params(), timeout=2)
    if expected is None:
        await asyncio.sleep(0.2)
        assert d.proc.returncode is None
        await d.kill()
    else:
        assert await d.wait_exit() == expected


async def test_shuffled_replies_come_out_of_order():
    """--shuffle-replies answers a burst of requests in an order different from the sending order."""
    d = await started("--shuffle-replies", "--seed", "3")
    await d.open(URI, GOOD)
    await d.diagnostics(URI, 1)
    ids = [await d.send_request("$/lean/plainGoal", goal_params()) for _ in range(12)]
    for rid in ids:
        await d.reply(rid)
    order = [m["id"] for m in d.messages if m.get("id") in ids]
    assert sorted(order) == sorted(ids) and order != ids
    assert await d.shutdown() == 0


async def test_faults_from_the_scenario_file(tmp_path):
    """The scenario's faults object sets the same options as the command line."""
    data = json.loads(BASIC_SCENARIO.read_text())
    data["faults"] = {"worker_crash_on": "BOOM", "worker_crash_exit_code": 1}
    path = tmp_path / "faulty.json"
    path.write_text(json.dumps(data))
    d = await started(scenario=path)
    await d.open(URI, GOOD + "-- BOOM\n")
    rid = await d.send_request("textDocument/waitForDiagnostics", {"uri": URI, "version": 1})
    assert (await d.reply(rid))["error"]["code"] == -32901
    assert await d.shutdown() == 0


async def test_bad_scenario_is_a_clear_startup_error(tmp_path):
    """An invalid scenario exits 2 with a message naming the file and key."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tactics": [{"goal": "⊢ True", "tactic": "simp", "result": 3}]}))
    d = await Driver.start(scenario=path)
    assert await d.wait_exit() == 2
    err = await d.stderr_text()
    assert "bad.json" in err and "tactics[0].result" in err
    await d.kill()
