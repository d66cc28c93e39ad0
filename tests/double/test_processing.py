"""Per-version processing simulation: progress, diagnostics, supersession, waiting, logging."""
from __future__ import annotations

import asyncio

import pytest

from tests.double.driver import Driver
from tests.lean_double import BASIC_SCENARIO
from tests.lean_double.msglog import read_log

URI = "file:///p/A.lean"
GOOD = "theorem t (n : Nat) : n + 0 = n := by\n  simp\n"
BAD = "theorem t (n : Nat) : n + 0 = n := by\n  frobnicate\n"


async def started(*options: str, delay: str = "20") -> Driver:
    d = await Driver.start("--elab-delay-ms", delay, *options, scenario=BASIC_SCENARIO)
    await d.initialize()
    return d


def doc_messages(d: Driver) -> list[tuple[str, dict]]:
    return [(m["method"], m["params"]) for m in d.messages
            if m.get("method") in ("$/lean/fileProgress", "textDocument/publishDiagnostics") and "id" not in m]


async def test_progress_then_diagnostics_then_done_then_wait_reply():
    """Open, as real Lean 4.35: processing [{range, kind 1}] and an empty publish at once, then
    processing [] twice, then the version's diagnostics, then the waitForDiagnostics reply."""
    d = await started()
    await d.open(URI, BAD)
    diags = await d.diagnostics(URI, 1)
    assert [x["message"] for x in diags] == ["unknown tactic"]
    seq = doc_messages(d)
    assert [m for m, _ in seq] == ["$/lean/fileProgress", "textDocument/publishDiagnostics", "$/lean/fileProgress",
                                   "$/lean/fileProgress", "textDocument/publishDiagnostics"]
    assert seq[1][1] == {"uri": URI, "version": 1, "diagnostics": []}
    assert seq[3][1]["processing"] == [] and len(seq[4][1]["diagnostics"]) == 1
    first = seq[0][1]
    assert first["textDocument"] == {"uri": URI, "version": 1}
    assert first["processing"] == [{"kind": 1, "range": {"start": {"line": 0, "character": 0},
                                                         "end": {"line": 2, "character": 0}}}]
    assert seq[2][1]["processing"] == []
    wait_index = next(i for i, m in enumerate(d.messages) if m.get("result") == {})
    final_index = max(i for i, m in enumerate(d.messages) if m.get("method") == "textDocument/publishDiagnostics")
    assert wait_index > final_index  # the waitForDiagnostics reply comes after the final publish
    # an edit that elaborates quickly gets no kind-1 progress and no early publish
    await d.change(URI, 2, [{"text": GOOD}])
    await d.diagnostics(URI, 2)
    assert [(m, p.get("processing"), len(p.get("diagnostics", []))) for m, p in doc_messages(d)[5:]] == [
        ("$/lean/fileProgress", [], 0), ("$/lean/fileProgress", [], 0), ("textDocument/publishDiagnostics", None, 0)]
    assert await d.shutdown() == 0


async def test_superseded_versions_are_silenced():
    """A quick second edit suppresses everything still pending for the first version."""
    d = await started(delay="600")
    await d.open(URI, BAD)
    await d.change(URI, 2, [{"text": GOOD}])
    assert await d.diagnostics(URI, 2) == []
    published = d.notifications("textDocument/publishDiagnostics", URI)
    # A new worker publishes the header's empty list at once (as real Lean does), so v1 may show
    # that before the edit reaches it; it never publishes its error: it was superseded first.
    assert [p["version"] for p in published if p["version"] != 1] == [2]
    assert all(p["diagnostics"] == [] for p in published if p["version"] == 1)
    progress = d.notifications("$/lean/fileProgress", URI)
    # Version 1 may have announced "processing" before the edit arrived, but never finished.
    assert all(p["processing"] and p["processing"][0]["kind"] == 1 for p in progress if p["textDocument"]["version"] == 1)
    assert [p["textDocument"]["version"] for p in progress if p["processing"] == []] == [2, 2]
    assert await d.shutdown() == 0


async def test_wait_for_diagnostics_waits_for_that_version_and_never_for_a_future_one():
    """waitForDiagnostics for a version never sent gets no reply; sending it releases the wait."""
    d = await started()
    await d.open(URI, GOOD)
    rid = await d.send_request("textDocument/waitForDiagnostics", {"uri": URI, "version": 3})
    await d.diagnostics(URI, 1)
    with pytest.raises(TimeoutError):
        await d.reply(rid, timeout=0.4)
    await d.change(URI, 2, [{"range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 6}},
                             "text": "omega"}])
    await d.change(URI, 3, [{"range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 7}},
                             "text": "frobnicate"}])
    assert (await d.reply(rid))["result"] == {}
    assert [x["message"] for x in await d.diagnostics(URI, 3)] == ["unknown tactic"]
    assert await d.shutdown() == 0


async def test_plain_goal_waits_for_elaboration():
    """A goal request sent right after an edit is answered only after the elaboration delay."""
    d = await started(delay="300")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await d.open(URI, GOOD)
    goal = await d.goal(URI, 1, 2)
    assert loop.time() - t0 >= 0.3
    assert goal == {"rendered": "```lean\nn : Nat\n⊢ n + 0 = n\n```", "goals": ["n : Nat\n⊢ n + 0 = n"]}
    assert await d.goal(URI, 1, 6) == {"rendered": "no goals", "goals": []}
    assert await d.goal(URI, 0, 3) is None
    assert await d.shutdown() == 0


async def test_lake_early_empty_publish_and_refresh_requests():
    """Optional Lake-style empty publish first, and refresh requests with numeric ids from 0."""
    d = await started("--lake-early-empty", "--refresh-requests", "2", "--progress-done-twice")
    await d.open(URI, BAD)
    await d.diagnostics(URI, 1)
    published = d.notifications("textDocument/publishDiagnostics", URI)
    assert [len(p["diagnostics"]) for p in published] == [0, 1]
    refresh = [m for m in d.messages if str(m.get("method")).endswith("/refresh")]
    assert [(m["id"], m["method"]) for m in refresh] == [(0, "workspace/semanticTokens/refresh"),
                                                         (1, "workspace/inlayHint/refresh")]
    assert all("params" not in m for m in refresh)
    await d.send({"jsonrpc": "2.0", "id": 0, "result": None})
    assert [p["processing"] for p in d.notifications("$/lean/fileProgress", URI)][-2:] == [[], []]
    assert await d.shutdown() == 0


async def test_per_declaration_delay_publishes_cumulatively():
    """With a per-declaration delay each failing declaration adds to a cumulative publish."""
    d = await started("--per-decl-delay-ms", "30")
    text = BAD + "\n" + BAD.replace("theorem t", "theorem u") + "\n" + GOOD.replace("theorem t", "theorem v")
    await d.open(URI, text)
    final = await d.diagnostics(URI, 1)
    counts = [len(p["diagnostics"]) for p in d.notifications("textDocument/publishDiagnostics", URI)]
    assert counts == [0, 1, 2, 2] and len(final) == 2  # the open's early empty publish first
    # Progress starts at the whole file and shrinks to the commands still to elaborate.
    starts = [p["processing"][0]["range"]["start"]["line"]
              for p in d.notifications("$/lean/fileProgress", URI) if p["processing"]]
    assert starts == [0, 3, 6]
    assert await d.shutdown() == 0


async def test_did_close_fails_pending_and_publishes_empty():
    """didClose: pending requests get -32801 and an empty diagnostics list is published."""
    d = await started(delay="2000")
    await d.open(URI, BAD)
    rid = await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": {"line": 1, "character": 2}})
    await d.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    reply = await d.reply(rid)
    assert reply["error"]["code"] == -32801
    empty = await d.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert empty["params"] == {"uri": URI, "version": 1, "diagnostics": []}
    closed = await d.request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}})
    assert closed["error"] == {"code": -32801, "message": f"Cannot process request to closed file '{URI}'"}
    assert await d.shutdown() == 0


async def test_changes_to_unknown_uris_and_empty_changes_are_ignored():
    """didChange for an unopened URI or with no changes does nothing (no version recorded)."""
    d = await started()
    await d.change("file:///other.lean", 5, [{"text": "x"}])
    await d.open(URI, GOOD)
    await d.diagnostics(URI, 1)
    await d.change(URI, 2, [])
    rid = await d.send_request("textDocument/waitForDiagnostics", {"uri": URI, "version": 2})
    with pytest.raises(TimeoutError):
        await d.reply(rid, timeout=0.3)
    assert await d.shutdown() == 0


async def test_log_file_records_received_and_sent_messages(tmp_path):
    """--log writes one JSON line per message in both directions with method, id and params."""
    log = tmp_path / "double.jsonl"
    d = await started("--log", str(log))
    await d.open(URI, GOOD)
    await d.diagnostics(URI, 1)
    assert await d.shutdown() == 0
    entries = read_log(str(log))
    received = [e for e in entries if e["dir"] == "recv"]
    sent = [e for e in entries if e["dir"] == "send"]
    assert [e.get("method") for e in received[:3]] == ["initialize", "initialized", "textDocument/didOpen"]
    assert received[2]["params"]["textDocument"]["text"] == GOOD
    assert any(e.get("method") == "textDocument/publishDiagnostics" for e in sent)
    assert any(e.get("id") == "register_lean_watcher" for e in sent)
    assert sum(1 for e in entries if e["dir"] == "send") == len(d.messages)


async def test_incremental_diagnostics_only_for_clients_that_opt_in():
    """With lean.incrementalDiagnosticSupport: a full list first, then only additions (isIncremental)."""
    d = await Driver.start("--elab-delay-ms", "20", "--per-decl-delay-ms", "30", "--lake-early-empty",
                           scenario=BASIC_SCENARIO)
    await d.initialize({"lean": {"incrementalDiagnosticSupport": True}})
    text = BAD + "\n" + BAD.replace("theorem t", "theorem u") + "\n" + GOOD.replace("theorem t", "theorem v")
    await d.open(URI, text)
    await d.diagnostics(URI, 1)
    published = d.notifications("textDocument/publishDiagnostics", URI)
    assert [(p["isIncremental"], len(p["diagnostics"])) for p in published] == [(False, 0), (True, 1), (True, 1), (True, 0)]
    # Rebuilding the full list from the increments gives both errors, in order.
    lines = [x["range"]["start"]["line"] for p in published for x in p["diagnostics"]]
    assert lines == [1, 4]
    assert await d.shutdown() == 0
    # Without the capability there is no isIncremental field and every publish is complete.
    d = await started("--per-decl-delay-ms", "30")
    await d.open(URI, text)
    await d.diagnostics(URI, 1)
    published = d.notifications("textDocument/publishDiagnostics", URI)
    assert all("isIncremental" not in p for p in published) and len(published[-1]["diagnostics"]) == 2
    assert await d.shutdown() == 0
