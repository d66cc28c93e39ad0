"""Source-level extraction on the fixture project (no Lean needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from copilot.premises.extract_source import extract_file, extract_files, extract_text, module_name
from copilot.premises.source_text import LexError, blank_comments_and_strings

from .helpers import FIXTURE


@pytest.fixture(scope="module")
def basic():
    res = extract_file(FIXTURE / "Demo" / "Basic.lean", FIXTURE)
    assert res.error is None
    return res, {d.name: d for d in res.declarations}


def test_module_and_imports(basic):
    """The module name comes from the path; `import` lines are collected."""
    res, _ = basic
    assert res.module == "Demo.Basic"
    assert res.imports == ["Helper.Core"]
    assert module_name("Mathlib/Data/Nat/Basic.lean") == "Mathlib.Data.Nat.Basic"


def test_comments_and_strings_hide_declarations(basic):
    """Nested block comments, module docs, line comments and strings never yield declarations."""
    _, by_name = basic
    text_names = " ".join(by_name)
    for hidden in ("not_a_decl", "also_not_a_decl", "hidden_in_module_doc", "commented_out", "in_a_string"):
        assert hidden not in text_names
    assert "Demo.greeting" in by_name  # the declaration holding the string is still found
    assert "Demo.char_lit_ok" in by_name


def test_namespaces_sections_and_root(basic):
    """Names get the enclosing namespaces; sections add none; `_root_` escapes; dotted namespaces close."""
    _, by_name = basic
    assert "Demo.double" in by_name
    assert "Demo.le_refl'" in by_name  # inside `section Order`
    assert "Nat.triple_pos" in by_name  # `_root_.Nat.triple_pos`
    assert "Demo.Inner.Deep.ν" in by_name
    assert "top_level_fact" in by_name  # after `end Demo`
    assert by_name["top_level_fact"].signature == "theorem top_level_fact : 1 + 1 = 2"


def test_docstrings_attributes_modifiers(basic):
    """Doc comments attach to the next declaration; attributes and modifiers are recorded."""
    _, by_name = basic
    d = by_name["Demo.double_eq_add"]
    assert d.docstring == "`double` is addition with itself."
    assert d.attributes == ("simp",)
    assert d.kind == "theorem"
    assert d.signature == "theorem double_eq_add (n : Nat) : double n = n + n"
    z = by_name["Demo.double_zero"]  # attribute on its own line, `lemma` keyword
    assert z.attributes == ("simp", "norm_cast") and z.kind == "theorem"
    assert by_name["Demo.secret_helper"].attributes == ("private",)
    assert by_name["Demo.Nat.double_le"].attributes == ("protected",)
    assert by_name["Demo.double"].docstring == "Doubling a natural number."
    assert by_name["Demo.double"].line == 17


def test_structures_classes_inductives(basic):
    """Structure/class fields and constructors, and inductive constructors, get full names."""
    _, by_name = basic
    assert by_name["Demo.Point"].kind == "structure"
    assert by_name["Demo.Point.x"].kind == "field"
    assert by_name["Demo.Point.x"].docstring == "The horizontal coordinate."
    assert by_name["Demo.Point.x"].signature == "x : α"
    assert "Demo.Point.mk" in by_name
    assert "Demo.Point.deriving" not in by_name
    assert "Demo.Pair.mkPair" in by_name and "Demo.Pair.mk" not in by_name
    assert {"Demo.Pair.fst", "Demo.Pair.snd"} <= set(by_name)
    assert by_name["Demo.HasDouble"].signature == "class HasDouble (α : Type) extends Add α"
    assert by_name["Demo.HasDouble.dbl_eq"].signature == "dbl_eq : ∀ a : α, dbl a = a + a"
    step = by_name["Demo.Parity.step"]
    assert step.kind == "constructor" and step.signature == "step {n : Nat} (h : Parity n) : Parity (n + 2)"
    assert {"Demo.Color.red", "Demo.Color.green", "Demo.Color.blue"} <= set(by_name)


def test_where_helpers_and_instances(basic):
    """`where` helpers of a def are declarations; named instances are kept, anonymous ones skipped."""
    _, by_name = basic
    assert by_name["Demo.sumTo.go"].kind == "def"
    assert by_name["Demo.sumTo.go"].signature == "go : Nat → Nat → Nat"
    assert by_name["Demo.instReprParity"].kind == "instance"
    assert not any(n.endswith(".reprPrec") for n in by_name)  # structure-instance field, not a decl
    assert sum(1 for d in by_name.values() if d.kind == "instance") == 1


def test_unicode_identifiers(basic):
    """Greek letters, subscripts and «» names are identifiers."""
    _, by_name = basic
    assert "Demo.αβ_comm₁" in by_name
    assert "Demo.«weird name»" in by_name


def test_lexer_errors_and_bad_files(tmp_path: Path):
    """Unterminated comments raise LexError; undecodable files come back with an error, not an exception."""
    with pytest.raises(LexError):
        blank_comments_and_strings("theorem a : True := trivial /- open")
    res = extract_file(FIXTURE / "Demo" / "Broken.lean", FIXTURE)
    assert res.error and "UTF-8" in res.error and res.declarations == []
    (tmp_path / "Open.lean").write_text("/- never closed\ntheorem x : True := trivial\n")
    res = extract_file(tmp_path / "Open.lean", tmp_path)
    assert res.error and "unterminated comment" in res.error


def test_blanking_keeps_offsets():
    """Blanked text has the same length and line breaks as the input."""
    src = 'def s := "a\nb" -- c\n/- x /- y -/ z -/ theorem t : True := trivial'
    lexed = blank_comments_and_strings(src)
    assert len(lexed.clean) == len(src)
    assert lexed.clean.count("\n") == src.count("\n")
    assert "theorem t" in lexed.clean and "x" not in lexed.clean.split("theorem")[0].replace("def s", "")


def test_mutual_alias_and_indented_declarations():
    """`mutual ... end` blocks, Std's `alias ⟨a, b⟩`, and declarations indented in a section."""
    src = """namespace M
mutual
  def isEven : Nat → Bool
    | 0 => true
    | n + 1 => isOdd n
  def isOdd : Nat → Bool
    | 0 => false
    | n + 1 => isEven n
end
theorem after_mutual : True := trivial
alias ⟨foo_mp, foo_mpr⟩ := Iff.rfl
alias bar := after_mutual
end M
"""
    res = extract_text(src, "M.lean")
    names = [d.name for d in res.declarations]
    assert names == ["M.isEven", "M.isOdd", "M.after_mutual", "M.foo_mp", "M.foo_mpr", "M.bar"]
    assert res.declarations[0].signature == "def isEven : Nat → Bool"


def test_pool_extraction_matches_serial():
    """The process-pool path gives the same records, in order, as the serial one."""
    files = [(p, FIXTURE) for p in sorted(FIXTURE.rglob("*.lean")) if ".lake" not in p.parts] * 30
    serial = extract_files(files, workers=1)
    pooled = extract_files(files, workers=2, pool_threshold=10)
    assert [r.declarations for r in serial] == [r.declarations for r in pooled]
    assert sum(len(r.declarations) for r in pooled) > 30


def test_field_forms():
    """Fields with binders, several names, brackets and defaults; default overrides are not fields."""
    src = """structure Hom (α β : Type) where
  toFun (x : α) : β
  x y : Nat
  (z : Nat)
  [inst : Inhabited α]
  w : Nat := 3
structure Child extends Hom Nat Nat where
  x := 5
  extra : Nat
"""
    got = {d.name: d for d in extract_text(src, "H.lean").declarations}
    assert {"Hom.toFun", "Hom.x", "Hom.y", "Hom.z", "Hom.inst", "Hom.w", "Child.extra", "Child.mk"} <= set(got)
    assert "Child.x" not in got
    assert got["Hom.toFun"].signature == "toFun (x : α) : β"
