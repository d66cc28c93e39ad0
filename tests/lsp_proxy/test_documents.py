"""The document mirror applies edits in UTF-16 code units exactly as Lean does."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_proxy.documents import Document, DocumentMirror, index_to_utf16, utf16_to_index

URI = "file:///t.lean"


def rng(sl: int, sc: int, el: int, ec: int) -> dict:
    return {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}


def opened(text: str) -> tuple[DocumentMirror, Document]:
    mirror = DocumentMirror()
    doc = mirror.did_open({"textDocument": {"uri": URI, "languageId": "lean4", "version": 1, "text": text}})
    return mirror, doc


def change(mirror: DocumentMirror, version: int, *changes: dict) -> None:
    mirror.did_change({"textDocument": {"uri": URI, "version": version}, "contentChanges": list(changes)})


def test_utf16_helpers_on_astral_characters():
    """𝔽 is two UTF-16 units, ⊢ one; conversions agree both ways; mid-pair rounds up."""
    line = "a𝔽⊢b"
    assert [utf16_to_index(line, c) for c in range(6)] == [0, 1, 2, 2, 3, 4]
    assert [index_to_utf16(line, i) for i in range(5)] == [0, 1, 3, 4, 5]
    assert utf16_to_index(line, 99) == len(line)


def test_ranged_edit_after_astral_character():
    """An edit positioned after an astral character lands where the editor meant it."""
    mirror, doc = opened("theorem 𝔽 : x := by\n  simp")
    change(mirror, 2, {"range": rng(0, 13, 0, 14), "text": "y"})
    assert doc.text == "theorem 𝔽 : y := by\n  simp"
    assert doc.version == 2


def test_crlf_is_folded_like_lean():
    """Opened CRLF text and inserted CRLF become LF; a CR joined to an existing LF folds too."""
    mirror, doc = opened("a\r\nb\r\nc")
    assert doc.text == "a\nb\nc"
    change(mirror, 2, {"range": rng(1, 1, 1, 1), "text": "x\r\ny"})
    assert doc.text == "a\nbx\ny\nc"
    change(mirror, 3, {"range": rng(0, 1, 0, 1), "text": "\r"})
    assert doc.text == "a\nbx\ny\nc"


def test_edits_at_end_of_file_and_clamping():
    """Appending at EOF works; positions past a line end or past the last line are clamped."""
    mirror, doc = opened("ab\ncd")
    change(mirror, 2, {"range": rng(1, 2, 1, 2), "text": "\nef"})
    assert doc.text == "ab\ncd\nef"
    change(mirror, 3, {"range": rng(0, 99, 0, 99), "text": "!"})
    assert doc.text == "ab!\ncd\nef"
    change(mirror, 4, {"range": rng(50, 0, 60, 0), "text": "Z"})
    assert doc.text == "ab!\ncd\nefZ"


def test_full_text_change_and_multiple_changes_in_order():
    """A full replacement then a ranged change apply in sequence."""
    mirror, doc = opened("old")
    change(mirror, 2, {"text": "new\ntext"}, {"range": rng(1, 0, 1, 4), "text": "TEXT"})
    assert doc.text == "new\nTEXT"


def test_empty_changes_and_unknown_uri_ignored():
    """Like Lean, an empty contentChanges does not bump the version; unknown URIs are ignored."""
    mirror, doc = opened("x")
    mirror.did_change({"textDocument": {"uri": URI, "version": 9}, "contentChanges": []})
    assert doc.version == 1
    assert mirror.did_change({"textDocument": {"uri": "file:///other", "version": 2},
                              "contentChanges": [{"text": "y"}]}) is None
    mirror.did_close({"textDocument": {"uri": URI}})
    assert URI not in mirror


def test_offset_and_position_round_trip():
    """offset_at and position_at are inverse on every position of a mixed document."""
    _, doc = opened("α 𝔽\n\nℕ → 𝓝 x\n")
    for offset in range(len(doc.text) + 1):
        line, char = doc.position_at(offset)
        assert doc.offset_at(line, char) == offset


ALPHABET = st.sampled_from(list("ab \n⊢α𝔽𝓝\r"))


def _utf16_apply(text: str, sl: int, sc: int, el: int, ec: int, new: str) -> str:
    """Reference: apply an edit on the UTF-16 encoding directly (no clamping needed)."""
    lines = text.split("\n")

    def offset(line: int, char: int) -> int:
        before = "\n".join(lines[:line]) + ("\n" if line else "")
        return len(before.encode("utf-16-le")) // 2 + char

    units = text.encode("utf-16-le")
    a, b = offset(sl, sc) * 2, offset(el, ec) * 2
    return (units[:a] + new.encode("utf-16-le") + units[b:]).decode("utf-16-le").replace("\r\n", "\n")


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, max_size=30), st.data())
def test_random_edits_match_utf16_reference(text, data):
    """Random in-range edits at character boundaries match a direct UTF-16 implementation."""
    text = text.replace("\r", "")
    _, doc = opened(text)
    lines = doc.lines
    assert len(lines) == doc.line_count

    def position() -> tuple[int, int]:
        line = data.draw(st.integers(0, len(lines) - 1))
        index = data.draw(st.integers(0, len(lines[line])))
        return line, index_to_utf16(lines[line], index)

    start, end = sorted([position(), position()])
    new = data.draw(st.text(ALPHABET, max_size=8))
    expected = _utf16_apply(doc.text, *start, *end, new)
    doc.apply_change({"range": rng(*start, *end), "text": new})
    assert doc.text == expected
