"""The editor's premise suggestions (copilot/features/premises.py) over a real index."""
from __future__ import annotations

import asyncio
from pathlib import Path

from copilot.features.premises import PremiseService
from copilot.premises import PremiseIndex


def _service(tmp_path: Path, text: str) -> tuple[PremiseService, Path]:
    root = tmp_path / "p"
    (root / "P").mkdir(parents=True)
    (root / "lakefile.toml").write_text('name = "p"\n')
    f = root / "P" / "A.lean"
    f.write_text(text)
    svc = PremiseService()
    svc.index = PremiseIndex.open(root, cache_root=tmp_path / "c", include_toolchain=False)
    svc.state = "ready"
    return svc, f


TEXT = """theorem twist_comm (a b : Nat) : twist a b = twist b a := sorry
theorem twist_self (a : Nat) : twist a a = a := sorry
theorem goal_here (x y : Nat) : twist x y = twist y x := by
  sorry
"""


def test_editor_lines_are_zero_based_and_the_lemma_right_above_is_visible(tmp_path: Path):
    """The editor's 0-based line of `goal_here` (2) sees both lemmas above it, not itself."""
    svc, f = _service(tmp_path, TEXT)
    goal = "x y : Nat\n⊢ twist x y = twist y x"
    names = [h.name for h in asyncio.run(svc.search_goal(goal, 5, file=f, line=2))]
    assert names[0] == "twist_comm"  # an exact statement match
    assert "twist_self" in names and "goal_here" not in names
    # at the first line nothing of the file is above the cursor
    assert asyncio.run(svc.search_goal(goal, 5, file=f, line=0)) == []


def test_statements_and_text_are_queries_too(tmp_path: Path):
    """fill-sorries passes the declaration's statement: it is searched as a statement (its name counts)."""
    svc, f = _service(tmp_path, TEXT)
    stmt = "theorem goal_here (x y : Nat) : twist x y = twist y x"
    assert [h.name for h in asyncio.run(svc.search(stmt, 2, file=f, line=2))][0] == "twist_comm"
    assert [h.name for h in asyncio.run(svc.search("twist self", 1))] == ["twist_self"]
    assert asyncio.run(svc.search("   ", 3)) == []
