"""Unit tests of the pure parts: the editor settings overlay, suggestion targets and ranking."""
from __future__ import annotations

from copilot.features.settings import apply_overlay
from copilot.features.suggest import Suggestion, rank_key
from copilot.features.targets import target_at
from local_models.config import Config, load_config

TEXT = (
    "theorem foo (n : Nat) : n + 0 = n := by\n"
    "  sorry\n"
    "\n"
    "theorem bar (p q : Prop) : p ∧ q → q ∧ p := by\n"
    "  intro h\n"
    "\n"
    "  exact h\n"
    "def x := 1\n"
)


def test_overlay_applies_valid_keys_and_skips_bad_ones():
    """Valid overlay keys win over the files, an invalid key is reported and ignored while the
    rest applies, and origins say `editor`."""
    config, problems = apply_overlay(Config(), {"suggest": {"max_candidates": 3, "completions": "yes"},
                                                "models": {"tactic": ["m1"]}, "nope": {"x": 1}})
    assert config.suggest.max_candidates == 3 and config.models.tactic == ["m1"]
    assert config.suggest.completions is True
    assert len(problems) == 2 and any("suggest.completions" in p for p in problems)
    assert any(p.startswith("nope.x") for p in problems)
    assert config.origins["suggest.max_candidates"] == "editor"


def test_environment_beats_the_editor(tmp_path):
    """A key set by a LEAN_COMPANION_* variable keeps its value whatever the editor sends."""
    base = load_config(tmp_path, environ={"LEAN_COMPANION_SUGGEST__MAX_CANDIDATES": "5"})
    config, problems = apply_overlay(base, {"suggest": {"max_candidates": 2, "debounce_ms": 10}})
    assert config.suggest.max_candidates == 5 and config.suggest.debounce_ms == 10 and not problems


def test_an_empty_overlay_changes_nothing():
    """`{}` means no editor overrides; a non-object is reported."""
    assert apply_overlay(Config(), {})[0] == Config()
    assert apply_overlay(Config(), [1])[1]


def test_targets():
    """A sorry is replaced; a blank line in a proof is an insertion at the cursor (or at the
    block's indentation when the cursor is left of it); a typed tactic is replaced as a whole
    with the rest of the proof unchanged around it; outside proofs there is no target."""
    uri = "file:///t.lean"
    sorry = target_at(uri, 1, TEXT, 1, 4)
    assert sorry.kind == "sorry" and sorry.lsp_range()["start"] == {"line": 1, "character": 2}
    assert sorry.edit("simp")["documentChanges"][0]["edits"][0]["newText"] == "simp"
    blank = target_at(uri, 1, TEXT, 5, 0)
    assert blank.kind == "cursor" and blank.replacement("constructor") == "  constructor"
    line = target_at(uri, 1, TEXT, 4, 5)
    assert line.kind == "line" and line.lsp_range() == {"start": {"line": 4, "character": 2},
                                                        "end": {"line": 4, "character": 9}}
    assert "intro h" not in line.check_text and line.check_text.count("\n") == TEXT.count("\n")
    assert line.replacement("intro h\nconstructor") == "intro h\n  constructor"
    assert target_at(uri, 1, TEXT, 0, 3) is None  # the statement
    assert target_at(uri, 1, TEXT, 7, 5) is None  # a def without tactics
    assert target_at(uri, 1, TEXT, 4, 5, allow_line=False) is None
    typing = target_at(uri, 2, TEXT.replace("intro h\n", "intr\n"), 4, 4)
    assert typing.key == line.key  # typing on the line keeps the work
    elsewhere = target_at(uri, 2, TEXT.replace("exact h", "exact h'"), 4, 5)
    assert elsewhere.key != line.key


def test_ranking():
    """Closing suggestions come first, then fewer and smaller remaining goals, then score."""
    def s(tactic, verdict, goals, score):
        return Suggestion(tactic, verdict, tuple(goals), "portfolio", score, tactic)

    ranked = sorted([s("a", "progress", ["⊢ x", "⊢ y"], 0.9), s("b", "closes", [], 0.1),
                     s("c", "progress", ["⊢ a long goal"], 0.9), s("d", "progress", ["⊢ x"], 0.2),
                     s("e", "closes", [], 0.5)], key=rank_key)
    assert [x.tactic for x in ranked] == ["e", "b", "d", "c", "a"]


def test_segment_targets_equal_whole_file_targets():
    """Targets computed on the declaration's segment (the fast editor path) are the same as
    targets computed on the whole file, for every position of a file with doc comments,
    attributes and several proofs."""
    from copilot.features.targets import _target_in

    text = ("import Mathlib\n\n/-- doc\n  more -/\n@[simp]\ntheorem a1 (n : Nat) : n + 0 = n := by\n  simp\n\n  sorry\n\n"
            + TEXT + "\nexample : True := by\n  trivial\n")
    lines = text.split("\n")
    compared = 0
    for line, content in enumerate(lines):
        for character in range(0, len(content) + 2, 2):
            from copilot.proof_text import lsp_to_offset

            fast = target_at("file:///t.lean", 1, text, line, character)
            slow = _target_in("file:///t.lean", 1, text, lsp_to_offset(text, line, character), True)
            assert (fast is None) == (slow is None), (line, character)
            if fast is not None:
                compared += 1
                assert fast.key == slow.key and fast.check == slow.check and fast.lsp_range() == slow.lsp_range()
                assert fast.replacement("a\nb") == slow.replacement("a\nb") and fast.sorry == slow.sorry
    assert compared > 20


async def test_a_model_that_becomes_ready_drops_results_computed_without_it(monkeypatch):
    """Suggestions cached while a model was still loading must not hide that model afterwards."""
    import asyncio

    import local_models.loader
    from copilot.features.sources import SourceSet

    release = asyncio.Event()
    generator = object()

    async def slow_load(model_id, config):
        await release.wait()
        return generator

    monkeypatch.setattr(local_models.loader, "load_generator_async", slow_load)
    cache = {("file:///A.lean", 1, 2): "computed with the portfolio only"}
    sources = SourceSet(on_ready=cache.clear)
    config = msgspec_config({"models": {"tactic": ["some-model"]}})
    sources.configure(config)
    await asyncio.sleep(0)
    assert sources.slots["some-model"].state == "loading" and cache  # kept while nothing changed
    release.set()
    await sources.wait_loaded(5)
    assert sources.slots["some-model"].state == "ready"
    assert generator in sources.generators()
    assert cache == {}


def msgspec_config(data: dict) -> Config:
    import msgspec

    return msgspec.convert(data, Config)
