"""The lexer and the safety filter against real Lean 4.35 (prelude mode): where Lean's number
ends and a glued word starts a new command (`def n := 0axiom c : False` declares an axiom `c`),
read from Lean's own document symbols."""
from __future__ import annotations

from pathlib import Path

import pytest

from copilot.lean_lexer import tokenize
from copilot.safety import check_candidate
from lsp_proxy.headless import start_lean

pytestmark = [pytest.mark.real_lean]

# Lean reads these numbers without error, then the word after them.
CLEAN = ["0", "7", "1_000", "1__0", "0b101", "0o17", "1.5", "1e5", "1.5e-3"]
# Lean reports an error inside these numbers and still resumes at the glued word.
RESUMING = ["1_", "0b"]
# Lean's hex number takes the `a` of `axiom`: no axiom (our lexer agrees: `0x1fa` then `xiom`).
SWALLOWED = ["0x1f", "0x"]
FORMS = CLEAN + RESUMING + SWALLOWED
PREFIX = "def n := "


async def test_glued_numbers_split_where_lean_splits_them(real_lean: Path, tmp_path: Path) -> None:
    """For every number form: Lean declares the glued `axiom` exactly where our lexer starts a
    new token (clean forms), or where only the filter's lexer-independent check finds it
    (forms Lean reports an error in); in every case the filter refuses the candidate."""
    text = "prelude\ninductive False : Prop\n" + "".join(
        f"{PREFIX.replace('n', f'n{i}')}{form}axiom c{i} : False\n" for i, form in enumerate(FORMS))
    client = await start_lean([str(real_lean), "--server"], tmp_path, request_timeout=120.0)
    try:
        uri = (tmp_path / "Numbers.lean").as_uri()
        version = await client.open(uri, text)
        await client.wait_for_diagnostics(uri, version, timeout=120.0)
        symbols = await client.connection.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}},
                                                  timeout=60.0)
    finally:
        await client.shutdown()
    seen = {s["name"]: s["range"]["start"]["character"] for s in symbols}
    for i, form in enumerate(FORMS):
        line = f"def n{i} := {form}axiom c{i} : False"
        column = len(f"def n{i} := {form}")
        tokens = [(t.kind, t.text, t.start) for t in tokenize(line)]
        verdict = check_candidate(f"exact {form}axiom c : False")
        assert not verdict.ok, form
        if form in SWALLOWED:
            assert f"c{i}" not in seen, form
            assert ("ident", "axiom", column) not in tokens
            continue
        assert seen.get(f"c{i}") == column, (form, seen.get(f"c{i}"))
        if form in CLEAN:
            assert ("number", form, column - len(form)) in tokens and ("ident", "axiom", column) in tokens, tokens
        else:  # Lean resumes inside what our lexer reads as one identifier (`_axiom`, `baxiom`)
            assert ("ident", "axiom", column) not in tokens
            assert "glued to a number" in verdict.reason, verdict.reason
