"""A served model through ``lean-companion serve`` (the editor path) in front of the Lean test double.

The project's ``.lean-companion.toml`` names an OpenAI-compatible endpoint (the scripted server of
openai_fake.py); the editor's ``$/leanCompanion/suggest`` on a sorry gets the served model's tactic,
checked by the double, next to the portfolio's. With the server down, Lean traffic and the portfolio's
suggestions carry on.
"""
from __future__ import annotations

import pytest

pytest.importorskip("httpx")

from tests.features.session import Session
from tests.lean_double import BASIC_SCENARIO
from tests.local_models.openai_fake import FakeOpenAI, free_port

HARD = "theorem hard (f : Nat → Nat) (hf : ∀ x, f (f x) = x) : Function.Injective f := by\n  sorry\n"
EASY = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"


def _config(base_url: str) -> str:
    return (f'[models]\ntactic = ["srv"]\n\n[models.custom.srv]\nextends = "bfs-prover-v2-7b"\n'
            f'base_url = "{base_url}"\nmodel = "bfs-served"\n')


async def _model_state(session: Session, model_id: str) -> str | None:
    status = (await session.request("$/leanCompanion/status", {}))["result"]
    return next((m.get("state") for m in status["models"] if m["id"] == model_id), None)


async def test_editor_suggestion_from_a_served_model(tmp_path):
    with FakeOpenAI(answers=["exact Function.LeftInverse.injective hf", "simp"], models=["bfs-served"]) as fake:
        session = await Session.start(tmp_path, scenario=BASIC_SCENARIO, config=_config(fake.base_url))
        try:
            await session.until(lambda: _ready(session))  # before the file opens: no suggestions cached without it
            uri = session.open("Hard.lean", HARD)
            await session.wait_diagnostics(uri, 1)
            reply = await session.request("$/leanCompanion/suggest", {
                "textDocument": {"uri": uri, "version": 1}, "position": {"line": 1, "character": 3}})
        finally:
            await session.close()
    suggestions = reply["result"]["suggestions"]
    closing = [s["tactic"] for s in suggestions if s["verdict"] == "closes"]
    assert "exact Function.LeftInverse.injective hf" in closing, reply
    assert fake.requests and fake.requests[0]["prompt"].endswith(":::")


async def _ready(session: Session) -> bool:
    return await _model_state(session, "srv") == "ready"


async def test_editor_keeps_working_with_the_server_down(tmp_path):
    session = await Session.start(tmp_path, scenario=BASIC_SCENARIO,
                                  config=_config(f"http://127.0.0.1:{free_port()}/v1"))
    try:
        uri = session.open("A.lean", EASY)
        await session.wait_diagnostics(uri, 1)
        reply = await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri, "version": 1}, "position": {"line": 1, "character": 3}})
        hover = await session.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                             "position": {"line": 0, "character": 9}})
    finally:
        await session.close()
    closing = [s["tactic"] for s in reply["result"]["suggestions"] if s["verdict"] == "closes"]
    assert {"simp", "rfl", "omega"} & set(closing)  # the portfolio's, checked
    assert "result" in hover  # Lean's own traffic still answered
