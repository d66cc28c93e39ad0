"""The real-Lean test tier: Lean 4.35's own frontend in prelude mode (see docs/testing.md)."""
