"""Writing proofs back (UTF-16 edits, atomic writes, concurrent modification) and the resume cache."""
from __future__ import annotations

import os

import pytest

from copilot.fill_sorries.report import RunConfig, SorryResult
from copilot.fill_sorries.resume import ResumeCache, result_key
from copilot.fill_sorries.writer import (
    ConcurrentModification,
    Replacement,
    apply_replacements,
    atomic_write,
    read_snapshot,
    unified_diff,
)


def test_replacements_use_utf16_columns_and_apply_in_any_order():
    """Columns count UTF-16 units (𝔽 is two), and several replacements land where they should."""
    text = "theorem t (x : 𝔽) : x = x := sorry\nexample : 1 = 1 := by\n  sorry\n"
    col = text.splitlines()[0].encode("utf-16-le").__len__() // 2 - len("sorry")
    new = apply_replacements(text, [Replacement(2, 2, 5, "rfl"), Replacement(0, col, 5, "rfl")])
    assert new == "theorem t (x : 𝔽) : x = x := rfl\nexample : 1 = 1 := by\n  rfl\n"


def test_overlapping_replacements_are_refused():
    """Two replacements of the same span are an error, not a silent corruption."""
    with pytest.raises(ValueError):
        apply_replacements("sorry\n", [Replacement(0, 0, 5, "a"), Replacement(0, 2, 1, "b")])


def test_atomic_write_replaces_file_and_keeps_mode(tmp_path):
    """atomic_write replaces the content, keeps permissions, and leaves no temp file behind."""
    path = tmp_path / "A.lean"
    path.write_text("example : True := sorry\n")
    os.chmod(path, 0o640)
    snap = read_snapshot(path)
    atomic_write(snap, "example : True := trivial\n")
    assert path.read_text() == "example : True := trivial\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["A.lean"]


def test_file_changed_since_read_is_refused_and_untouched(tmp_path):
    """If the user saved the file after we read it, nothing is written and their text survives."""
    path = tmp_path / "A.lean"
    path.write_text("example : True := sorry\n")
    snap = read_snapshot(path)
    path.write_text("example : True := by trivial -- user edit\n")
    with pytest.raises(ConcurrentModification, match="changed since it was read"):
        atomic_write(snap, "example : True := trivial\n")
    assert path.read_text() == "example : True := by trivial -- user edit\n"
    assert [p.name for p in tmp_path.iterdir()] == ["A.lean"]


def test_unified_diff_shows_the_change():
    """The diff names the file and shows the sorry replaced."""
    diff = unified_diff("A.lean", "x := sorry\n", "x := rfl\n")
    assert diff.startswith("--- a/A.lean\n+++ b/A.lean\n")
    assert "-x := sorry\n+x := rfl\n" in diff


def test_resume_cache_persists_decisions_and_ignores_corrupt_lines(tmp_path):
    """Decisions survive a reload, errors are not cached, corrupt lines are skipped, keys depend on config."""
    config = RunConfig(budget_seconds=10, max_expansions=8)
    key = result_key("abc", "foo", "⊢ True", 0, config)
    assert key != result_key("abc", "foo", "⊢ True", 0, RunConfig(budget_seconds=20, max_expansions=8))
    assert key == result_key("abc", "foo", "⊢ True", 0, RunConfig(budget_seconds=10, max_expansions=8, jobs=4))
    cache = ResumeCache(tmp_path / "c.jsonl")
    cache.put(key, SorryResult(file="A.lean", line=1, column=1, status="filled", proof="trivial"))
    cache.put("other", SorryResult(file="A.lean", line=2, column=1, status="error", message="Lean crashed"))
    with open(tmp_path / "c.jsonl", "ab") as handle:
        handle.write(b"{not json\n")
    reloaded = ResumeCache(tmp_path / "c.jsonl")
    assert len(reloaded) == 1
    hit = reloaded.get(key)
    assert hit is not None and hit.proof == "trivial" and hit.cached
    assert reloaded.get("other") is None
