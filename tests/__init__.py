"""Lean Companion's tests. ``tests.lean_double`` is the Lean test double (not Lean)."""
