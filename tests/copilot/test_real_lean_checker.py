"""The checker against a real ``lake serve`` on a tiny Lake project made in tmp_path (needs a
Lean toolchain; skipped by tests/conftest.py where ``lake`` is not on PATH).

The project imports nothing (core Lean only), so nothing needs building: ``lake serve`` loads
the workspace and each worker's ``lake setup-file`` has no dependency to build. These tests pin
what the test double cannot: Lean's own sorry wording, ``#print axioms`` output and ranges,
renamed copies of recursive proofs and of declarations with attributes.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from copilot.checker import Checker, CheckerConfig, CheckTarget
from copilot.proof_text import locate_sorries
from lsp_proxy.headless import start_lean

pytestmark = [pytest.mark.lean, pytest.mark.slow]

BASIC = """theorem cheat (n : Nat) : n + 0 = n := sorry

theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry

/-- A simp lemma: the attribute must not break copies. -/
@[simp] theorem twice (n : Nat) : n + n = 2 * n := by
  sorry

theorem all_eq : ∀ n : Nat, n + 0 = n
  | 0 => rfl
  | n+1 => by
    have := all_eq n
    sorry
"""
LEAN_TIMEOUT = 300.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "Tiny").mkdir(parents=True)
    (root / "lakefile.toml").write_text('name = "tiny"\ndefaultTargets = ["Tiny"]\n\n[[lean_lib]]\nname = "Tiny"\n')
    (root / "Tiny.lean").write_text("import Tiny.Basic\n")
    (root / "Tiny" / "Basic.lean").write_text(BASIC)
    return root


def _target(project: Path, declaration: str) -> CheckTarget:
    path = project / "Tiny" / "Basic.lean"
    text = path.read_text()
    (location,) = [loc for loc in locate_sorries(text) if loc.declaration == declaration]
    return CheckTarget.for_sorry(path.as_uri(), text, location)


async def test_real_lean_verdicts_batched_and_single(project: Path) -> None:
    """Against real Lean: an accepted proof, an incomplete step with its goal, an unknown
    identifier, and a proof through a sorried premise (caught by `#print axioms`, whose real
    output the checker parses) get the same verdicts batched and one at a time."""
    client = await start_lean(["lake", "serve", "--"], project, request_timeout=LEAN_TIMEOUT)
    try:
        checker = Checker(client, CheckerConfig(open_timeout=LEAN_TIMEOUT, wall_timeout=120, require_axiom_report=True))
        target = _target(project, "add_zero'")
        goals, kind = await checker.initial_goals(target)
        assert (goals, kind) == (["n : Nat\n⊢ n + 0 = n"], "tactic")
        candidates = ["exact Nat.add_zero n", "skip", "exact no_such_lemma", "exact cheat n"]
        batched = await checker.check_many(target, candidates)
        single = await checker.check_many(target, candidates, batch=False)
        for results in (batched, single):
            assert [r.status for r in results] == ["accepted", "incomplete", "error", "error"], results
            assert results[1].goals == ["n : Nat\n⊢ n + 0 = n"]
            assert "no_such_lemma" in results[2].message
            assert "sorryAx" in results[3].message
        await checker.close()
    finally:
        await client.shutdown()


async def test_real_lean_copies_of_attributed_and_recursive_declarations(project: Path) -> None:
    """A `@[simp]` theorem and a proof by structural recursion that calls itself are checked
    correctly: the copies elaborate (attribute dropped, self-reference renamed)."""
    client = await start_lean(["lake", "serve", "--"], project, request_timeout=LEAN_TIMEOUT)
    try:
        checker = Checker(client, CheckerConfig(open_timeout=LEAN_TIMEOUT, wall_timeout=120, require_axiom_report=True))
        twice = await checker.check_many(_target(project, "twice"), ["omega", "rfl"])
        assert twice[0].status == "accepted", twice[0]
        assert twice[1].status == "error"
        recursive = await checker.check_many(_target(project, "all_eq"), ["omega", "exact this"])
        assert recursive[0].status == "accepted", recursive[0]
        assert recursive[1].status == "error"
        await checker.close()
    finally:
        await client.shutdown()


async def test_real_lean_sorry_warnings_are_recognised(project: Path) -> None:
    """Whatever wording this Lean uses, every declaration with a sorry gets a warning the
    client recognises as the sorry warning."""
    client = await start_lean(["lake", "serve", "--"], project, request_timeout=LEAN_TIMEOUT)
    try:
        path = project / "Tiny" / "Basic.lean"
        version = await client.open(path.as_uri(), path.read_text())
        diagnostics = await client.wait_for_diagnostics(path.as_uri(), version, timeout=LEAN_TIMEOUT)
        warned = [d for d in diagnostics if d.is_sorry_warning]
        assert len(warned) == 4, [d.message for d in diagnostics]
    finally:
        await client.shutdown()
