"""The mini-elaborator and the server survive arbitrary text, positions and malformed params."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.double.driver import Driver
from tests.lean_double import BASIC_SCENARIO
from tests.lean_double.documents import apply_change
from tests.lean_double.elaborator import elaborate
from tests.lean_double.scenario import load_scenario

SCENARIO = load_scenario(BASIC_SCENARIO)
FRAGMENTS = ["theorem", "lemma", "example", "def", "t", " ", "  ", "\n", "\n  ", ":=", "by", "sorry", "·", ".",
             "(n : Nat)", ": n + 0 = n", "simp", "intro h", ";", "<;>", "(", ")", "⟨", "⟩", "[", "]", "--", "/-",
             "-/", '"', "@[simp]", "import Foo", "𝔽", "\r\n", "exact?", "constructor", "case zero =>", "|", "⊢"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.integers(0, 12), st.integers(0, 40))
def test_elaborator_never_raises(parts, line, col):
    """Any mix of Lean-ish fragments elaborates, and goal queries at any position answer."""
    text = "".join(parts).replace("\r\n", "\n")
    elab = elaborate(text, SCENARIO)
    for diag in elab.diagnostics():
        out = diag.to_lsp(elab.index)
        assert out["source"] == "Lean 4" and out["severity"] in (1, 2, 3)
    result = elab.goals_at(line, col)
    assert result is None or all(isinstance(g, str) for g in result)
    elab.term_goal_at(line, col)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.integers(0, 5), st.integers(0, 40), st.integers(0, 5), st.integers(0, 40), st.text(max_size=5))
def test_ranged_edits_never_raise_and_keep_text_outside_the_range(text, l1, c1, l2, c2, new):
    """Ranged edits with arbitrary (even inverted or out-of-range) positions apply without error."""
    text = text.replace("\r\n", "\n")
    out = apply_change(text, {"range": {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}},
                              "text": new})
    assert new.replace("\r\n", "\n") in out


async def test_malformed_notification_params_are_ignored_and_the_session_survives():
    """A didOpen without a textDocument is reported on stderr; the server keeps serving."""
    d = await Driver.start("--elab-delay-ms", "5", scenario=BASIC_SCENARIO)
    await d.initialize()
    await d.notify("textDocument/didOpen", {"nope": 1})
    await d.notify("textDocument/didChange", {"textDocument": {"uri": 5}, "contentChanges": [{"text": 3}]})
    reply = await d.request("$/lean/plainGoal", {"position": {"line": 0, "character": 0}})
    assert reply["error"]["code"] == -32602  # Lean: "Cannot parse request params: …"
    await d.open("file:///x.lean", "theorem t (n : Nat) : n + 0 = n := by\n  simp\n")
    assert await d.diagnostics("file:///x.lean", 1) == []
    assert await d.shutdown() == 0
    assert "Cannot parse notification params" in await d.stderr_text()
