"""End to end through ``lean-companion serve`` in front of the Lean test double: suggestions as
the custom request, code actions, completions and merged diagnostics; every shown suggestion was
checked by the double; unsafe candidates never reach it."""
from __future__ import annotations

import asyncio
import json

from tests.features.session import Session

SORRY_FILE = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"
UNSAFE = ["native_decide", "run_tac evil", "exact sorryAx _ false", "admit", "#eval 1", "omega"]


def _shadow_texts(session: Session) -> list[str]:
    texts = []
    for entry in session.double_log():
        if entry.get("dir") != "recv" or entry.get("method") not in ("textDocument/didOpen", "textDocument/didChange"):
            continue
        params = entry.get("params") or {}
        uri = params.get("textDocument", {}).get("uri", "")
        if ".lean-companion-shadow-" not in uri:
            continue
        if entry["method"] == "textDocument/didOpen":
            texts.append(params["textDocument"]["text"])
        else:
            texts += [c["text"] for c in params.get("contentChanges", [])]
    return texts


async def test_suggest_request_returns_checked_suggestions(tmp_path, scenario):
    """`$/leanCompanion/suggest` on a `sorry` returns the goal and suggestions that close it,
    each one checked by the double (its shadow copies were elaborated); the unsafe proposals of
    a model were dropped before Lean: no shadow text sent to the double contains them."""
    session = await Session.start(tmp_path, scenario=scenario, models={"unsafe": {"any": UNSAFE}})
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _model_ready(session, "unsafe"))
        reply = await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri, "version": 1}, "position": {"line": 1, "character": 3}})
        result = reply["result"]
        assert result["goal"] == "n : Nat\n⊢ n + 0 = n"
        tactics = [s["tactic"] for s in result["suggestions"]]
        assert tactics and all(s["verdict"] == "closes" for s in result["suggestions"])
        assert "omega" in tactics  # the model's one safe proposal, checked and accepted
        assert {"simp", "rfl"} & set(tactics)  # the portfolio's
        for s in result["suggestions"]:
            assert s["range"] == {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 7}}
            assert s["goalsAfter"] == [] and 0 <= s["score"] <= 1
        shadows = _shadow_texts(session)
        assert shadows, "nothing was checked by Lean"
        checked = "\n".join(shadows)
        for tactic in tactics:
            assert f"  {tactic}\n" in checked
        for bad in ("native_decide", "run_tac", "sorryAx", "admit", "#eval"):
            assert bad not in checked, bad
    finally:
        await session.close()


async def _model_ready(session: Session, model_id: str) -> bool:
    status = (await session.request("$/leanCompanion/status", {}))["result"]
    return any(m["id"] == model_id and m.get("state") in ("ready", "failed") for m in status["models"])


async def test_code_actions_and_diagnostics_on_a_sorry(tmp_path, scenario):
    """After Lean finished the file, a "Try this:" information diagnostic arrives merged with
    Lean's own sorry warning (one publish carrying both); the code actions on the `sorry` are
    `Try: <tactic>` edits (first one preferred) and `Fill sorry with a proof (search)`."""
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        publish = await session.wait_for(lambda m: m["method"] == "textDocument/publishDiagnostics" and any(
            d.get("source") == "lean-companion" for d in m["params"]["diagnostics"]), timeout=30)
        diagnostics = publish["params"]["diagnostics"]
        ours = [d for d in diagnostics if d.get("source") == "lean-companion"]
        lean = [d for d in diagnostics if d.get("source") != "lean-companion"]
        assert publish["params"]["version"] == 1
        assert any("sorry" in d["message"] for d in lean), "Lean's warning must stay in the list"
        assert len(ours) == 1 and ours[0]["severity"] == 3 and ours[0]["message"].startswith("Try this: ")
        assert ours[0]["range"]["start"] == {"line": 1, "character": 2}

        reply = await session.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 3}, "end": {"line": 1, "character": 3}},
            "context": {"diagnostics": []}})
        actions = reply["result"]
        titles = [a["title"] for a in actions]
        tries = [a for a in actions if a["title"].startswith("Try: ")]
        assert tries and tries[0].get("isPreferred") is True
        assert "Fill sorry with a proof (search)" in titles
        fill = next(a for a in actions if a["title"] == "Fill sorry with a proof (search)")
        assert fill["command"]["command"].startswith("leanCompanion.proxy.")
        edit = tries[0]["edit"]["documentChanges"][0]
        assert edit["textDocument"] == {"uri": uri, "version": 1}
        assert tries[0]["title"] == f"Try: {tries[0]['data']['tactic']} (closes the goal)"
        assert edit["edits"][0]["newText"] == tries[0]["data"]["tactic"]
        assert all(a["data"]["leanCompanion"] == 1 for a in tries)

        resolved = await session.request("codeAction/resolve", tries[0])
        assert resolved["result"] == tries[0]
        assert not [e for e in session.double_log() if e.get("method") == "codeAction/resolve"]

        # the edit makes the diagnostic stale: the next publish has none of ours
        version = session.change(uri, "theorem add_zero' (n : Nat) : n + 0 = n := by\n  simp\n")
        publish = await session.wait_for(lambda m: m["method"] == "textDocument/publishDiagnostics"
                                         and m["params"].get("version") == version)
        assert not [d for d in publish["params"]["diagnostics"] if d.get("source") == "lean-companion"]
    finally:
        await session.close()


async def test_completions_merge_checked_items(tmp_path, scenario):
    """Completion while typing a tactic: the first answer is Lean's items marked incomplete, a
    later one (same line, more typed) carries our checked items first, marked and ranked, and
    Lean's items unchanged after them."""
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        text = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  s\n"
        uri = session.open("A.lean", text)
        await session.wait_diagnostics(uri, 1)
        first = await session.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 3}})
        assert first["result"]["isIncomplete"] is True
        lean_items = [i for i in first["result"]["items"] if "Lean Companion" not in str(i.get("detail"))]
        assert [i["label"] for i in lean_items] == ["Nat.add_comm", "Nat.add_zero"]

        version = session.change(uri, "theorem add_zero' (n : Nat) : n + 0 = n := by\n  si\n")

        async def ours():
            reply = await session.request("textDocument/completion", {
                "textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}})
            items = reply["result"]["items"]
            return reply if any("Lean Companion" in str(i.get("detail")) for i in items) else None

        reply = await session.until(ours, timeout=30, interval=0.2)
        items = reply["result"]["items"]
        companion = [i for i in items if "Lean Companion" in str(i.get("detail"))]
        assert items[: len(companion)] == companion
        assert [i["label"] for i in items[len(companion):]] == ["Nat.add_comm", "Nat.add_zero"]
        # Lean's items unchanged, except that their `data` names the request's position (as real Lean's do)
        def unplaced(item: dict) -> dict:
            return {**item, "data": item["data"][:1] + item["data"][3:]}
        assert [unplaced(i) for i in items[len(companion):]] == [unplaced(i) for i in lean_items]
        assert all(i["detail"].startswith("✓ Lean Companion") for i in companion)
        assert [i["sortText"] for i in companion] == sorted(i["sortText"] for i in companion)
        labels = [i["label"] for i in companion]
        assert "simp" in labels
        simp = next(i for i in companion if i["label"] == "simp")
        assert simp["textEdit"]["range"] == {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 4}}
        assert version == 2
    finally:
        await session.close()


async def test_companion_requests_never_reach_lean(tmp_path, scenario):
    """`status`, `configure` and `cancel` are answered or consumed by the proxy; the double's log
    shows none of them; a bad suggest request gets -32602 naming the field."""
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        session.notify("$/leanCompanion/configure", {"settings": {"suggest": {"max_candidates": 3}}})
        session.notify("$/leanCompanion/cancel", {"requestToken": "nothing"})
        status = (await session.request("$/leanCompanion/status", {}))["result"]
        assert status["protocolVersion"] == 1 and isinstance(status["pid"], int)
        assert status["models"][-1]["id"] == "portfolio" and status["index"]["state"] == "absent"
        assert status["lean"] == {"running": True, "restarts": 0}
        assert status["logFile"].endswith("proxy.log")
        bad = await session.request("$/leanCompanion/suggest", {"textDocument": {"uri": 3}, "position": {}})
        assert bad["error"]["code"] == -32602 and "textDocument.uri" in bad["error"]["message"]
        closed = await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": "file:///nope.lean"}, "position": {"line": 0, "character": 0}})
        assert closed["error"]["code"] == -32803
        await asyncio.sleep(0.2)
        received = [e.get("method") for e in session.double_log() if e.get("dir") == "recv"]
        assert not [m for m in received if m and m.startswith("$/leanCompanion")], received
        assert "settings applied" in session.proxy_log()
        assert json.dumps(status)
    finally:
        await session.close()


async def test_configuration_updates_apply_without_restart(tmp_path, scenario):
    """`$/leanCompanion/configure` turning code actions off removes ours from the next answer
    (Lean's stay); `workspace/didChangeConfiguration` with a `leanCompanion` overlay turns them
    back on and is still forwarded to Lean; `suggest.enabled = false` makes suggest answer -32601."""
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        params = {"textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 2},
                                                          "end": {"line": 1, "character": 2}},
                  "context": {"diagnostics": []}}

        async def titles():
            return [a["title"] for a in (await session.request("textDocument/codeAction", params))["result"]]

        assert "Fill sorry with a proof (search)" in await titles()
        session.notify("$/leanCompanion/configure", {"settings": {"suggest": {"code_actions": False}}})
        assert await titles() == []
        session.notify("workspace/didChangeConfiguration", {"settings": {"leanCompanion": {}}})
        assert "Fill sorry with a proof (search)" in await titles()
        session.notify("$/leanCompanion/configure", {"settings": {"suggest": {"enabled": False}}})
        reply = await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        assert reply["error"]["code"] == -32601
        received = [e.get("method") for e in session.double_log() if e.get("dir") == "recv"]
        assert "workspace/didChangeConfiguration" in received
    finally:
        await session.close()


async def test_progress_suggestions_on_a_blank_line(tmp_path, scenario):
    """On a blank line of an unfinished proof, a step that changes the goal is a `progress`
    suggestion with the goals Lean reports after it, ranked after every closing one."""
    text = "theorem swap (p q : Prop) : p ∧ q → q ∧ p := by\n  \n"
    session = await Session.start(tmp_path, scenario=scenario, models={"steps": {"table": {
        "⊢ p ∧ q → q ∧ p": ["intro h", "tauto"]}}})
    try:
        uri = session.open("S.lean", text)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _model_ready(session, "steps"))
        result = (await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}))["result"]
        assert result["goal"] == "p q : Prop\n⊢ p ∧ q → q ∧ p"
        by_tactic = {s["tactic"]: s for s in result["suggestions"]}
        assert by_tactic["tauto"]["verdict"] == "closes"
        assert by_tactic["intro h"]["verdict"] == "progress"
        assert by_tactic["intro h"]["goalsAfter"] == ["p q : Prop\nh : p ∧ q\n⊢ q ∧ p"]
        verdicts = [s["verdict"] for s in result["suggestions"]]
        assert verdicts == sorted(verdicts, key=lambda v: v != "closes")
        assert "range" not in by_tactic["tauto"]  # inserted at the cursor
    finally:
        await session.close()


async def test_premises_from_the_project_index(tmp_path, scenario):
    """With the index enabled, `status` reports it ready, `$/leanCompanion/premises` returns the
    project's declarations for the goal with the documented fields, and the code actions on a
    `sorry` include `Insert premise <name>`."""
    session = await Session.start(tmp_path, scenario=scenario, config="[index]\nenabled = true\n", handshake=False)
    try:
        (session.root / "Lemmas.lean").write_text(
            "theorem my_add_zero (n : Nat) : n + 0 = n := Nat.add_zero n\n"
            "theorem my_mul_one (n : Nat) : n * 1 = n := Nat.mul_one n\n", encoding="utf-8")
        await session.handshake()

        async def ready():
            status = (await session.request("$/leanCompanion/status", {}))["result"]
            return status["index"]["state"] == "ready" and status["index"]["declarations"] >= 2

        await session.until(ready, timeout=60)
        (session.root / "A.lean").write_text("import Lemmas\n\n" + SORRY_FILE, encoding="utf-8")
        uri = session.open("A.lean", "import Lemmas\n\n" + SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        premises = (await session.request("$/leanCompanion/premises", {
            "textDocument": {"uri": uri}, "position": {"line": 3, "character": 2}, "k": 5}))["result"]["premises"]
        names = [p["name"] for p in premises]
        assert "my_add_zero" in names
        first = premises[0]
        assert set(first) == {"name", "signature", "module", "score"}

        async def premise_actions():
            actions = (await session.request("textDocument/codeAction", {
                "textDocument": {"uri": uri}, "range": {"start": {"line": 3, "character": 2},
                                                        "end": {"line": 3, "character": 2}},
                "context": {"diagnostics": []}}))["result"]
            return [a for a in actions if a["title"].startswith("Insert premise ")]

        inserts = await session.until(premise_actions, timeout=30, interval=0.2)
        assert inserts[0]["kind"] == "refactor.rewrite"
    finally:
        await session.close()
