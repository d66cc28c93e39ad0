"""The infoview widget: our instance appended to `Lean.Widget.getWidgets` replies, our module
served for our hash (never asked of Lean), other hashes forwarded; the module is valid ES syntax."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from copilot.features import widget
from tests.features.session import Session

SORRY_FILE = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"


def test_widget_module_is_valid_javascript(tmp_path):
    """`node --check` accepts an ESM copy of widget.js; it imports react and the infoview
    package and has a default export; the hash is stable and fits a JavaScript number."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    source = widget.source_text()
    assert "from 'react'" in source and "from '@leanprover/infoview'" in source
    assert "export default function" in source and "applyEdit" in source
    copy = tmp_path / "widget.mjs"
    copy.write_text(source, encoding="utf-8")
    checked = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "broken.mjs"
    broken.write_text(source.replace("export default function", "export default functio"), encoding="utf-8")
    assert subprocess.run([node, "--check", str(broken)], capture_output=True, timeout=60).returncode != 0
    assert widget.widget_hash() == widget.widget_hash() < 2**53


async def test_widget_rpc_plumbing_through_the_proxy(tmp_path, scenario):
    """Once suggestions at the cursor are checked, getWidgets carries our instance (props: the
    suggestions, range, uri, version); getWidgetSource for our hash returns widget.js from the
    proxy and the double never sees that call; an unknown hash still goes to the double."""
    session = await Session.start(tmp_path, scenario=scenario, capabilities={})
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.request("$/leanCompanion/suggest", {"textDocument": {"uri": uri},
                                                          "position": {"line": 1, "character": 2}})
        connect = await session.request("$/lean/rpc/connect", {"uri": uri})
        session_id = connect["result"]["sessionId"]
        position = {"line": 1, "character": 3}

        def call(method, params):
            return session.request("$/lean/rpc/call", {"textDocument": {"uri": uri}, "position": position,
                                                       "sessionId": session_id, "method": method, "params": params})

        widgets = (await call("Lean.Widget.getWidgets", position))["result"]["widgets"]
        (ours,) = [w for w in widgets if w["id"] == "leanCompanion.suggestions"]
        assert ours["javascriptHash"] == widget.widget_hash()
        props = ours["props"]
        assert props["uri"] == uri and props["version"] == 1
        assert props["range"] == {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 7}}
        assert props["suggestions"] and all(s["verdict"] in ("closes", "progress") for s in props["suggestions"])

        source = (await call("Lean.Widget.getWidgetSource", {"pos": position, "hash": str(widget.widget_hash())}))
        assert source["result"] == {"sourcetext": widget.source_text()}
        other = await call("Lean.Widget.getWidgetSource", {"pos": position, "hash": "12345"})
        assert other["error"]["code"] == -32602  # the double's answer for a hash it does not know
        calls = [e["params"].get("method") for e in session.double_log()
                 if e.get("dir") == "recv" and e.get("method") == "$/lean/rpc/call"]
        assert calls.count("Lean.Widget.getWidgetSource") == 1
    finally:
        await session.close()
