"""Fixtures for the editor-features tests: the scenario (basic.json + a 3-step proof and a goal
no source can close) and scripted model behaviours."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.lean_double import write_scenario

THREE_STEP = {
    "⊢ a + 0 ≤ b + 0": ["rw [Nat.add_zero]"],
    "⊢ a ≤ b + 0": ["rw [Nat.add_zero]"],
    "⊢ a ≤ b": ["exact h"],
}

EXTRA_DECLARATIONS = {
    "(a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0": "a b : Nat\nh : a ≤ b\n⊢ a + 0 ≤ b + 0",
    "(z : Nat) (hz : z = 7) : Secret z": "z : Nat\nhz : z = 7\n⊢ Secret z",
}
EXTRA_TACTICS = [
    {"goal": "a b : Nat\nh : a ≤ b\n⊢ a + 0 ≤ b + 0", "tactic": "rw [Nat.add_zero]",
     "result": ["a b : Nat\nh : a ≤ b\n⊢ a ≤ b + 0"]},
    {"goal": "a b : Nat\nh : a ≤ b\n⊢ a ≤ b + 0", "tactic": "rw [Nat.add_zero]", "result": ["a b : Nat\nh : a ≤ b\n⊢ a ≤ b"]},
    {"goal": "z : Nat\nhz : z = 7\n⊢ Secret z", "tactic": "magic_trick_9", "result": []},
]


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """basic.json extended with the features tests' declarations and tactics."""
    path = tmp_path_factory.mktemp("scenario") / "features.json"
    return write_scenario(path, declarations=EXTRA_DECLARATIONS, tactics=EXTRA_TACTICS)
