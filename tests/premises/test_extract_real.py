"""Source extraction on real Lean text from ../shared/data/benchmarks (miniF2F files, MIL blocks)."""
from __future__ import annotations

import json

from copilot.premises.extract_source import extract_text
from tests.conftest import shared_data


def test_minif2f_files_give_their_one_theorem():
    """Each miniF2F file (header with imports/opens + theorem) yields exactly its theorem, with its statement."""
    path = shared_data("benchmarks", "minif2f-lean4.jsonl")
    records = [json.loads(line) for line in path.open(encoding="utf-8")]
    assert len(records) > 400
    for r in records:
        res = extract_text(r["header"] + "\n\n" + r["statement"], r["file"])
        assert [d.name for d in res.declarations] == [r["name"]], r["file"]
        sig = res.declarations[0].signature
        assert sig.startswith(f"theorem {r['name']}") and "sorry" not in sig and ":=" not in sig
        assert "Mathlib" in res.imports


def test_mil_declaration_blocks_are_named():
    """Every named MIL exercise block (theorem/lemma/def/instance) is extracted under its name."""
    path = shared_data("benchmarks", "mil-exercises.jsonl")
    named = [r for r in map(json.loads, path.open(encoding="utf-8")) if r["kind"] != "example" and r["name"]]
    assert len(named) > 50
    for r in named:
        decls = extract_text(r["decl_text"], r["file"]).declarations
        assert decls and decls[0].name.split(".")[-1] == r["name"].split(".")[-1], r["decl_text"][:80]
