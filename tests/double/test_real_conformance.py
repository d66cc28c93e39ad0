"""The double against real Lean 4.35 (prelude mode): the SAME scripted sessions run against both,
and any difference in message shape or protocol behaviour fails.

The double does not elaborate Lean, so it is scripted (a scenario) for what Lean computes: the
term proof is accepted, ``fals`` is an unknown identifier, ``Eq'.`` completes to ``refl``.
Everything else is compared: which messages arrive and in which order per version, field names
and JSON types, error codes and messages, ranges Lean derives from the text, id types.

The double's remaining simplifications, normalised away here and listed in its README:
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.lean_double import double_command, write_scenario
from tests.lsp_client import LspClient, answer_null

pytestmark = [pytest.mark.real_lean, pytest.mark.timeout(300)]

SIMPLIFICATIONS = {
    "content": "no real elaboration: messages, goals and types are scripted or approximate (hover shows the "
               "declaration's own text, `Eq' (Bool'.id Bool'.tt) Bool'.tt`, where Lean pretty-prints "
               "`Eq' Bool'.tt.id Bool'.tt`); prelude-only artifacts of real Lean (`internal exception #3`, "
               "`Unknown constant PProd.mk`) are not imitated, so diagnostics are compared by kind, not as a list",
    "refresh": "refresh requests only with --lean-refresh (Lean's ~0.5 s / ~2 s cadence); off by default",
    "progress": "after an edit, kind-1 fileProgress only when elaboration takes more than 100 ms (a fixed threshold)",
    "navigation": "symbols, definitions, highlights and semantic tokens know only the document's own "
                  "declarations and keywords (no constructors, locals or imported names)",
    "stderr": "stderr wording differs (Lean's PANIC backtraces are one line in the double)",
}
__doc__ += "\n".join(f"\n* **{k}**: {v}" for k, v in SIMPLIFICATIONS.items())

TEXT = """prelude
inductive Bool' where
  | tt | ff

inductive Eq' {α : Sort u} : α → α → Prop where
  | refl (a : α) : Eq' a a

def Bool'.id (b : Bool') : Bool' := b

theorem id_tt : Eq' (Bool'.id Bool'.tt) Bool'.tt := Eq'.refl Bool'.tt
theorem by_block : Eq' Bool'.tt Bool'.tt := by

#check fals
"""
LINES = TEXT.split("\n")
ID_TT = 9  # line of `theorem id_tt`
COMPLETE_AT = {"line": ID_TT, "character": LINES[ID_TT].index("refl Bool'.tt")}  # after `Eq'.`
CAPABILITIES = {"lean": {"silentDiagnosticSupport": True},
                "textDocument": {"completion": {"completionItem": {"insertReplaceSupport": True}}}}
TERMINATED = "The file worker for {uri} has been terminated."


def scenario(tmp_path: Path) -> Path:
    """What the double cannot compute: Lean's verdicts on this file."""
    return write_scenario(tmp_path / "prelude.json", base=None,
                          tactics=[{"goal": "*", "tactic": "exact Eq'.refl Bool'.tt", "result": []}],
                          diagnostics=[{"pattern": r"#check (fals)", "group": 1, "message": "Unknown identifier `fals`"}],
                          completion=[{"line": COMPLETE_AT["line"], "character": COMPLETE_AT["character"],
                                       "items": [{"label": "refl", "kind": 4}]}])


def shape(value: Any) -> Any:
    """Field names and JSON types, recursively (list elements as a set of shapes)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", sorted({json.dumps(shape(v), sort_keys=True) for v in value})]
    return "null" if value is None else type(value).__name__


def event(message: dict[str, Any]) -> str | None:
    """One protocol event of a document's life, without timing-free content."""
    method = message.get("method")
    if method == "$/lean/fileProgress":
        kinds = ",".join(str(p["kind"]) for p in message["params"]["processing"]) or "done"
        return f"progress v{message['params']['textDocument']['version']} {kinds}"
    if method == "textDocument/publishDiagnostics":
        return f"publish v{message['params'].get('version')} {'empty' if not message['params']['diagnostics'] else 'list'}"
    if method is None and "id" in message:
        return f"reply {message['id']}"
    return None


async def start(kind: str, tmp_path: Path, real_lean: Path, *extra: str) -> tuple[LspClient, str]:
    root = tmp_path / kind
    root.mkdir(exist_ok=True)
    argv = ([str(real_lean), "--server"] if kind == "real"
            else double_command("--elab-delay-ms", "20", "--lean-version", "4.35", *extra, scenario=scenario(tmp_path)))
    client = await LspClient.start(argv, cwd=root, answer=answer_null)
    await client.handshake(CAPABILITIES, timeout=30)
    return client, (root / "A.lean").as_uri()


async def observe_session(client: LspClient, uri: str) -> dict[str, Any]:
    """The scripted session; returns what is compared."""
    seen: dict[str, Any] = {}
    td = {"uri": uri}

    async def ask(method: str, params: Any, id_: Any = None) -> dict[str, Any]:
        return await client.request(method, params, timeout=30, id_=id_)

    def events_since(start: int) -> list[str]:
        return [e for e in map(event, client.messages[start:]) if e is not None]

    # per-version event order: open; an edit; two quick edits (the first superseded)
    mark = len(client.messages)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1,
                                                            "text": TEXT}})
    await ask("textDocument/waitForDiagnostics", {"uri": uri, "version": 1}, id_="open")
    seen["open"] = events_since(mark)
    final = client.notifications("textDocument/publishDiagnostics", uri)[-1]["diagnostics"]
    seen["diagnostics"] = diagnostic_kinds(final)
    # features
    seen["hover def"] = (await ask("textDocument/hover", {"textDocument": td, "position": {"line": 7, "character": 6}}))["result"]
    hover = (await ask("textDocument/hover", {"textDocument": td, "position": {"line": ID_TT, "character": 10}}))["result"]
    seen["hover theorem"] = (shape(hover), hover["contents"]["value"].startswith("```lean\nid_tt : "), hover["range"])
    completion = (await ask("textDocument/completion", {"textDocument": td, "position": COMPLETE_AT}))["result"]
    seen["completion"] = (shape(completion), completion["isIncomplete"],
                          [item["data"][:4] for item in completion["items"]],
                          [item["data"][4].startswith("c") for item in completion["items"]])
    seen["resolve foreign completion"] = (await ask("completionItem/resolve", {"label": "x", "data": {"foo": 1}}))["error"]
    seen["resolve foreign action"] = (await ask("codeAction/resolve", {"title": "x", "data": {"foo": 1}}))["error"]
    for method, position in (("definition", {"line": ID_TT, "character": 22}),
                             ("documentHighlight", {"line": 7, "character": 5})):
        seen[method] = (await ask(f"textDocument/{method}", {"textDocument": td, "position": position}))["result"]
    symbols = (await ask("textDocument/documentSymbol", {"textDocument": td}))["result"]
    seen["documentSymbol"] = symbols
    tokens = (await ask("textDocument/semanticTokens/full", {"textDocument": td}))["result"]
    seen["semanticTokens"] = (shape(tokens), len(tokens["data"]) % 5, tokens["data"][:5], len(tokens["data"]) > 10)
    # RPC
    connect = (await ask("$/lean/rpc/connect", {"uri": uri}))["result"]
    sid = connect["sessionId"]
    seen["rpc connect"] = shape(connect)
    base = {"textDocument": td, "position": {"line": 0, "character": 0}}
    numeric = (await ask("$/lean/rpc/call", {**base, "sessionId": int(sid), "method": "Lean.Widget.getWidgets",
                                             "params": {"line": 0, "character": 0}}))["error"]
    seen["rpc numeric session"] = (numeric["code"], numeric["message"].replace(sid, "<sid>"))
    seen["rpc unknown session"] = (await ask("$/lean/rpc/call", {**base, "sessionId": "123", "method": "Lean.Widget.getWidgets",
                                                                 "params": {"line": 0, "character": 0}}))["error"]
    for label, params in (("no pos", {"hash": "123"}), ("number", {"hash": 123}),
                          ("unknown", {"hash": "123", "pos": {"line": 0, "character": 0}})):
        seen[f"widget source {label}"] = (await ask("$/lean/rpc/call", {**base, "sessionId": sid, "params": params,
                                                                        "method": "Lean.Widget.getWidgetSource"}))["error"]
    seen["widgets"] = (await ask("$/lean/rpc/call", {**base, "sessionId": sid, "method": "Lean.Widget.getWidgets",
                                                     "params": {"line": 0, "character": 0}}))["result"]
    # edits
    mark = len(client.messages)
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": TEXT + "#check id_tt\n"}]})
    await ask("textDocument/waitForDiagnostics", {"uri": uri, "version": 2}, id_="edit")
    seen["edit"] = events_since(mark)
    mark = len(client.messages)
    for version, extra in ((3, "#check id_t\n"), (4, "#check Eq'\n")):
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                 "contentChanges": [{"text": TEXT + extra}]})
    await ask("textDocument/waitForDiagnostics", {"uri": uri, "version": 4}, id_="superseded")
    seen["superseded"] = events_since(mark)
    # a cancelled waitForDiagnostics is never answered, until shutdown closes the file
    client.send_request("textDocument/waitForDiagnostics", {"uri": uri, "version": 99}, id_="never")
    client.notify("$/cancelRequest", {"id": "never"})
    await client.drain()
    await asyncio.sleep(1.0)
    seen["cancelled wait answered early"] = any(m.get("id") == "never" for m in client.messages)
    mark = len(client.messages)
    assert await client.shutdown(30) == 0
    tail = [m for m in client.messages[mark:] if "id" in m and "method" not in m]
    seen["at shutdown"] = [(m["id"], m.get("error", {}).get("code"), m.get("error", {}).get("message", "").replace(uri, "<uri>"))
                           for m in tail]
    return seen


def diagnostic_kinds(diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
    """The diagnostics the double must get right, by kind: fields, tags, codes and ranges."""
    out: dict[str, Any] = {}
    for d in diagnostics:
        if d.get("code") == "lean.unknownIdentifier":
            out["unknown identifier"] = (sorted(d), d["severity"], d["range"], d["range"] == d["fullRange"])
        elif d.get("leanTags") == [1]:
            out["unsolved goals"] = (sorted(d), d["severity"], d["range"], d["fullRange"],
                                     d["message"].startswith("unsolved goals\n"))
        elif d.get("leanTags") == [2]:
            out.setdefault("goals accomplished", []).append((sorted(d), d["severity"], d["isSilent"], d["message"],
                                                             d["range"], d["fullRange"]))
    return out


async def test_double_behaves_like_real_lean(real_lean: Path, tmp_path: Path) -> None:
    """Message shapes and protocol behaviour of one session, real Lean vs the double."""
    observed = {}
    for kind in ("real", "double"):
        client, uri = await start(kind, tmp_path, real_lean)
        try:
            observed[kind] = json.loads(json.dumps(await observe_session(client, uri)).replace(uri, "<uri>"))
        finally:
            await client.kill()
    real, double = observed["real"], observed["double"]
    assert real["open"] == ["progress v1 1", "publish v1 empty", "progress v1 done", "progress v1 done",
                            "publish v1 list", "reply open"]  # what the double must imitate, spelled out
    assert real["cancelled wait answered early"] is False
    differing = {key: {"real": real[key], "double": double.get(key)} for key in real if real[key] != double.get(key)}
    assert not differing, json.dumps(differing, indent=1, ensure_ascii=False)


async def refresh_requests(client: LspClient, uri: str) -> list[dict[str, Any]]:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1, "text": TEXT}})
    await client.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 1}, timeout=30)
    await asyncio.sleep(2.6)
    found = [m for m in client.messages if str(m.get("method", "")).endswith("/refresh")]
    assert await client.shutdown(30) == 0
    return found


async def test_refresh_cadence_with_lean_refresh(real_lean: Path, tmp_path: Path) -> None:
    """With ``--lean-refresh`` the double sends Lean's refresh requests: integer ids from 0, no
    params, ``inlayHint`` about every 0.5 s and ``semanticTokens`` about every 2 s."""
    for kind in ("real", "double"):
        client, uri = await start(kind, tmp_path, real_lean, "--lean-refresh")
        try:
            found = await refresh_requests(client, uri)
        finally:
            await client.kill()
        methods = [m["method"] for m in found]
        assert [m["id"] for m in found] == list(range(len(found))), kind
        assert all("params" not in m for m in found), kind
        assert set(methods) <= {"workspace/inlayHint/refresh", "workspace/semanticTokens/refresh"}, kind
        assert methods.count("workspace/inlayHint/refresh") >= 3, (kind, methods)
        assert 1 <= methods.count("workspace/semanticTokens/refresh") <= 2, (kind, methods)
