"""Systematic and property tests of the lexer and the safety filter: every command keyword glued
to every kind of number, or on a line of its own after an honest step, is refused; the lexer
never raises and its tokens tile the source."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.lean_lexer import tokenize
from copilot.safety import COMMAND_KEYWORDS, check_candidate

# Number spellings after which Lean starts a new token, or fails and resumes (0b, 2e, 1_).
NUMBERS = ["0", "7", "1_", "1_000", "0b", "0b1", "0o7", "0x", "0x1f", "2e", "1e+5", "1.", "1.5", "1.5e3", ".1e"]
KEYWORDS = sorted(k for k in COMMAND_KEYWORDS if k[0].isalpha())


def test_every_command_keyword_glued_to_every_number_is_refused() -> None:
    """`exact <number><keyword> …` for every pair (a few thousand cases)."""
    passed = [f"{n}{k}" for k in KEYWORDS for n in NUMBERS if check_candidate(f"exact {n}{k} cheat : False").ok]
    assert not passed, passed[:20]


def test_every_command_keyword_after_an_honest_step_is_refused() -> None:
    """A command keyword on its own line (or after `;`) after a valid step is refused."""
    passed = [k for k in KEYWORDS for sep in ("\n", "\n  ", "; ") if check_candidate(f"simp{sep}{k} cheat : False").ok]
    assert not passed, passed


def test_keywords_as_later_components_pass() -> None:
    """`h.<keyword>` is a field or lemma name, not a keyword: it passes (no false positive),
    except for the banned *names* that are refused as any component."""
    refused = [k for k in KEYWORDS if not check_candidate(f"exact h.{k}").ok]
    names = {"axiom", "run_cmd", "run_elab", "run_meta", "run_tac"}
    families = ("register_", "declare_", "initialize_", "builtin_")  # refused as any component
    assert [k for k in refused if k not in names and not k.startswith(families)] == []
    assert check_candidate("exact h.def").ok and check_candidate("exact List.Sublist.end h").ok


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"ab_0x1e.'\"«»/-!?#`\\ \n{}()ᶜ₁αλé", "--", "/-", "-/", "r#\"", "s!\"", "0b", "1_"]),
                max_size=40).map("".join))
def test_lexer_never_raises_and_tokens_tile_the_source(text: str) -> None:
    """Tokens are in order, do not overlap, are the source's own text, and everything between
    them is whitespace."""
    tokens = tokenize(text)
    position = 0
    for token in tokens:
        assert token.start >= position and token.end > token.start
        assert text[token.start : token.end] == token.text
        assert not text[position : token.start].strip()
        position = token.end
    assert not text[position:].strip()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NUMBERS), st.sampled_from(KEYWORDS), st.sampled_from(["exact ", "simp [", "refine ⟨", "("]))
def test_glued_keywords_are_refused_in_any_context(number: str, keyword: str, lead: str) -> None:
    assert not check_candidate(f"{lead}{number}{keyword} x").ok
