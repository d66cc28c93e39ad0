"""Lean-backed extraction: the DumpDecls output format, and (with Lean) agreement with the source extractor."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from copilot.premises.extract_lean import LeanExtractionError, dump_program, parse_dump, run_dump
from copilot.premises.extract_source import extract_text

LINES = [
    json.dumps({"name": "Nat.add_comm", "kind": "theorem", "type": "∀ (n m : ℕ), n + m = m + n",
                "module": "Init.Data.Nat.Basic", "doc": "Addition commutes.", "line": 120, "simp": False,
                "instance": False}),
    "",
    json.dumps({"name": "Nat.succ_ne_zero", "kind": "theorem", "type": "∀ (n : ℕ), n.succ ≠ 0",
                "module": "Init.Core", "doc": None, "line": None, "simp": True, "instance": False}),
    json.dumps({"name": "List.rec", "kind": "recursor", "type": "...", "module": "Init.Prelude", "doc": None,
                "line": 1, "simp": False, "instance": False}),
]


def test_dump_program_is_package_data():
    """DumpDecls.lean ships inside the package and is a Lean program with a main."""
    text = dump_program().read_text(encoding="utf-8")
    assert "def main (args : List String) : IO UInt32" in text and "findDeclarationRanges?" in text


def test_parse_dump_gives_declarations():
    """JSON lines become Declaration records like the source extractor's; unknown kinds are dropped."""
    decls = parse_dump(LINES, {"Init.Data.Nat.Basic": "Init/Data/Nat/Basic.lean"})
    assert [d.name for d in decls] == ["Nat.add_comm", "Nat.succ_ne_zero"]
    a, s = decls
    assert a.kind == "theorem" and a.file == "Init/Data/Nat/Basic.lean" and a.line == 120
    assert a.signature == "theorem Nat.add_comm : ∀ (n m : ℕ), n + m = m + n"
    assert a.docstring == "Addition commutes." and a.attributes == ()
    assert s.attributes == ("simp",) and s.line == 0 and s.file == "Init/Core.lean"


def test_parse_dump_rejects_garbage():
    """A line that is not a dump record is a LeanExtractionError naming the line."""
    with pytest.raises(LeanExtractionError, match="line 2"):
        parse_dump([LINES[0], "error: unknown module prefix 'Foo'"])


def test_run_dump_without_lake(monkeypatch, tmp_path):
    """Without `lake` on PATH the Lean-backed extractor says so instead of crashing."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LeanExtractionError, match="lake"):
        run_dump(tmp_path, ["Init"])


DEMO = """namespace Demo
/-- Doubling. -/
def double (n : Nat) : Nat := n + n
@[simp] theorem double_eq (n : Nat) : double n = n + n := rfl
structure Point where
  x : Nat
  y : Nat
inductive Color where
  | red
  | blue
end Demo
"""


@pytest.mark.lean
def test_real_lean_dump_agrees_with_source_extraction(tmp_path: Path):
    """With a real toolchain: DumpDecls finds every declaration the source extractor finds, with simp and docs."""
    (tmp_path / "lakefile.toml").write_text('name = "demo"\n[[lean_lib]]\nname = "Demo"\n')
    (tmp_path / "Demo.lean").write_text(DEMO)
    subprocess.run(["lake", "build"], cwd=tmp_path, check=True, capture_output=True, timeout=600)
    dumped = {d.name: d for d in run_dump(tmp_path, ["Demo"]) if d.module == "Demo"}
    source = {d.name for d in extract_text(DEMO, "Demo.lean").declarations}
    assert source <= set(dumped)
    assert "simp" in dumped["Demo.double_eq"].attributes
    assert dumped["Demo.double"].docstring == "Doubling."
    assert dumped["Demo.Point"].kind == "structure" and dumped["Demo.Point.x"].kind == "field"
    assert all(dumped[n].kind == k for n, k in (("Demo.Color.red", "constructor"), ("Demo.double", "def")))


def test_index_falls_back_to_source_extraction_without_lake(monkeypatch, tmp_path):
    """PremiseIndex.open(lean=True) without lake keeps the source-extracted declarations."""
    from copilot.premises import PremiseIndex

    from .helpers import copy_project

    project = copy_project(tmp_path)
    monkeypatch.setattr("copilot.premises.extract_lean.shutil.which", lambda name: None)
    idx = PremiseIndex.open(project, cache_root=tmp_path / "c", include_toolchain=False, lean=True)
    assert idx.search("gcd", k=1)[0].name == "Helper.gcd_self'"


def test_index_uses_lean_declarations_when_dump_succeeds(monkeypatch, tmp_path):
    """When the dump succeeds, the project's modules take Lean's records (here a scripted dump)."""
    from copilot.premises import PremiseIndex, extract_lean

    from .helpers import copy_project

    project = copy_project(tmp_path)
    fake = [json.dumps({"name": "Demo.only_from_lean", "kind": "theorem", "type": "True", "module": "Demo.Later",
                        "doc": None, "line": 3, "simp": True, "instance": False})]
    monkeypatch.setattr(extract_lean, "run_dump", lambda root, modules, **kw: parse_dump(fake))
    idx = PremiseIndex.open(project, cache_root=tmp_path / "c", include_toolchain=False, lean=True)
    hit = idx.search("only from lean", k=1)[0]
    assert (hit.name, hit.file, hit.kind) == ("Demo.only_from_lean", "Demo/Later.lean", "theorem")
    assert "Demo.double_two" not in [h.name for h in idx.search("double two", k=50)]  # Later's source decls replaced
    assert "Demo.double" in [h.name for h in idx.search("double", k=50)]  # other modules untouched (not dumped)
