"""The companion never disturbs the editor's session: models that raise or hang, edits during
work, a companion whose every check fails (Lean's own answers pass unchanged), a model that
fails to load."""
from __future__ import annotations

import asyncio
import time

from tests.features.session import Session

SORRY_FILE = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"
SLOW_SOURCES = "[suggest]\ntimeout_seconds = 30.0\n"


async def _models_settled(session: Session, *ids: str) -> bool:
    status = (await session.request("$/leanCompanion/status", {}))["result"]
    states = {m["id"]: m.get("state") for m in status["models"]}
    return all(states.get(i) in ("ready", "failed") for i in ids)


async def test_raising_and_hanging_models_do_not_disturb_lean_traffic(tmp_path, scenario):
    """With one model raising and one hanging, a suggest request still answers (portfolio
    suggestions, after the per-source timeout), and Lean requests sent meanwhile (hover,
    plainGoal) are answered promptly and exactly as the double answers them."""
    session = await Session.start(tmp_path, scenario=scenario, models={
        "boom": {"mode": "raise"}, "stuck": {"mode": "hang"}}, config="[suggest]\ntimeout_seconds = 1.5\n")
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "boom", "stuck"))
        _, suggest = session.start_request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        await asyncio.sleep(0.2)
        started = time.monotonic()
        hover = await session.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                             "position": {"line": 0, "character": 24}}, timeout=5)
        goal = await session.request("$/lean/plainGoal", {"textDocument": {"uri": uri},
                                                          "position": {"line": 1, "character": 2}}, timeout=5)
        lean_latency = time.monotonic() - started
        assert not suggest.done(), "the hanging model should still hold the suggestion back"
        assert lean_latency < 1.0, lean_latency
        assert hover["result"]["contents"]["value"] == "```lean\nNat\n```"
        assert goal["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
        result = (await asyncio.wait_for(suggest, 30))["result"]
        assert {"simp", "rfl"} & {s["tactic"] for s in result["suggestions"]}
        assert all(s["source"] == "portfolio" for s in result["suggestions"])
        log = session.proxy_log()
        assert "source boom failed (RuntimeError: scripted model failure)" in log
        assert "source stuck gave no candidates within 1.5 s" in log
    finally:
        await session.close()


async def test_an_edit_cancels_work_for_that_document(tmp_path, scenario):
    """A suggest request held up by a hanging model is answered -32801 as soon as the user edits
    the document, and a running `fillSorry` stops with status `cancelled`."""
    session = await Session.start(tmp_path, scenario=scenario, models={"stuck": {"mode": "hang"}},
                                  config=SLOW_SOURCES + "[search]\nbudget_seconds = 60\n")
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "stuck"))
        _, suggest = session.start_request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        _, fill = session.start_request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        await asyncio.sleep(1.0)
        assert not suggest.done() and not fill.done()
        started = time.monotonic()
        session.change(uri, SORRY_FILE + "\n-- edited\n")
        reply = await asyncio.wait_for(suggest, 10)
        assert reply["error"]["code"] == -32801, reply
        filled = await asyncio.wait_for(fill, 10)
        assert filled["result"]["status"] == "cancelled", filled
        assert time.monotonic() - started < 5
    finally:
        await session.close()


async def test_cancel_by_token_and_by_request_id(tmp_path, scenario):
    """`$/leanCompanion/cancel {requestToken}` stops a fillSorry (status `cancelled`); `$/cancelRequest`
    for a suggest request's id answers it -32800."""
    session = await Session.start(tmp_path, scenario=scenario, models={"stuck": {"mode": "hang"}},
                                  config=SLOW_SOURCES)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "stuck"))
        _, fill = session.start_request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}, "requestToken": "t-1"})
        suggest_id, suggest = session.start_request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        await asyncio.sleep(0.5)
        session.notify("$/leanCompanion/cancel", {"requestToken": "t-1"})
        session.notify("$/cancelRequest", {"id": suggest_id})
        assert (await asyncio.wait_for(fill, 10))["result"]["status"] == "cancelled"
        assert (await asyncio.wait_for(suggest, 10))["error"]["code"] == -32800
    finally:
        await session.close()


async def test_lean_answers_pass_unchanged_when_every_check_fails(tmp_path, scenario):
    """Every shadow worker crashes (the double crashes workers whose text contains `_lc_cand_`):
    completions and code actions still carry Lean's own answer unchanged, the editor's document
    keeps working, and suggest reports no suggestion rather than anything unchecked."""
    text = "theorem t (a b : Nat) : a + b = b + a := by\n  exact?\n"
    session = await Session.start(tmp_path, scenario=scenario,
                                  double_args=("--elab-delay-ms", "10", "--worker-crash-on", "_lc_cand_"),
                                  config="[search]\ncheck_timeout_seconds = 2.0\n")
    try:
        uri = session.open("E.lean", text)
        await session.wait_diagnostics(uri, 1)
        actions = (await session.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 8}},
            "context": {"diagnostics": []}}))["result"]
        assert [a["title"] for a in actions] == ["Try this: exact Nat.add_comm a b"]
        completion = (await session.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}}))["result"]
        assert [i["label"] for i in completion["items"]] == ["Nat.add_comm", "Nat.add_zero"]
        reply = await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}, timeout=60)
        assert reply.get("result", {}).get("suggestions", []) == [] or reply.get("error")
        version = session.change(uri, "theorem t (a b : Nat) : a + b = b + a := by\n  omega\n")
        await session.wait_diagnostics(uri, version)
        goal = await session.request("$/lean/plainGoal", {"textDocument": {"uri": uri},
                                                          "position": {"line": 1, "character": 2}})
        assert goal["result"]["goals"] == ["a b : Nat\n⊢ a + b = b + a"]
    finally:
        await session.close()


async def test_model_that_fails_to_load_is_reported_and_skipped(tmp_path, scenario):
    """A configured model whose backend fails to load is listed in `status` as failed with its
    error (one log line), and suggestions still come from the portfolio."""
    session = await Session.start(tmp_path, scenario=scenario, models={"broken": {"mode": "fail-load"}})
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "broken"))
        status = (await session.request("$/leanCompanion/status", {}))["result"]
        broken = next(m for m in status["models"] if m["id"] == "broken")
        assert broken["state"] == "failed" and broken["active"] is False and "scripted load failure" in broken["error"]
        result = (await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}))["result"]
        assert result["suggestions"]
        assert session.proxy_log().count("model broken disabled") == 1
    finally:
        await session.close()
