"""Conformance of the double's replies with Lean's recorded answers (lean-server-transcripts).

Each transcript is replayed: its `source` is opened (split at `-- RESET`), edits are applied, and
every recorded request is sent with its recorded params. The double is scripted from the
transcript (legitimately: goal lists, hover texts, completion items, the Try-this suggestion, the
messages of diagnostics) but computes the reply itself: the fenced rendering and `---` joins,
`null` vs `"no goals"`, identifier ranges for hover, the code action's edit range and version,
and diagnostic ranges, `fullRange`, `source`, `severity` and `version`. Replies are compared
exactly where the double computes everything, and by structure (field names and JSON types) always.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_DATA, shared_data
from tests.double.driver import Driver
from tests.lean_double.documents import apply_change
from tests.lean_double.goals import strip_tags

TRANSCRIPTS = SHARED_DATA / "lean-server-transcripts"
NAMES = sorted(p.name for p in TRANSCRIPTS.glob("*.json") if p.name != "index.json") if TRANSCRIPTS.is_dir() else []
CAPABILITIES = {"textDocument": {"completion": {"completionItem": {"insertReplaceSupport": True}}},
                "lean": {"silentDiagnosticSupport": True}}


def shape(value: Any) -> Any:
    """Field names and JSON types, recursively (list elements as a set of shapes)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", sorted({json.dumps(shape(v), sort_keys=True) for v in value})]
    if value is None:
        return "null"
    return type(value).__name__


def render_interactive(goal: dict) -> str:
    """A goal's plain text from its InteractiveGoal JSON (what Lean's stripTags does)."""
    lines = [f"case {goal['userName']}"] if "userName" in goal else []
    lines += [" ".join(h["names"]) + " : " + strip_tags(h["type"]) for h in goal["hyps"]]
    return "\n".join(lines + [goal["goalPrefix"] + strip_tags(goal["type"])])


def segments(source: str) -> list[str]:
    """The documents the runner opens: the source split at `-- RESET` lines."""
    parts, current = [], []
    for line in source.split("\n"):
        if line.strip() == "-- RESET":
            parts.append("\n".join(current) + "\n")
            current = []
        else:
            current.append(line)
    parts.append("\n".join(current))
    return parts


def _position(ex: dict) -> tuple[int, int]:
    p = ex["params"]["position"] if "position" in ex["params"] else ex["params"]["range"]["start"]
    return p["line"], p["character"]


def _text_at(text: str, rng: dict) -> tuple[str, str]:
    """(text before the range on its line, the text inside the range) for a one-line range."""
    line = text.split("\n")[rng["start"]["line"]]
    return line[:rng["start"]["character"]], line[rng["start"]["character"]:rng["end"]["character"]]


def scenario_for(record: dict) -> dict:
    """A scenario scripting the double from one transcript."""
    sc: dict[str, Any] = {"positions": [], "hover": {}, "completion": [], "diagnostics": [], "tactics": []}
    text = segments(record["source"])[0]
    for ex in record["exchanges"]:
        method, params, result = ex["method"], ex["params"], ex.get("result")
        if method == "textDocument/didChange":
            for change in params["contentChanges"]:
                text = apply_change(text, change)
        elif method == "$/lean/plainGoal":
            line, ch = _position(ex)
            sc["positions"].append({"line": line, "character": ch, "goals": None if result is None else result["goals"]})
        elif method == "$/lean/plainTermGoal":
            line, ch = _position(ex)
            sc["positions"].append({"line": line, "character": ch, "term_goal": result})
        elif method == "textDocument/completion":
            line, ch = _position(ex)
            # items that Lean's version sent without `data` stay without (the double adds it otherwise)
            items = [item if "data" in item else {**item, "data": None} for item in result["items"]]
            sc["completion"].append({"line": line, "character": ch, "items": items,
                                     "isIncomplete": result["isIncomplete"]})
        elif method == "textDocument/hover" and result is not None:
            _, ident = _text_at(text, result["range"])
            sc["hover"][ident] = result["contents"]["value"]
        elif method == "textDocument/codeAction":
            for action in result:
                line = text.split("\n")[action["edit"]["documentChanges"][0]["edits"][0]["range"]["start"]["line"]]
                sc["tactics"].append({"goal": "*", "tactic": line.strip(),
                                      "result": {"goals": [], "info": action["title"]}})
        elif method == "textDocument/publishDiagnostics":
            for diag in params["diagnostics"]:
                before, word = _text_at(text, diag["fullRange"])
                entry = {"pattern": "^" + re.escape(before) + "(" + re.escape(word) + ")", "group": 1,
                         "severity": diag["severity"], "message": diag["message"]}
                for key in ("code", "tags", "leanTags"):
                    if key in diag:
                        entry[key] = diag[key]
                entry.setdefault("code", None)  # that Lean version gave no code (the double adds one otherwise)
                if entry not in sc["diagnostics"]:
                    sc["diagnostics"].append(entry)
    # Every other tactic and term proof in the source succeeds, so the only diagnostics are the
    # recorded ones (the transcripts' proofs are real Lean proofs).
    for line in record["source"].split("\n"):
        m = re.search(r":= *(\S.*)$", line)
        if m and not m.group(1).startswith("by"):
            sc["tactics"].append({"goal": "*", "tactic": "exact " + m.group(1), "result": []})
        elif line.startswith("  ") and not line.strip().startswith("--"):
            sc["tactics"].append({"goal": "*", "tactic": line.strip(), "result": []})
    return sc


@pytest.mark.parametrize("name", NAMES or [pytest.param(None, marks=pytest.mark.skip(reason="no transcripts"))])
async def test_transcript_replies_match_lean(name: str, tmp_path: Path):
    """Replay one transcript; the double's answers match Lean's recorded ones in shape and value."""
    record = json.loads(shared_data("lean-server-transcripts", name).read_text())
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(scenario_for(record), ensure_ascii=False))
    # the recorded outputs carry no silent "Goals accomplished!" diagnostics (older Lean versions)
    d = await Driver.start("--elab-delay-ms", "5", "--no-goals-accomplished", scenario=scenario)
    try:
        await d.initialize(CAPABILITIES)
        uri = record["uri"]
        texts = segments(record["source"])
        segment, version = 0, 1
        await d.open(uri, texts[0])
        compared = 0
        for ex in record["exchanges"]:
            seg = ex.get("directive", {}).get("segment", segment)
            if seg != segment:
                await d.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
                segment, version = seg, 1
                await d.open(uri, texts[seg])
            method, params = ex["method"], ex["params"]
            if method == "textDocument/didChange":
                version = params["textDocument"]["version"]
                await d.change(uri, version, params["contentChanges"])
                continue
            if method == "textDocument/publishDiagnostics":
                ours = await d.diagnostics(uri, params["version"])
                published = [p for p in d.notifications("textDocument/publishDiagnostics", uri)
                             if p["version"] == params["version"]][-1]
                assert shape(published) == shape(params)
                assert published == params, (ours, params["diagnostics"])
                compared += 1
                continue
            reply = await d.request(method, params)
            assert "result" in reply, reply
            ours, recorded = reply["result"], ex["result"]
            assert shape(ours) == shape(recorded), (method, params)
            assert ours == recorded, (method, params)
            compared += 1
            if method == "$/lean/plainGoal":
                # The infoview's RPC goals strip to the same texts (lean-lsp-protocol.md §3.6).
                session = (await d.request("$/lean/rpc/connect", {"uri": uri}))["result"]["sessionId"]
                call = {"textDocument": params["textDocument"], "position": params["position"], "sessionId": session,
                        "method": "Lean.Widget.getInteractiveGoals", "params": params}
                interactive = (await d.request("$/lean/rpc/call", call))["result"]
                if recorded is None:
                    assert interactive is None
                else:
                    assert [render_interactive(g) for g in interactive["goals"]] == recorded["goals"]
        assert compared == len([e for e in record["exchanges"] if e["method"] != "textDocument/didChange"])
        assert await d.shutdown() == 0
    finally:
        await d.kill()


async def test_6594_goals_follow_from_the_tactic_table_alone(tmp_path: Path):
    """Without a positions table, the elaborator itself yields Lean's goals for the 6594 test
    (comment lines after `·` bullets show the outer goal; case tags nest as `a.right`)."""
    record = json.loads(shared_data("lean-server-transcripts", "6594.json").read_text())
    scenario = tmp_path / "sc.json"
    scenario.write_text(json.dumps({"tactics": [
        {"goal": "⊢ True ∧ True", "tactic": "constructor", "result": ["case left\n⊢ True", "case right\n⊢ True"]},
        {"goal": "⊢ True ∧ True", "tactic": "apply id", "result": ["case a\n⊢ True ∧ True"]},
        {"goal": "⊢ True", "tactic": "apply id", "result": ["⊢ True"]},
        {"goal": "⊢ True", "tactic": "trivial", "result": []},
    ]}, ensure_ascii=False))
    d = await Driver.start("--elab-delay-ms", "5", "--no-goals-accomplished", scenario=scenario)
    try:
        await d.initialize(CAPABILITIES)
        await d.open(record["uri"], record["source"])
        for ex in record["exchanges"]:
            reply = await d.request(ex["method"], ex["params"])
            assert reply["result"] == ex["result"], ex["params"]["position"]
        diags = await d.diagnostics(record["uri"], 1)
        # The third example really leaves `case right` open, as Lean would report.
        assert [x["message"] for x in diags] == ["unsolved goals\ncase right\n⊢ True"]
        assert diags[0]["leanTags"] == [1]
        assert await d.shutdown() == 0
    finally:
        await d.kill()
