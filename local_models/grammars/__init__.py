"""GBNF grammars for constrained generation (package data: shipped in the wheel as *.gbnf)."""
