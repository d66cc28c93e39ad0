"""The editor protocol ``$/leanCompanion/*`` is defined once (copilot/features/protocol.py):
the VS Code extension's TypeScript types are generated from it and must not drift; the proxy
validates what editors send with it (a -32602 naming the field) and answers in its shapes; and
``$/leanCompanion/statusChanged`` is sent when the status changes, to editors that asked for it."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import msgspec
import pytest

from copilot.features import protocol as P
from lsp_proxy.errors import INVALID_PARAMS, ResponseError
from tests.conftest import REPO_ROOT
from tests.features.session import Session

PROTOCOL_TS = REPO_ROOT / "vscode-extension" / "src" / "protocol.ts"
SCENARIO = REPO_ROOT / "tests" / "lean_double" / "scenarios" / "basic.json"
SORRY_FILE = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"


def test_typescript_types_are_generated_from_the_python_definition() -> None:
    """vscode-extension/src/protocol.ts is exactly what the generator writes; regenerate with
    `python -m copilot.features.protocol --typescript > vscode-extension/src/protocol.ts`."""
    assert PROTOCOL_TS.read_text(encoding="utf-8") == P.typescript(), (
        "protocol.ts drifted from copilot/features/protocol.py: regenerate it")


def test_the_generator_command_prints_the_file() -> None:
    """The documented command writes exactly protocol.ts to stdout (and nothing else there)."""
    result = subprocess.run([sys.executable, "-m", "copilot.features.protocol", "--typescript"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == PROTOCOL_TS.read_text(encoding="utf-8")


def test_generated_typescript_covers_every_method_and_struct() -> None:
    """Every method constant and every Struct appears in the TypeScript, with wire (camelCase) names."""
    ts = P.typescript()
    for key, method in P.METHODS.items():
        assert f"    {key}: '{method}'," in ts
    for cls in P.EXPORTED:
        assert f"export interface {cls.__name__}" in ts
    assert "    textDocument: VersionedDocument" in ts and "    requestToken?: string" in ts
    assert "    lastLatencyMs: number | null" in ts and "    goal: string | null" in ts
    assert "    verdict: 'closes' | 'progress' | 'unchecked'" in ts


@pytest.mark.parametrize(("params", "kind", "message"), [
    ({}, P.SuggestParams, "textDocument: missing"),
    ({"textDocument": {}, "position": {"line": 0, "character": 0}}, P.SuggestParams, "textDocument.uri: missing"),
    ({"textDocument": {"uri": 3}, "position": {"line": 0, "character": 0}}, P.PremisesParams, "textDocument.uri: Expected `str`"),
    ({"textDocument": {"uri": "file:///a"}, "position": {"line": -1, "character": 0}}, P.SuggestParams,
     "position.line: Expected `int` >= 0"),
    ({"textDocument": {"uri": "file:///a"}, "position": {"line": True, "character": 0}}, P.SuggestParams,
     "position.line: Expected `int`"),
    ({"textDocument": {"uri": "file:///a", "version": "7"}, "position": {"line": 0, "character": 0}}, P.SuggestParams,
     "textDocument.version: Expected `int | null`"),
    ({"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}, "includeUnchecked": 1}, P.SuggestParams,
     "includeUnchecked: Expected `bool`"),
    ({"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}, "scope": "all"}, P.FillSorryParams,
     "scope: Invalid enum value 'all'"),
    ({"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}, "timeoutSeconds": 0}, P.FillSorryParams,
     "timeoutSeconds: Expected `float` > 0"),
    ({"requestToken": 5}, P.CancelParams, "requestToken: Expected `str`"),
    ([], P.StatusParams, "params must be an object"),
])
def test_bad_params_get_invalid_params_naming_the_field(params, kind, message) -> None:
    with pytest.raises(ResponseError) as raised:
        P.parse(params, kind)
    assert raised.value.code == INVALID_PARAMS
    assert str(raised.value.message).startswith(message), raised.value.message


def test_good_params_parse_with_defaults_and_unknown_fields_ignored() -> None:
    """Editors may send fields a proxy does not know (a newer editor); defaults fill the rest."""
    parsed = P.parse({"textDocument": {"uri": "file:///a", "version": 3}, "position": {"line": 1, "character": 2},
                      "newField": True}, P.FillSorryParams)
    assert (parsed.text_document.uri, parsed.text_document.version) == ("file:///a", 3)
    assert (parsed.scope, parsed.timeout_seconds, parsed.request_token) == ("position", None, None)
    assert P.parse(None, P.StatusParams) == P.StatusParams()


def test_results_encode_with_wire_names_and_keep_required_nulls() -> None:
    """camelCase on the wire; optional fields left out when unset, required ones kept even when null."""
    result = P.SuggestResult(goal=None, latency_ms=3, suggestions=[
        P.Suggestion(tactic="simp", verdict="closes", goals_after=[], source="portfolio", score=0.5)])
    assert P.to_wire(result) == {"goal": None, "latencyMs": 3, "suggestions": [
        {"tactic": "simp", "verdict": "closes", "goalsAfter": [], "source": "portfolio", "score": 0.5}]}


async def test_the_proxy_validates_and_answers_in_the_protocol_shapes(tmp_path) -> None:
    """Through `lean-companion serve`: bad params get -32602 naming the field; `status` and
    `suggest` results convert to their Structs (they are what protocol.ts says)."""
    session = await Session.start(tmp_path, scenario=SCENARIO)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        bad = await session.request(P.SUGGEST, {"textDocument": {"uri": uri}, "position": {"line": 1, "character": -2}})
        assert bad["error"]["code"] == INVALID_PARAMS and bad["error"]["message"].startswith("position.character:"), bad
        bad_fill = await session.request(P.FILL_SORRY, {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2},
                                                        "scope": "everything"})
        assert bad_fill["error"]["code"] == INVALID_PARAMS and bad_fill["error"]["message"].startswith("scope:"), bad_fill
        status = (await session.request(P.STATUS, {}))["result"]
        parsed = msgspec.convert(status, P.StatusResult)
        assert parsed.protocol_version == P.PROTOCOL_VERSION and parsed.models[-1].id == "portfolio"
        suggest = (await session.request(P.SUGGEST, {"textDocument": {"uri": uri, "version": 1},
                                                     "position": {"line": 1, "character": 3}}))["result"]
        parsed_suggest = msgspec.convert(suggest, P.SuggestResult)
        assert parsed_suggest.suggestions and parsed_suggest.goal == "n : Nat\n⊢ n + 0 = n"
        filled = (await session.request(P.FILL_SORRY, {"textDocument": {"uri": uri, "version": 1},
                                                      "position": {"line": 1, "character": 3}}, timeout=90))["result"]
        parsed_fill = msgspec.convert(filled, P.FillSorryResult)
        assert parsed_fill.status == "proved" and parsed_fill.edit is not None and parsed_fill.stats is not None
        # the edit names the version it was checked against (LSP requires the key)
        assert filled["edit"]["documentChanges"][0]["textDocument"] == {"uri": uri, "version": 1}
    finally:
        await session.close()


async def test_status_changed_is_sent_when_the_status_changes(tmp_path) -> None:
    """After an editor asked for `status`, the proxy sends `$/leanCompanion/statusChanged` with
    the new status when it changes (here: the editor turns code actions off, so the features
    listed change), and not again while nothing changes."""
    session = await Session.start(tmp_path, scenario=SCENARIO)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        first = (await session.request(P.STATUS, {}))["result"]
        assert "codeActions" in first["features"]
        session.notify(P.CONFIGURE, {"settings": {"suggest": {"code_actions": False}}})
        changed = await session.wait_for(lambda m: m.get("method") == P.STATUS_CHANGED
                                         and "codeActions" not in m["params"]["features"])
        status = msgspec.convert(changed["params"], P.StatusResult)
        assert status.pid == first["pid"] and "suggest" in status.features
        assert status.problems == [] and "problems" in changed["params"]  # the same fields as `status`
        await session.until(lambda: _quiet(session))  # background work (the sorry sweep) settles
        count = sum(1 for m in session.notifications if m.get("method") == P.STATUS_CHANGED)
        await asyncio.sleep(4 * 0.5 + 0.5)  # several of the proxy's checks, nothing changing
        assert sum(1 for m in session.notifications if m.get("method") == P.STATUS_CHANGED) == count
    finally:
        await session.close()


async def _quiet(session: Session) -> bool:
    status = (await session.request(P.STATUS, {}))["result"]
    await asyncio.sleep(1.2)
    return not status["busy"] and status == (await session.request(P.STATUS, {}))["result"]


async def test_editors_that_never_ask_for_status_get_no_status_changed(tmp_path) -> None:
    """An editor that never asked for `status` (e.g. a plain LSP client) hears nothing of it."""
    session = await Session.start(tmp_path, scenario=SCENARIO)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.request(P.SUGGEST, {"textDocument": {"uri": uri, "version": 1}, "position": {"line": 1, "character": 3}})
        await asyncio.sleep(1.5)
        assert not [m for m in session.notifications if m.get("method") == P.STATUS_CHANGED]
    finally:
        await session.close()
