"""The `Fill sorry` code action and `$/leanCompanion/fillSorry` through the proxy: a 3-step proof
found by search (a scripted model proposes each step), checked by the double and applied by the
editor through `workspace/applyEdit`; no proof when no source proposes the needed tactic; with
progress reported to an editor that supports it."""
from __future__ import annotations

from tests.features.conftest import THREE_STEP
from tests.features.session import Session

THREE_STEP_FILE = "theorem le_add_zero (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  sorry\n"
SECRET_FILE = "theorem secret (z : Nat) (hz : z = 7) : Secret z := by\n  sorry\n"
FAST_SEARCH = "[search]\nbudget_seconds = 8\nmax_expansions = 12\n"


async def _model_ready(session: Session, model_id: str) -> bool:
    status = (await session.request("$/leanCompanion/status", {}))["result"]
    return any(m["id"] == model_id and m.get("state") == "ready" for m in status["models"])


async def test_fill_sorry_action_finds_and_applies_a_three_step_proof(tmp_path, scenario):
    """The code action's command runs the search; the proxy sends `workspace/applyEdit` (label
    "Fill sorry") with the 3-step proof for the version it searched; the editor applies it and
    Lean then reports no error and no sorry for the new version; progress begin/end was sent."""
    session = await Session.start(tmp_path, scenario=scenario, models={"steps": {"table": THREE_STEP}},
                                  config=FAST_SEARCH)
    try:
        uri = session.open("B.lean", THREE_STEP_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _model_ready(session, "steps"))
        actions = (await session.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 2}},
            "context": {"diagnostics": []}}))["result"]
        fill = next(a for a in actions if a["title"] == "Fill sorry with a proof (search)")
        reply = await session.request("workspace/executeCommand", {
            "command": fill["command"]["command"], "arguments": fill["command"]["arguments"]}, timeout=60)
        result = reply["result"]
        assert result["status"] == "proved", result
        assert result["proof"] == "rw [Nat.add_zero]\nrw [Nat.add_zero]\nexact h"
        assert result["applied"] is True
        (request,) = [r for r in session.server_requests if r["method"] == "workspace/applyEdit"]
        assert request["params"]["label"] == "Fill sorry"
        change = request["params"]["edit"]["documentChanges"][0]
        assert change["textDocument"] == {"uri": uri, "version": 1}
        assert session.docs[uri].text == ("theorem le_add_zero (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n"
                                          "  rw [Nat.add_zero]\n  rw [Nat.add_zero]\n  exact h\n")
        version = session.sync_applied(uri)
        await session.wait_diagnostics(uri, version)
        publish = await session.wait_for(lambda m: m["method"] == "textDocument/publishDiagnostics"
                                         and m["params"].get("version") == version)
        assert publish["params"]["diagnostics"] == []
        kinds = [n["params"]["value"]["kind"] for n in session.notifications if n["method"] == "$/progress"]
        assert kinds[0] == "begin" and kinds[-1] == "end"
        assert any(r["method"] == "window/workDoneProgress/create" for r in session.server_requests)
        assert result["stats"]["leanChecks"] > 0
    finally:
        await session.close()


async def test_no_proof_when_no_source_proposes_the_tactic(tmp_path, scenario):
    """`$/leanCompanion/fillSorry` on a goal only `magic_trick_9` closes (no source proposes it)
    returns a failure status and no edit; no progress is sent to an editor without
    `window.workDoneProgress`, and no edit is ever requested."""
    session = await Session.start(tmp_path, scenario=scenario, models={"steps": {"table": THREE_STEP}},
                                  config=FAST_SEARCH, capabilities={})
    try:
        uri = session.open("C.lean", SECRET_FILE)
        await session.wait_diagnostics(uri, 1)
        reply = await session.request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri, "version": 1}, "position": {"line": 1, "character": 2},
            "timeoutSeconds": 5}, timeout=60)
        result = reply["result"]
        assert result["status"] in ("failed", "timeout")
        assert "edit" not in result and "proof" not in result
        assert not [r for r in session.server_requests if r["method"] == "workspace/applyEdit"]
        assert not [n for n in session.notifications if n["method"] == "$/progress"]
        texts = [e for e in session.double_log() if e.get("dir") == "recv" and "magic_trick_9" in str(e.get("params"))]
        assert texts == []
    finally:
        await session.close()


async def test_fill_sorry_without_a_sorry_and_file_scope(tmp_path, scenario):
    """A position with no sorry gives `noSorry`; file scope fills every sorry it can and says how
    many remain (`partial`), with one versioned edit per filled sorry."""
    text = THREE_STEP_FILE + "\n" + SECRET_FILE
    session = await Session.start(tmp_path, scenario=scenario, models={"steps": {"table": THREE_STEP}},
                                  config=FAST_SEARCH)
    try:
        uri = session.open("D.lean", text)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _model_ready(session, "steps"))
        none = (await session.request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri}, "position": {"line": 2, "character": 0}}))["result"]
        assert none["status"] == "noSorry"
        result = (await session.request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}, "scope": "file",
            "timeoutSeconds": 8}, timeout=60))["result"]
        assert result["status"] == "partial" and result["filled"] == 1 and result["remaining"] == 1
        (change,) = result["edit"]["documentChanges"]
        assert change["textDocument"]["version"] == 1
        (edit,) = change["edits"]
        assert edit["range"]["start"] == {"line": 1, "character": 2}
        assert edit["newText"].startswith("rw [Nat.add_zero]")
    finally:
        await session.close()
