"""The adversarial corpus: hostile candidates (tests/copilot/data/adversarial_hostile.json,
by category) must all be refused with a reason; benign real proof text from the shared
benchmarks (Mathematics in Lean proof steps, miniF2F hypotheses restated as `have`s) must all
pass. The benign set is read at test time from ../shared/data/benchmarks (skipped if absent)."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from copilot.lean_lexer import tokenize
from copilot.safety import check_candidate
from tests.conftest import shared_data

HOSTILE = json.loads((Path(__file__).parent / "data" / "adversarial_hostile.json").read_text(encoding="utf-8"))
_BY_LINE = re.compile(r":=\s*by\s*\n")


def _proof_steps(decl_text: str) -> list[str]:
    """The top-level steps of a declaration's `by` block that use no `sorry` (and have no
    comment): real proof text as a model would propose it."""
    match = _BY_LINE.search(decl_text)
    if match is None:
        return []
    lines = [line for line in decl_text[match.end():].split("\n") if line.strip()]
    if not lines:
        return []
    base = min(len(line) - len(line.lstrip(" ")) for line in lines)
    chunks: list[list[str]] = []
    for line in lines:
        if len(line) - len(line.lstrip(" ")) == base or not chunks:
            chunks.append([])
        chunks[-1].append(line[base:])
    steps = []
    for chunk in chunks:
        text = "\n".join(chunk).rstrip()
        tokens = tokenize(text)
        if any(t.kind == "comment" or (t.kind == "ident" and t.text == "sorry") for t in tokens):
            continue
        if tokens and tokens[0].text in ")]}⟩":
            continue  # the tail of a multi-line term, not a step
        steps.append(text)
    return steps


def _hypotheses_as_haves(statement: str) -> list[str]:
    """`(h₀ : 0 < x ∧ x < 15)` → `have h₀' : 0 < x ∧ x < 15 := h₀`: real Mathlib notation."""
    tokens = tokenize(statement, keep_comments=False)
    out = []
    i = 0
    while i + 2 < len(tokens):
        if tokens[i].text == "(" and tokens[i + 1].kind == "ident" and tokens[i + 2].text == ":":
            depth, j = 0, i
            for j in range(i, len(tokens)):
                depth += tokens[j].text in "([{⟨"
                depth -= tokens[j].text in ")]}⟩"
                if depth == 0:
                    break
            name = tokens[i + 1].text
            out.append(f"have {name}' : {statement[tokens[i + 2].end : tokens[j].start].strip()} := {name}")
            i = j
        i += 1
    return out


def _benign() -> list[str]:
    root = shared_data("benchmarks")
    mil = [json.loads(line) for line in (root / "mil-exercises.jsonl").read_text(encoding="utf-8").splitlines()]
    f2f = [json.loads(line) for line in (root / "minif2f-lean4.jsonl").read_text(encoding="utf-8").splitlines()]
    steps = [step for record in mil for step in _proof_steps(record["decl_text"])]
    haves = [have for record in f2f for have in _hypotheses_as_haves(record["statement"])]
    return steps + haves


def test_corpus_sizes() -> None:
    """At least 150 hostile candidates over the issue's categories, at least 100 benign ones
    (of them at least 100 real MIL proof steps)."""
    assert len(HOSTILE) >= 150
    categories = Counter(h["category"] for h in HOSTILE)
    for category in ("glued-number", "meta-escape", "look-alike", "comment-string-hiding", "attribute-injection",
                     "option-injection", "termination-abuse", "syntax-definition", "scope-escape", "compiler-trust"):
        assert categories[category] >= 3, category
    benign = _benign()
    assert len(benign) >= 100
    assert sum(not b.startswith("have ") for b in benign) >= 100


@pytest.mark.parametrize("entry", HOSTILE, ids=[f"{i}-{h['category']}" for i, h in enumerate(HOSTILE)])
def test_hostile_candidate_is_refused(entry: dict) -> None:
    """Every hostile candidate is refused, with a reason."""
    verdict = check_candidate(entry["candidate"])
    assert not verdict.ok, entry
    assert verdict.reason


def test_benign_real_proofs_pass() -> None:
    """Every benign candidate from the benchmarks passes (the filter's false-positive rate on
    real proof text is zero)."""
    refused = [(text, verdict.reason) for text in _benign() if not (verdict := check_candidate(text)).ok]
    assert not refused, refused[:10]
