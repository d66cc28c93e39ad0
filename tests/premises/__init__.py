"""Tests of the premise index (copilot/premises)."""
