"""Lexical BM25: tokenizer, bm25s base and the delta scored on the base's scale."""
from __future__ import annotations

import bm25s
import numpy as np

from copilot.premises import lexical
from copilot.premises.lean_tokens import split_identifier, tokenize
from copilot.premises.lexical import LexicalIndex, build_base
from copilot.premises.query import goal_query_tokens, parse_goal, split_statement

DOCS = [
    ["nat", "add", "comm", "add", "eq"],
    ["nat", "mul", "comm", "mul", "eq"],
    ["list", "length", "append", "add"],
    ["nat", "gcd", "self", "gcd", "eq"],
    ["int", "ediv", "pos", "dvd", "lt"],
]


def test_identifier_splitting_and_symbols():
    """Names split on dots, underscores and camelCase; notation maps to naming-convention words."""
    assert split_identifier("Nat.add_comm") == ("nat", "add", "comm")
    assert split_identifier("List.toArray") == ("list", "to", "array")
    assert split_identifier("h₁") == ()  # hypothesis names carry nothing
    toks = tokenize("a ∣ b * c → a ≤ b ++ l")
    assert {"dvd", "mul", "imp", "le", "append"} <= set(toks)
    assert "∣" in toks and "≤" in toks  # the symbols stay as tokens too
    assert tokenize("ℕ") == ["nat", "ℕ"]
    assert "zero" in tokenize("x = 0")


def test_base_scores_match_bm25s():
    """Our scoring of the bm25s base equals bm25s's own get_scores."""
    base = build_base(DOCS)
    lex = LexicalIndex(base)
    ref = bm25s.BM25(k1=lexical.K1, b=lexical.B, method="lucene")
    ref.index(DOCS, show_progress=False, create_empty_token=False)
    for q in (["nat", "comm"], ["gcd", "eq", "eq"], ["append", "missing"]):
        np.testing.assert_allclose(lex.scores(q), ref.get_scores(q), rtol=1e-5)


def test_delta_document_scores_like_base_document():
    """A document moved to the delta (base tombstoned) keeps exactly its base score."""
    base = build_base(DOCS)
    lex = LexicalIndex(base)
    before = lex.scores(["gcd", "self"])
    lex.replace([3], [DOCS[3]])
    after = lex.scores(["gcd", "self"])
    assert after[3] == 0.0  # tombstoned
    assert len(after) == len(DOCS) + 1
    np.testing.assert_allclose(after[len(DOCS)], before[3], rtol=1e-5)
    lex.replace([], [["brand", "new", "token"]])
    assert lex.scores(["brand"])[len(DOCS)] > 0


def test_goal_parsing_and_weights():
    """Goals split into hypothesis types and target; hypothesis names are dropped; the target weighs more."""
    g = parse_goal("case h\nn m : ℕ\nh : n ∣ m\n  ∧ True\n⊢ Nat.gcd n m = n")
    assert g.hypotheses == ("ℕ", "n ∣ m ∧ True")
    assert g.target == "Nat.gcd n m = n"
    toks = goal_query_tokens("h : 0 < a\n⊢ Nat.gcd a a = a")
    assert toks.count("gcd") == 2 and toks.count("lt") == 1
    assert split_statement("theorem foo {a : Nat} (h : a = 1) : a + 0 = 1") == ("foo", "{a : Nat} (h : a = 1)", "a + 0 = 1")
