"""Requests against the double as a process: ids, cancellation, RPC, hover, completion, code actions."""
from __future__ import annotations

import asyncio

from tests.double.driver import Driver
from tests.lean_double import BASIC_SCENARIO
from tests.lean_double.goals import strip_tags

URI = "file:///p/A.lean"
SWAP = """theorem swap (p q : Prop) : p ∧ q → q ∧ p := by
  intro h
  constructor
  · exact h.2
  · exact h.1
"""


async def started(*options: str, delay: str = "20", capabilities: dict | None = None) -> Driver:
    d = await Driver.start("--elab-delay-ms", delay, *options, scenario=BASIC_SCENARIO)
    await d.initialize(capabilities)
    return d


def pos(line: int, character: int) -> dict:
    return {"line": line, "character": character}


async def test_cancel_pending_request_gets_exactly_one_minus_32800():
    """$/cancelRequest for a pending id: one reply, code -32800 with an empty message."""
    d = await started(delay="1500")
    await d.open(URI, SWAP)
    rid = await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": pos(1, 2)}, id_="goal-1")
    await d.notify("$/cancelRequest", {"id": "goal-1"})
    reply = await d.reply(rid)
    assert reply["error"] == {"code": -32800, "message": ""}
    await d.notify("$/cancelRequest", {"id": "goal-1"})  # unknown by now: ignored
    await d.diagnostics(URI, 1)
    await asyncio.sleep(0.1)
    assert sum(1 for m in d.messages if m.get("id") == "goal-1") == 1
    assert await d.shutdown() == 0


async def test_numeric_and_string_ids_are_distinct():
    """Request ids 7 and "7" are different requests, each answered under its own id."""
    d = await started()
    await d.open(URI, SWAP)
    await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": pos(1, 2)}, id_=7)
    await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": pos(2, 13)}, id_="7")
    a = await d.wait_for(lambda m: m.get("id") == 7 and "result" in m)
    b = await d.wait_for(lambda m: m.get("id") == "7" and "result" in m)
    assert a["result"]["goals"] == ["p q : Prop\n⊢ p ∧ q → q ∧ p"]
    assert len(b["result"]["goals"]) == 2
    assert b["result"]["rendered"] == ("```lean\ncase left\np q : Prop\nh : p ∧ q\n⊢ q\n```\n---\n"
                                       "```lean\ncase right\np q : Prop\nh : p ∧ q\n⊢ p\n```")
    assert await d.shutdown() == 0


async def test_utf16_positions_with_astral_characters_and_crlf():
    """Goal positions and diagnostic ranges count UTF-16 units; CRLF text is handled as LF."""
    d = await started()
    text = "theorem 𝔽swap (p q : Prop) : p ∧ q → q ∧ p := by\r\n  intro h\r\n  constructor\r\n  frobnicate\r\n"
    await d.open(URI, text)
    [diag] = [x for x in await d.diagnostics(URI, 1)]
    assert diag["range"] == {"start": pos(3, 2), "end": pos(3, 12)}
    # `by` is at code-point column 46 but UTF-16 column 47 (𝔽 takes two units).
    assert (await d.goal(URI, 0, 47))["goals"] == ["p q : Prop\n⊢ p ∧ q → q ∧ p"]
    assert await d.goal(URI, 0, 46) is None
    # Edit at the end of the file after an astral character on the same line.
    await d.change(URI, 2, [{"range": {"start": pos(3, 2), "end": pos(3, 12)}, "text": "· exact h.2\r\n  · exact h.1"}])
    assert await d.diagnostics(URI, 2) == []
    await d.change(URI, 3, [{"range": {"start": pos(5, 0), "end": pos(5, 0)}, "text": "-- 🎉 done\n"}])
    assert await d.diagnostics(URI, 3) == []
    assert await d.shutdown() == 0


async def test_hover_completion_and_resolve():
    """Hover gives the identifier's range and scripted markdown; completion returns scripted items."""
    d = await started()
    text = "theorem c (a b : Nat) : a + b = b + a := by\n  exact Nat.add_comm a b\n"
    await d.open(URI, text)
    hover = (await d.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": pos(1, 12)}))["result"]
    assert hover["range"] == {"start": pos(1, 8), "end": pos(1, 20)}
    assert hover["contents"]["kind"] == "markdown" and "Addition is commutative" in hover["contents"]["value"]
    # a declaration of the document: `name binders : type`, as Lean's hover shows it
    declared = (await d.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": pos(0, 8)}))["result"]
    assert declared["contents"]["value"] == "```lean\nc (a b : Nat) : a + b = b + a\n```"
    assert (await d.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": pos(0, 2)}))["result"] is None
    comp = (await d.request("textDocument/completion", {"textDocument": {"uri": URI}, "position": pos(1, 12)}))["result"]
    assert comp["isIncomplete"] is False and [i["label"] for i in comp["items"]] == ["Nat.add_comm", "Nat.add_zero"]
    item = comp["items"][0]
    assert item["data"] == [URI, 1, 12, 0, "cNat.add_comm"]  # Lean's resolve routing data
    assert (await d.request("completionItem/resolve", item))["result"] == item
    foreign = await d.request("completionItem/resolve", {"label": "x", "data": {"leanCompanion": 1}})
    assert foreign["error"] == {"code": -32801, "message": "Cannot process request to closed file ''"}
    assert await d.shutdown() == 0


async def test_try_this_code_action_and_resolve_rules():
    """exact? yields a Try-this quickfix replacing the tactic; resolve needs Lean-shaped data."""
    d = await started()
    text = "theorem c (a b : Nat) : a + b = b + a := by\n  exact?\n"
    await d.open(URI, text)
    params = {"textDocument": {"uri": URI}, "range": {"start": pos(1, 4), "end": pos(1, 4)}, "context": {"diagnostics": []}}
    [action] = (await d.request("textDocument/codeAction", params))["result"]
    assert action == {"title": "Try this: exact Nat.add_comm a b", "kind": "quickfix", "isPreferred": True,
                      "edit": {"documentChanges": [{"textDocument": {"uri": URI, "version": 1},
                                                    "edits": [{"range": {"start": pos(1, 2), "end": pos(1, 8)},
                                                               "newText": "exact Nat.add_comm a b"}]}]}}
    elsewhere = dict(params, range={"start": pos(0, 0), "end": pos(0, 3)})
    assert (await d.request("textDocument/codeAction", elsewhere))["result"] == []
    lean_shaped = {"title": "x", "data": {"params": params, "providerName": "p", "providerResultIndex": 0}}
    assert (await d.request("codeAction/resolve", lean_shaped))["result"] == lean_shaped
    foreign = {"title": "ours", "data": {"params": params, "mine": True}}
    assert (await d.request("codeAction/resolve", foreign))["error"] == {
        "code": -32801, "message": "Cannot process request to closed file ''"}  # as real Lean 4.35
    assert (await d.request("codeAction/resolve", {"title": "no data"}))["error"]["code"] == -32801
    assert await d.shutdown() == 0


async def test_rpc_sessions_interactive_goals_and_errors():
    """connect gives a 64-bit id; getInteractiveGoals mirrors plainGoal; bad sessions get -32900."""
    d = await started(capabilities={"lean": {"rpcWireFormat": "v1"}})
    await d.open(URI, SWAP)
    sid = (await d.request("$/lean/rpc/connect", {"uri": URI}))["result"]["sessionId"]
    assert isinstance(sid, str) and int(sid) >= 2**63  # a JSON string, as real Lean sends it
    numeric = await d.request("$/lean/rpc/call", {"textDocument": {"uri": URI}, "position": pos(2, 13),
                                                  "sessionId": int(sid), "method": "Lean.Widget.getWidgets",
                                                  "params": pos(2, 13)})
    assert numeric["error"]["code"] == -32602
    assert numeric["error"]["message"].endswith("Lean.Lsp.RpcCallParams.sessionId: String expected")
    call = {"textDocument": {"uri": URI}, "position": pos(2, 13), "sessionId": sid,
            "method": "Lean.Widget.getInteractiveGoals",
            "params": {"textDocument": {"uri": URI}, "position": pos(2, 13)}}
    goals = (await d.request("$/lean/rpc/call", call))["result"]["goals"]
    plain = await d.goal(URI, 2, 13)
    assert len(goals) == 2 and goals[0]["userName"] == "left" and goals[0]["goalPrefix"] == "⊢ "
    assert [h["names"] for h in goals[0]["hyps"]] == [["p", "q"], ["h"]]
    assert list(goals[0]["ctx"]) == ["__rpcref"]
    rendered = ["case " + g["userName"] + "\n" + "".join(
        " ".join(h["names"]) + " : " + strip_tags(h["type"]) + "\n" for h in g["hyps"]) + g["goalPrefix"] + strip_tags(g["type"])
        for g in goals]
    assert rendered == plain["goals"]
    outside = dict(call, position=pos(0, 0), params={"textDocument": {"uri": URI}, "position": pos(0, 0)})
    assert (await d.request("$/lean/rpc/call", outside))["result"] is None
    widgets = dict(call, method="Lean.Widget.getWidgets", params=pos(1, 0))
    assert (await d.request("$/lean/rpc/call", widgets))["result"] == {"widgets": []}
    unknown = dict(call, method="Lean.Widget.noSuchThing")
    assert "No RPC method" in (await d.request("$/lean/rpc/call", unknown))["error"]["message"]
    assert (await d.request("$/lean/rpc/call", dict(call, sessionId=str(int(sid) + 1))))["error"] == \
        {"code": -32900, "message": "Outdated RPC session"}
    await d.notify("$/lean/rpc/keepAlive", {"uri": URI, "sessionId": sid})
    info = dict(call, method="Lean.Widget.InteractiveDiagnostics.infoToInteractive", params=goals[0]["type"]["tag"][0]["info"])
    assert strip_tags((await d.request("$/lean/rpc/call", info))["result"]["type"]) == "q"
    await d.notify("$/lean/rpc/release", {"uri": URI, "sessionId": sid, "refs": [goals[0]["type"]["tag"][0]["info"]]})
    released = (await d.request("$/lean/rpc/call", info))["error"]
    assert released["code"] == -32602 and "is not valid" in released["message"]
    assert "result" in await d.request("$/lean/rpc/call", call)
    # Close and reopen: a new worker, so the old session is outdated.
    await d.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    await d.open(URI, SWAP)
    assert (await d.request("$/lean/rpc/call", call))["error"]["code"] == -32900
    assert await d.shutdown() == 0


async def test_rpc_sessions_expire_without_keepalive():
    """A session unused for longer than --rpc-expiry-s is outdated."""
    d = await started("--rpc-expiry-s", "0.6")
    await d.open(URI, SWAP)
    sid = (await d.request("$/lean/rpc/connect", {"uri": URI}))["result"]["sessionId"]
    call = {"textDocument": {"uri": URI}, "position": pos(1, 2), "sessionId": sid,
            "method": "Lean.Widget.getInteractiveGoals", "params": {"textDocument": {"uri": URI}, "position": pos(1, 2)}}
    for _ in range(5):  # 0.75 s in all, longer than the expiry, kept alive throughout
        await asyncio.sleep(0.15)
        await d.notify("$/lean/rpc/keepAlive", {"uri": URI, "sessionId": sid})
    assert "result" in await d.request("$/lean/rpc/call", call)
    await asyncio.sleep(0.9)
    assert (await d.request("$/lean/rpc/call", call))["error"]["code"] == -32900
    assert await d.shutdown() == 0


async def test_header_edit_restarts_the_worker():
    """Changing the imports restarts the worker: old RPC sessions die, diagnostics start over."""
    d = await started("--restart-delay-ms", "100")
    text = "import Mathlib.Tactic\n\n" + SWAP
    await d.open(URI, text)
    await d.diagnostics(URI, 1)
    sid = (await d.request("$/lean/rpc/connect", {"uri": URI}))["result"]["sessionId"]
    await d.change(URI, 2, [{"range": {"start": pos(0, 7), "end": pos(0, 21)}, "text": "Std"}])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await d.diagnostics(URI, 2) == []
    assert loop.time() - t0 >= 0.1
    call = {"textDocument": {"uri": URI}, "position": pos(3, 2), "sessionId": sid,
            "method": "Lean.Widget.getInteractiveGoals", "params": {"textDocument": {"uri": URI}, "position": pos(3, 2)}}
    assert (await d.request("$/lean/rpc/call", call))["error"]["code"] == -32900
    # A body edit keeps the worker (and a new session) alive.
    sid2 = (await d.request("$/lean/rpc/connect", {"uri": URI}))["result"]["sessionId"]
    await d.change(URI, 3, [{"range": {"start": pos(7, 0), "end": pos(7, 0)}, "text": "\n"}])
    await d.diagnostics(URI, 3)
    assert "result" in await d.request("$/lean/rpc/call", dict(call, sessionId=sid2))
    assert await d.shutdown() == 0


async def test_term_goal_and_empty_standard_results():
    """plainTermGoal answers {goal, range} for term bodies; symbols, tokens and definitions come
    from the text (tests/lean_double/navigation.py)."""
    d = await started()
    text = "theorem f (a b : Nat) : a + b = b + a := Nat.add_comm a b\n"
    await d.open(URI, text)
    term = (await d.request("$/lean/plainTermGoal", {"textDocument": {"uri": URI}, "position": pos(0, 45)}))["result"]
    assert term == {"goal": "a b : Nat\n⊢ a + b = b + a", "range": {"start": pos(0, 41), "end": pos(0, 57)}}
    td = {"textDocument": {"uri": URI}}
    assert (await d.request("textDocument/documentSymbol", td))["result"] == [
        {"kind": 6, "name": "f", "range": {"start": pos(0, 0), "end": pos(0, 57)},
         "selectionRange": {"start": pos(0, 8), "end": pos(0, 9)}}]
    # `theorem` (keyword, 7 units) and `f` (a declared name)
    assert (await d.request("textDocument/semanticTokens/full", td))["result"] == {"data": [0, 0, 7, 0, 0, 0, 8, 1, 3, 0]}
    assert (await d.request("textDocument/definition", dict(td, position=pos(0, 45))))["result"] == []
    assert (await d.request("textDocument/definition", dict(td, position=pos(0, 8))))["result"] == [
        {"originSelectionRange": {"start": pos(0, 8), "end": pos(0, 9)}, "targetRange": {"start": pos(0, 8), "end": pos(0, 9)},
         "targetSelectionRange": {"start": pos(0, 8), "end": pos(0, 9)}, "targetUri": URI}]
    assert (await d.request("textDocument/documentHighlight", dict(td, position=pos(0, 8))))["result"] == [
        {"kind": 1, "range": {"start": pos(0, 8), "end": pos(0, 9)}}]
    assert await d.shutdown() == 0


async def test_saved_import_makes_importers_stale_with_a_sticky_diagnostic():
    """didSave of an imported module adds Lean's sticky out-of-date information diagnostic."""
    d = await started()
    importer = "import Foo.Bar\n\n" + SWAP
    await d.open(URI, importer)
    await d.open("file:///p/Other.lean", "import Baz\n")
    await d.diagnostics(URI, 1)
    await d.notify("textDocument/didSave", {"textDocument": {"uri": "file:///p/Foo/Bar.lean"}})
    stale = await d.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == URI and m["params"]["diagnostics"])
    [diag] = stale["params"]["diagnostics"]
    assert diag["severity"] == 3 and diag["message"].startswith("Imports are out of date and should be rebuilt")
    assert diag["range"] == {"start": pos(0, 0), "end": pos(1, 0)}
    assert diag["fullRange"] == {"start": pos(0, 0), "end": pos(7, 0)}
    await d.change(URI, 2, [{"range": {"start": pos(7, 0), "end": pos(7, 0)}, "text": "\n"}])
    assert [x["severity"] for x in await d.diagnostics(URI, 2)] == [3]  # sticky
    assert all(not p["diagnostics"] for p in d.notifications("textDocument/publishDiagnostics", "file:///p/Other.lean"))
    assert await d.shutdown() == 0


async def test_more_rpc_methods_and_silent_goals_accomplished(tmp_path):
    """Term goals, diagnostics and widget sources over RPC; silent goalsAccomplished on opt-in."""
    import json

    from tests.lean_double import BASIC_SCENARIO as basic
    data = json.loads(basic.read_text())
    data["widget_sources"] = {"42": "export default function () { return null }"}
    data["widgets"] = [{"id": "w", "javascriptHash": "42", "props": {}, "range": None}]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    d = await Driver.start("--elab-delay-ms", "5", "--goals-accomplished", scenario=path)
    await d.initialize({"lean": {"silentDiagnosticSupport": True}})
    text = "theorem f (a b : Nat) : a + b = b + a := Nat.add_comm a b\n" + SWAP
    await d.open(URI, text)
    diags = await d.diagnostics(URI, 1)
    # one per proved declaration, term or tactic proof, over the whole declaration (real Lean 4.35)
    assert diags == [{"range": {"start": pos(0, 0), "end": pos(0, 57)}, "fullRange": {"start": pos(0, 0), "end": pos(0, 57)},
                      "severity": 3, "source": "Lean 4", "message": "Goals accomplished!", "leanTags": [2], "isSilent": True},
                     {"range": {"start": pos(1, 0), "end": pos(2, 0)}, "fullRange": {"start": pos(1, 0), "end": pos(5, 13)},
                      "severity": 3, "source": "Lean 4", "message": "Goals accomplished!", "leanTags": [2], "isSilent": True}]
    sid = (await d.request("$/lean/rpc/connect", {"uri": URI}))["result"]["sessionId"]
    base = {"textDocument": {"uri": URI}, "position": pos(0, 45), "sessionId": sid}
    term = (await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getInteractiveTermGoal",
                                                     params={"textDocument": {"uri": URI}, "position": pos(0, 45)})))["result"]
    assert strip_tags(term["type"]) == "a + b = b + a" and term["range"]["start"] == pos(0, 41)
    assert list(term["term"]) == ["p"]  # v0 wire format by default
    source = await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getWidgetSource",
                                                     params={"hash": "42", "pos": pos(0, 45)}))
    assert source["result"] == {"sourcetext": "export default function () { return null }"}
    missing = await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getWidgetSource",
                                                      params={"hash": "7", "pos": pos(0, 45)}))
    assert missing["error"] == {"code": -32602, "message": "No widget module with hash 7 registered"}
    # Lean decodes GetWidgetSourceParams: `hash` a string, `pos` a position
    no_pos = await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getWidgetSource", params={"hash": "42"}))
    assert no_pos["error"]["message"].endswith("GetWidgetSourceParams.pos: Lean.Lsp.Position.line: Natural number expected")
    number = await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getWidgetSource",
                                                     params={"hash": 42, "pos": pos(0, 45)}))
    assert number["error"]["message"].endswith("GetWidgetSourceParams.hash: String expected")
    widgets = await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getWidgets", params=pos(0, 45)))
    assert widgets["result"]["widgets"][0]["javascriptHash"] == "42"
    inter = await d.request("$/lean/rpc/call", dict(base, method="Lean.Widget.getInteractiveDiagnostics", params={}))
    assert [strip_tags(x["message"]) for x in inter["result"]] == ["Goals accomplished!", "Goals accomplished!"]
    assert await d.shutdown() == 0
    # A client without silentDiagnosticSupport never sees silent diagnostics.
    d = await Driver.start("--elab-delay-ms", "5", "--goals-accomplished", scenario=path)
    await d.initialize({})
    await d.open(URI, SWAP)
    assert await d.diagnostics(URI, 1) == []
    assert await d.shutdown() == 0


async def test_requests_pending_across_a_header_restart_are_replayed_on_the_new_worker():
    """A goal request waiting when the imports change is answered from the restarted worker."""
    d = await started("--restart-delay-ms", "100", delay="400")
    await d.open(URI, "import A\n\n" + SWAP)
    rid = await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": pos(3, 2)})
    await d.change(URI, 2, [{"range": {"start": pos(0, 7), "end": pos(0, 8)}, "text": "B\nimport C"}])
    reply = await d.reply(rid)
    # The new text moved the proof down one line: line 3 is now `theorem swap ...` (no tactic state).
    assert reply["result"] is None
    assert (await d.goal(URI, 4, 2))["goals"] == ["p q : Prop\n⊢ p ∧ q → q ∧ p"]
    assert await d.shutdown() == 0


async def test_a_reused_outstanding_id_still_gets_one_reply_per_request():
    """Two pending requests with the same id on different files each get a reply (Lean does too)."""
    d = await started(delay="300")
    await d.open(URI, SWAP)
    await d.open("file:///p/B.lean", SWAP)
    await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": URI}, "position": pos(1, 2)}, id_=50)
    await d.send_request("$/lean/plainGoal", {"textDocument": {"uri": "file:///p/B.lean"}, "position": pos(1, 9)}, id_=50)
    await d.diagnostics(URI, 1)
    await d.diagnostics("file:///p/B.lean", 1)
    await asyncio.sleep(0.1)
    replies = [m for m in d.messages if m.get("id") == 50]
    assert len(replies) == 2
    assert sorted(r["result"]["goals"][0] for r in replies) == ["p q : Prop\nh : p ∧ q\n⊢ q ∧ p", "p q : Prop\n⊢ p ∧ q → q ∧ p"]
    assert await d.shutdown() == 0


async def test_out_of_date_imports_with_dependency_build_mode_never():
    """A changed import with dependencyBuildMode never is a fatal header error; "once" rebuilds
    on open only, so a later worker restart behaves as never (§2.2, §2.5)."""
    d = await started()
    text = "import Foo.Bar\n\n" + SWAP
    await d.notify("textDocument/didSave", {"textDocument": {"uri": "file:///p/Foo/Bar.lean"}})
    await d.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "lean", "version": 1, "text": text},
                                            "dependencyBuildMode": "never"})
    [diag] = await d.diagnostics(URI, 1)
    assert diag["severity"] == 1 and diag["message"].startswith("Imports are out of date and must be rebuilt")
    assert diag["range"] == {"start": pos(0, 0), "end": pos(0, 14)}
    fatal = [p for p in d.notifications("$/lean/fileProgress", URI) if p["processing"]][-1]
    assert fatal["processing"][0]["kind"] == 2
    assert await d.goal(URI, 3, 2) is None  # no command was elaborated
    # "Restart File": close and reopen with "once" builds the import, so the proof is elaborated.
    await d.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    await d.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "lean", "version": 1, "text": text},
                                            "dependencyBuildMode": "once"})
    assert await d.diagnostics(URI, 1) == []
    assert (await d.goal(URI, 3, 2))["goals"] == ["p q : Prop\n⊢ p ∧ q → q ∧ p"]
    # Another change, then a header edit restarts the worker: now it behaves as "never".
    await d.notify("textDocument/didSave", {"textDocument": {"uri": "file:///p/Foo/Bar.lean"}})
    await d.change(URI, 2, [{"range": {"start": pos(0, 14), "end": pos(0, 14)}, "text": "\nimport Baz"}])
    [diag] = [x for x in await d.diagnostics(URI, 2) if x["severity"] == 1]
    assert "must be rebuilt" in diag["message"]
    assert await d.shutdown() == 0
