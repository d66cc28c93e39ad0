"""Unit tests of the diagnostics merge (copilot/features/diagnostics.py): publish only when the
companion's diagnostics change the editor's list; incremental publishes (Lean ≥ 4.31)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from copilot.features.diagnostics import MergedDiagnostics

URI = "file:///p/A.lean"


def diag(message: str, source: str = "Lean 4") -> dict[str, Any]:
    return {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
            "severity": 3, "message": message, "source": source}


class Router:
    def __init__(self) -> None:
        self.documents: dict[str, Any] = {URI: SimpleNamespace(version=1)}
        self.sent: list[dict[str, Any]] = []

    async def notify_editor(self, method: str, params: Any) -> None:
        assert method == "textDocument/publishDiagnostics"
        self.sent.append(params)


def merged() -> tuple[MergedDiagnostics, Router]:
    router = Router()
    return MergedDiagnostics(SimpleNamespace(router=router)), router  # type: ignore[arg-type]


def publish(version: int, diagnostics: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"uri": URI, "version": version, "diagnostics": diagnostics, **extra}


async def test_no_republication_when_ours_change_nothing() -> None:
    """An empty or unchanged result after Lean's final publish sends nothing (it used to re-send
    Lean's identical list ~300 ms after every final publish); a real change is sent once."""
    merge, router = merged()
    lean = [diag("unknown identifier 'fals'")]
    assert merge.transform(publish(1, lean)) is None
    await merge.set(URI, 1, [])
    assert router.sent == []
    ours = [diag("Try this: rfl", "lean-companion")]
    await merge.set(URI, 1, ours)
    assert router.sent == [publish(1, lean + ours)]
    await merge.set(URI, 1, list(ours))
    assert len(router.sent) == 1
    # Lean publishes the version again: ours ride along; then ours go away: one publish without them
    assert merge.transform(publish(1, lean)) == publish(1, lean + ours)
    await merge.set(URI, 1, [])
    assert router.sent[-1] == publish(1, lean) and len(router.sent) == 2


async def test_ours_before_leans_publish_ride_along_without_a_publish_of_their_own() -> None:
    merge, router = merged()
    ours = [diag("Try this: rfl", "lean-companion")]
    await merge.set(URI, 1, ours)
    assert router.sent == []
    assert merge.transform(publish(1, [])) == publish(1, ours)


async def test_incremental_publishes_keep_leans_whole_list() -> None:
    """With ``isIncremental`` (appends), ours are not appended twice, and a re-send carries Lean's
    whole list (every increment) as a full replacement."""
    merge, router = merged()
    a, b = diag("a"), diag("b")
    ours, other = [diag("Try this: rfl", "lean-companion")], [diag("Try this: trivial", "lean-companion")]
    assert merge.transform(publish(1, [a], isIncremental=False)) is None
    await merge.set(URI, 1, ours)
    assert router.sent == [publish(1, [a] + ours, isIncremental=False)]
    assert merge.transform(publish(1, [b], isIncremental=True)) is None  # editor: a, ours, b
    await merge.set(URI, 1, list(ours))
    assert len(router.sent) == 1
    await merge.set(URI, 1, other)
    assert router.sent[-1] == publish(1, [a, b] + other, isIncremental=False)


async def test_a_newer_version_drops_ours() -> None:
    merge, router = merged()
    ours = [diag("Try this: rfl", "lean-companion")]
    merge.transform(publish(1, []))
    await merge.set(URI, 1, ours)
    router.documents[URI].version = 2
    assert merge.transform(publish(2, [])) is None
    assert merge.ours == {}


# -- end to end: Lean's own suggestions on a sorry (autoTry.onSorry) are not repeated ---------------

TWO_SORRIES = ("theorem offered (m : Nat) : m + 0 = m := by\n  sorry\n\n"
               "theorem plain (n : Nat) : n + 0 = n := by\n  sorry\n")


async def test_leans_own_suggestion_on_a_sorry_is_not_repeated(tmp_path) -> None:
    """Where Lean already offers a tactic for a ``sorry`` (here: the double scripted like
    ``autoTry.onSorry``, a "Try this" quickfix on the first ``sorry``), the companion's diagnostic
    does not repeat it; on the second ``sorry``, where Lean offers nothing, it is shown."""
    from tests.features.session import Session
    from tests.lean_double import write_scenario

    scenario = write_scenario(tmp_path / "autotry.json", tactics=[
        {"goal": "⊢ m + 0 = m", "tactic": "sorry", "result": {"goals": [], "info": "Try this: simp"}},
        {"goal": "⊢ m + 0 = m", "tactic": "simp", "result": []},
    ])
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        uri = session.open("A.lean", TWO_SORRIES)
        publish = await session.wait_for(lambda m: m["method"] == "textDocument/publishDiagnostics" and any(
            d.get("source") == "lean-companion" for d in m["params"]["diagnostics"]), timeout=60)
        ours = [d for d in publish["params"]["diagnostics"] if d.get("source") == "lean-companion"]
        assert [d["range"]["start"]["line"] for d in ours] == [4], ours  # only the `plain` theorem's sorry
        lean = (await session.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 2},
                                                    "end": {"line": 1, "character": 7}},
            "context": {"diagnostics": []}}))["result"]
        assert any(a["title"].startswith("Try this:") for a in lean)  # Lean's own offer is still there
    finally:
        await session.close()
