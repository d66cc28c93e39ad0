"""Proof dependencies from source: the identifiers of proofs, resolved like Lean resolves names."""
from __future__ import annotations

from copilot.premises.deps import NameTable
from copilot.premises.extract_source import extract_text
from copilot.premises.source_text import LexError, blank_comments_and_strings

SOURCE = '''
namespace List

inductive Sublist : List α → List α → Prop
  | slnil : Sublist [] []
  | cons a : Sublist l₁ l₂ → Sublist l₁ (a :: l₂)

theorem length_nil' : length ([] : List α) = 0 := rfl

protected theorem append_nil' (l : List α) : l ++ [] = l := by
  induction l <;> simp [*]

theorem Sublist.length_le {l₁ l₂ : List α} (h : Sublist l₁ l₂) : length l₁ ≤ length l₂ := by
  induction h with
  | slnil => exact Nat.le_refl 0
  | cons a _ ih => exact Nat.le_succ_of_le ih

-- term proof, dot notation on a binder of evident type
theorem Sublist.cons' (a : α) (h : Sublist l₁ l₂) : Sublist l₁ (a :: l₂) := h.cons a

-- simp [..] and rw [..] lists, `@`, a comment that mentions length_nil'
theorem uses_lists (l : List α) : (l ++ []).length = l.length + length ([] : List α) := by
  simp only [List.append_nil', @length_nil']
  rw [length_nil']

theorem via_calc (l : List α) : (l ++ []).length = l.length :=
  calc (l ++ []).length = l.length := by rw [List.append_nil']
    _ = l.length := rfl

theorem with_helper (n : Nat) : n = n := go n
where
  go (m : Nat) : m = m := Eq.refl' m

end List

namespace Other
theorem Eq.refl' (a : α) : a = a := rfl
private theorem secret : True := trivial
theorem uses_secret : True := secret
end Other

open List in
theorem opened (l : List α) : l ++ [] = l := append_nil' l

open List in theorem opened_inline (l : List α) : l.length = l.length := by simp [length_nil']

theorem root_ref : True := _root_.Other.uses_secret

export List (length_nil')
theorem exported : True := by have := length_nil' (α := Nat); trivial

theorem string_is_not_a_ref : "length_nil'" = "length_nil'" := rfl
'''


def _deps():
    res = extract_text(SOURCE, "Demo/Deps.lean")
    assert res.error is None
    decls = res.declarations
    table = NameTable.of(decls)
    by = {d.name: d for d in decls}
    return {
        d.name: sorted(decls[i].name for i in table.premises(d, decls.__getitem__, self_doc=j))
        for j, d in enumerate(decls)
    }, by


def test_term_tactic_simp_rw_calc_and_at_references():
    deps, _ = _deps()
    assert deps["List.Sublist.cons'"] == ["List.Sublist.cons"]  # `h.cons` with `h : Sublist …`
    # `simp only [List.append_nil', @length_nil']` and `rw [length_nil']`; comments don't count
    assert deps["List.uses_lists"] == ["List.append_nil'", "List.length_nil'"]
    assert deps["List.via_calc"] == ["List.append_nil'"]  # inside a `calc` step's `by`
    # a tactic proof by induction: `Nat.le_refl` is not in this corpus, `h`/`ih` are locals;
    # the alternatives' constructor tags resolve in the proof's namespace, as the data's README does
    assert deps["List.Sublist.length_le"] == ["List.Sublist.cons", "List.Sublist.slnil"]


def test_protected_names_need_their_namespace():
    deps, by = _deps()
    assert "protected" in by["List.append_nil'"].attributes
    # under `open List`, the bare name of a protected declaration does not resolve
    assert by["opened"].refs == ("append_nil'",) and by["opened"].opens == ("List",)
    assert deps["opened"] == []


def test_open_in_export_root_private_where_and_strings():
    deps, by = _deps()
    assert deps["opened_inline"] == ["List.length_nil'"]  # `open List in theorem …` on one line
    assert by["opened_inline"].opens == ("List",)
    assert deps["root_ref"] == ["Other.uses_secret"]
    assert deps["Other.uses_secret"] == ["Other.secret"]  # private, same file
    assert deps["exported"] == ["List.length_nil'"]  # `export List (length_nil')`
    assert deps["string_is_not_a_ref"] == []  # names inside strings are not references
    # the helper's own proof uses `Eq.refl'` (resolved under no namespace: not found as
    # `List.Eq.refl'`); the parent's reference to its helper `go` is not a premise
    assert deps["List.with_helper"] == []
    assert by["List.with_helper.go"].refs == ("Eq.refl'",)


def test_private_names_are_only_visible_in_their_file():
    res = extract_text(SOURCE, "Demo/Deps.lean")
    other = extract_text("theorem t : True := Other.secret\n", "Demo/Else.lean")
    decls = res.declarations + other.declarations
    table = NameTable.of(decls)
    t = decls[-1]
    assert t.refs == ("Other.secret",)
    assert table.premises(t, decls.__getitem__) == []


def test_dot_notation_drops_trailing_components():
    text = "theorem a_le : 1 ≤ 2 := by decide\ntheorem b : 1 ≤ 2 := a_le.trans (Nat.le_refl 2)\n"
    decls = extract_text(text, "X.lean").declarations
    table = NameTable.of(decls)
    assert [decls[i].name for i in table.premises(decls[1], decls.__getitem__)] == ["a_le"]


def test_raw_strings_no_longer_drop_the_file():
    """Issue 13: `r#"a"b"#` lexes (the project's one lexer); the declarations after it are kept."""
    text = 'def s : String := r#"a"b"#\ntheorem after : True := trivial\n'
    res = extract_text(text, "Raw.lean")
    assert [d.name for d in res.declarations] == ["s", "after"]
    lexed = blank_comments_and_strings(text)
    assert len(lexed.clean) == len(text) and "a\"b" not in lexed.clean


def test_unterminated_comment_is_a_lex_error():
    try:
        blank_comments_and_strings("theorem x : True := trivial /- open")
    except LexError as e:
        assert "comment" in str(e)
    else:
        raise AssertionError("an open comment must not lex")


def test_lean_dump_uses_resolve_exactly():
    """DumpDecls' `uses` (constants of the proof term) become absolute refs: no namespace guessing."""
    import json

    from copilot.premises.extract_lean import parse_dump

    lines = [
        json.dumps({"name": "A.foo", "kind": "theorem", "type": "True", "module": "M", "uses": []}),
        json.dumps({"name": "A.B.foo", "kind": "theorem", "type": "True", "module": "M", "uses": []}),
        json.dumps({"name": "A.B.bar", "kind": "theorem", "type": "True", "module": "M",
                    "uses": ["A.foo", "True.intro", "A.B.bar"]}),
    ]
    decls = parse_dump(lines)
    assert decls[2].refs == ("_root_.A.foo", "_root_.True.intro")
    table = NameTable.of(decls)
    # a source-level `foo` inside `A.B` would be `A.B.foo`; Lean said `A.foo`
    assert [decls[i].name for i in table.premises(decls[2], decls.__getitem__)] == ["A.foo"]
