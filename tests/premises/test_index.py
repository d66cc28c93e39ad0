"""PremiseIndex: search, accessibility, prefix completion, storage, corruption, incremental updates."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from copilot.premises import PremiseHit, PremiseIndex, store

from .helpers import copy_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def open_index(project: Path, cache: Path, **kw) -> PremiseIndex:
    return PremiseIndex.open(project, cache_root=cache, include_toolchain=False, **kw)


def names(hits: list[PremiseHit]) -> list[str]:
    return [h.name for h in hits]


def test_search_finds_matching_lemma(project, cache):
    """A goal about gcd ranks the gcd lemma first; hits carry the declaration's fields."""
    idx = open_index(project, cache)
    hits = idx.search("n : Nat\n⊢ Nat.gcd n n = n", k=5)
    assert hits[0].name == "Helper.gcd_self'"
    assert hits[0].module == "Helper.Core" and hits[0].kind == "theorem" and hits[0].line == 6
    assert hits[0].score > hits[1].score
    goal_hits = idx.search_goal("Nat.gcd n n = n", k=3)
    assert goal_hits[0].name == "Helper.gcd_self'"
    assert idx.search("zzz_no_such_token", k=5) == []


def test_accessibility_filter(project, cache):
    """With a file: only imported modules (transitively) and the file's own lines above the cursor."""
    idx = open_index(project, cache)
    later = project / "Demo" / "Later.lean"
    hits = names(idx.search("add comm double", k=50, file=later, line=5))
    assert "Helper.add_comm'" in hits  # Later -> Demo.Basic -> Helper.Core
    assert "Demo.double_eq_add" in hits
    assert "unrelated_fact" not in names(idx.search("unrelated fact", k=50, file=later, line=5))
    assert "Demo.double_two" not in hits  # same file, below line 5
    assert "Demo.double_two" in names(idx.search("double two", k=50, file=later, line=6))
    basic = project / "Demo" / "Basic.lean"
    above = names(idx.search("double", k=50, file=basic, line=23))
    assert "Demo.double" in above and "Demo.double_zero" not in above
    unrestricted = names(idx.search("unrelated fact", k=5))
    assert unrestricted[0] == "unrelated_fact"


def test_prefix_search(project, cache):
    """Name-prefix completion matches full names first, then last components."""
    idx = open_index(project, cache)
    assert names(idx.search_prefix("Demo.double", 10)) == [
        "Demo.double", "Demo.double_two", "Demo.double_zero", "Demo.double_eq_add",
    ]
    assert names(idx.search_prefix("gcd_", 10)) == ["Helper.gcd_self'"]
    assert idx.search_prefix("Nope.", 10) == []


def test_storage_round_trip(project, cache):
    """A second open loads the stored index (no rebuild) and answers identically."""
    first = open_index(project, cache)
    assert first.rebuilt_reason == "no index yet"
    folder = first.folder
    assert folder.parent == cache and folder.name.startswith("proj-")
    assert (folder / "manifest.json").exists() and (folder / "lex_data.npy").exists()
    second = open_index(project, cache)
    assert second.rebuilt_reason is None
    q = "a ≤ b + 1"
    assert [(h.name, round(h.score, 4)) for h in first.search(q)] == [(h.name, round(h.score, 4)) for h in second.search(q)]
    assert first.stats()["declarations"] == second.stats()["declarations"] > 30
    assert isinstance(second._lexical.base.data, np.memmap)


@pytest.mark.parametrize("damage", ["garbage-manifest", "truncated-array", "missing-decls", "old-version", "garbage-delta"])
def test_corrupt_index_is_rebuilt(project, cache, damage):
    """Any damaged piece of the stored index is detected and the index rebuilt, never raised."""
    folder = open_index(project, cache).folder
    if damage == "garbage-manifest":
        (folder / "manifest.json").write_bytes(b"\x00not json")
    elif damage == "truncated-array":
        data = (folder / "lex_indices.npy").read_bytes()
        (folder / "lex_indices.npy").write_bytes(data[: len(data) // 2])
    elif damage == "missing-decls":
        (folder / "decls.msgpack").unlink()
    elif damage == "old-version":
        text = (folder / "manifest.json").read_text()
        (folder / "manifest.json").write_text(text.replace(f'"format_version":{store.FORMAT_VERSION}', '"format_version":0'))
    elif damage == "garbage-delta":
        (folder / "delta.msgpack").write_bytes(b"\xc1\xc1")
    idx = open_index(project, cache)
    assert idx.rebuilt_reason is not None and idx.rebuilt_reason != "no index yet"
    assert idx.search("gcd", k=1)[0].name == "Helper.gcd_self'"
    assert open_index(project, cache).rebuilt_reason is None  # the rebuild was written


def test_skipped_files_counted(project, cache):
    """Undecodable files are skipped with a warning and counted in stats."""
    s = open_index(project, cache).stats()
    assert s["skipped_files"] == 1
    assert any(p.endswith("Broken.lean") and "UTF-8" in why for p, why in s["skipped"].items())


def test_update_remove_and_persisted_delta(project, cache):
    """update_file replaces a file's declarations; remove_file drops them; both survive reopening."""
    idx = open_index(project, cache)
    f = project / "Demo" / "Later.lean"
    f.write_text("import Demo.Basic\nnamespace Demo\ntheorem quadruple_spec : double (double 1) = 4 := rfl\nend Demo\n")
    assert idx.update_file(f) == 1
    assert idx.search("quadruple spec", k=1)[0].name == "Demo.quadruple_spec"
    assert [h.name for h in idx.search_prefix("Demo.quad", 5)] == ["Demo.quadruple_spec"]
    assert idx.search_prefix("Demo.double_t", 5) == []
    assert "Demo.double_two" not in names(idx.search("double two", k=50))
    reopened = open_index(project, cache)
    assert reopened.rebuilt_reason is None
    assert reopened.search("quadruple spec", k=1)[0].name == "Demo.quadruple_spec"
    reopened.remove_file(f)
    assert "Demo.quadruple_spec" not in names(reopened.search("quadruple spec", k=50))
    f.unlink()
    again = open_index(project, cache)
    assert "Demo.quadruple_spec" not in names(again.search("quadruple spec", k=50))


def test_edit_that_breaks_lexing_keeps_declarations(project, cache):
    """A file saved mid-edit with an unterminated comment keeps its old declarations and counts as skipped."""
    idx = open_index(project, cache)
    f = project / "Demo" / "Later.lean"
    f.write_text(f.read_text() + "\n/- unfinished comment\n")
    idx.update_file(f)
    assert "Demo.double_two" in names(idx.search("double two", k=5))
    assert any(p.endswith("Later.lean") for p in idx.stats()["skipped"])


def test_changes_while_closed_are_picked_up(project, cache):
    """Files added, edited or deleted while no index was open are brought up to date on open."""
    open_index(project, cache)
    (project / "Demo" / "New.lean").write_text("theorem brand_new_fact : True := trivial\n")
    (project / "Demo" / "Unrelated.lean").unlink()
    idx = open_index(project, cache)
    assert idx.rebuilt_reason is None
    assert idx.search("brand new fact", k=1)[0].name == "brand_new_fact"
    assert "unrelated_fact" not in names(idx.search("unrelated fact", k=50))


def wait_for(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_watchdog_save_delete_rename(project, cache):
    """With watching on: a saved file's new lemma becomes searchable, a deleted one goes, a rename moves."""
    idx = open_index(project, cache)
    idx.start_watching(debounce=0.05)
    try:
        new = project / "Demo" / "Fresh.lean"
        new.write_text("theorem watched_lemma_one : True := trivial\n")
        assert wait_for(lambda: names(idx.search("watched lemma one", k=1)) == ["watched_lemma_one"])
        new.write_text("theorem watched_lemma_two : True := trivial\n")
        assert wait_for(lambda: names(idx.search("watched lemma two", k=1)) == ["watched_lemma_two"])
        assert wait_for(lambda: "watched_lemma_one" not in names(idx.search("watched lemma one", k=10)))
        moved = project / "Demo" / "Moved.lean"
        new.rename(moved)
        assert wait_for(lambda: [h.file for h in idx.search("watched lemma two", k=1)] == ["Demo/Moved.lean"])
        moved.unlink()
        assert wait_for(lambda: "watched_lemma_two" not in names(idx.search("watched lemma two", k=50)))
        top = project / "TopLevel.lean"  # a file directly in the project root
        top.write_text("theorem root_level_fact : True := trivial\n")
        assert wait_for(lambda: names(idx.search("root level fact", k=1)) == ["root_level_fact"])
        assert idx.search_prefix("watched", 5) == []
    finally:
        idx.stop_watching()


def test_default_cache_location(monkeypatch, project):
    """Without an override the index lives under the platformdirs user cache, keyed by project path."""
    import platformdirs

    monkeypatch.delenv("LEAN_COMPANION_CACHE", raising=False)
    folder = store.index_dir(project)
    assert folder.parent == Path(platformdirs.user_cache_dir("lean-companion")) / "premises"
    assert store.index_dir(project) == folder != store.index_dir(project / "Demo")


def test_open_without_build(project, cache):
    """build=False on a project with no index gives an empty, working index."""
    idx = open_index(project, cache, build=False)
    assert idx.stats()["declarations"] == 0
    assert idx.search("gcd") == []
