"""The learned signals: proof graph stored with the index and kept current, k-NN over proofs,
a fusion fitted on the project's own proofs, exact statement matches first (issue 12)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from copilot.premises import PremiseIndex
from copilot.premises.learned import DEFAULT_WEIGHTS, FEATURES, MIN_TRAINING, Fusion
from copilot.premises.signals import FeatureBase, FeatureIndex, ProofGraph

ALGEBRA = """namespace Alg

/-- Swapping the arguments of the twisted product. -/
theorem twist_swap (a b : Nat) : twist a b = twist b a := sorry

theorem twist_assoc (a b c : Nat) : twist (twist a b) c = twist a (twist b c) := sorry

theorem bump_twist (a b : Nat) : bump (twist a b) = twist (bump a) b := by
  rw [twist_swap]
  simp [twist_assoc]

theorem bump_twist' (a b : Nat) : bump (twist b a) = twist b (bump a) := by
  rw [twist_swap, twist_assoc]

end Alg
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lakefile.toml").write_text('name = "p"\n')
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def open_index(root: Path, tmp_path: Path, **kw) -> PremiseIndex:
    return PremiseIndex.open(root, cache_root=tmp_path / "cache", include_toolchain=False, **kw)


def test_proof_graph_is_stored_and_follows_saves(tmp_path: Path):
    root = write_project(tmp_path / "p", {"P/Alg.lean": ALGEBRA})
    idx = open_index(root, tmp_path)
    st = idx.stats()
    assert st["proofs"] == 2 and st["premise_edges"] == 4
    again = open_index(root, tmp_path)
    assert again.rebuilt_reason is None and again.stats()["premise_edges"] == 4
    # a save adds a proof that uses `twist_swap`: the graph and popularity follow
    (root / "P" / "More.lean").write_text(
        "theorem Alg.uses (a b : Nat) : twist a b = twist b a := Alg.twist_swap a b\n"
    )
    again.update_file(root / "P" / "More.lean")
    st = again.stats()
    assert st["proofs"] == 3 and st["premise_edges"] == 5
    m = again._model
    swap = next(i for i, d in enumerate(again._base_decls) if d.name == "Alg.twist_swap")
    assert m.graph.usage[swap] == 3
    # re-saving the algebra file without the bump lemmas drops their edges; `twist_swap` keeps its new use
    (root / "P" / "Alg.lean").write_text(ALGEBRA.split("theorem bump_twist ")[0] + "end Alg\n")
    again.update_file(root / "P" / "Alg.lean")
    st = again.stats()
    assert st["proofs"] == 1 and st["premise_edges"] == 1
    new_swap = next(i for i in np.flatnonzero(again._alive) if again._decl(int(i)).name == "Alg.twist_swap")
    assert m.graph.usage[new_swap] == 1 and m.graph.usage[swap] == 0
    # the delta (with its proofs' references) is stored: a reopen sees the same graph
    reopened = open_index(root, tmp_path)
    assert reopened.rebuilt_reason is None
    assert reopened.stats()["proofs"] == 1 and reopened.stats()["premise_edges"] == 1


DISTRACTORS = "".join(
    f"theorem bump_twist_{w} (a b : Nat) : bump (twist a {w}) = twist (bump a) {w} := sorry\n"
    for w in ("zero", "one", "two", "three", "four", "five")
)


def test_knn_suggests_premises_that_share_no_word_with_the_query(tmp_path: Path):
    """`twist_assoc` ranks low lexically for this query, but the most similar proofs use it."""
    root = write_project(tmp_path / "p", {"P/Alg.lean": ALGEBRA, "P/More.lean": DISTRACTORS})
    idx = open_index(root, tmp_path)
    query = "theorem bump_twist'' (x y : Nat) : bump (twist x y) = twist x (bump y)"
    learned = [h.name for h in idx.search(query, k=5)]
    assert "Alg.twist_assoc" in learned
    idx.learned = False
    assert "Alg.twist_assoc" not in [h.name for h in idx.search(query, k=5)]


def test_fusion_is_fitted_on_the_projects_proofs_and_stored(tmp_path: Path):
    """Enough proved theorems: weights are learned (not the defaults) and survive a reopen."""
    lines = ["namespace Gen"]
    for i in range(MIN_TRAINING + 20):
        lines.append(f"theorem base{i} (a : Nat) : foo{i} a = bar{i} a := sorry")
        lines.append(f"theorem use{i} (a : Nat) : baz{i} (foo{i} a) = baz{i} (bar{i} a) := by rw [base{i}]")
    lines.append("end Gen")
    root = write_project(tmp_path / "p", {"P/Gen.lean": "\n".join(lines) + "\n"})
    idx = open_index(root, tmp_path)
    assert idx.stats()["fusion"].startswith("learned on ")
    w = idx._model.fusion.weights
    assert not np.allclose(w, DEFAULT_WEIGHTS)
    again = open_index(root, tmp_path)
    assert np.allclose(again._model.fusion.weights, w)
    hits = again.search("theorem use_new (a : Nat) : baz7 (foo7 a) = baz7 (bar7 a)", k=3)
    assert "Gen.base7" in [h.name for h in hits]
    # an update refits incrementally from the stored training groups
    (root / "P" / "Extra.lean").write_text("theorem Gen.more (a : Nat) : foo3 a = bar3 a := Gen.base3 a\n")
    before = len(again._model.train)
    again.update_file(root / "P" / "Extra.lean")
    assert len(again._model.train) == before + 1


def test_exact_statement_match_ranks_first(tmp_path: Path):
    """Issue 12: `a + b = b + a` puts `my_add_comm` (exact, up to variable names) above `zero_add'`."""
    text = (
        "theorem zero_add' (a : Nat) : 0 + a = a := sorry\n"
        "theorem add_zero_comm (a b : Nat) : a + 0 + b = b + a + 0 := sorry\n"
        "theorem my_add_comm (x y : Nat) : x + y = y + x := sorry\n"
    )
    root = write_project(tmp_path / "p", {"P/A.lean": text})
    idx = open_index(root, tmp_path)
    assert idx.search("a + b = b + a", k=3)[0].name == "my_add_comm"
    assert idx.search_goal("a b : Nat\n⊢ a + b = b + a", k=3)[0].name == "my_add_comm"


def test_feature_index_delta_and_tombstones():
    base = FeatureBase.build([("c:A", "c:B"), ("c:B",), ("w:x",)])
    fi = FeatureIndex(base)
    s, cnt = fi.overlap({"c:B": 2.0, "c:A": 1.0}, count=True)
    assert s.tolist() == [3.0, 2.0, 0.0] and cnt.tolist() == [2.0, 1.0, 0.0]
    fi.tombstones = np.asarray([True, False, False])
    fi.set_delta([("c:A",)])
    s, _ = fi.overlap({"c:A": 1.0})
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert fi.n_const().tolist() == [2, 1, 0, 1]


def test_proof_graph_remaps_replaced_premises():
    g = ProofGraph.build([[], [0], [0, 1]], 3)
    assert g.usage.tolist() == [2.0, 1.0, 0.0]
    # document 0 was re-extracted as delta document 3; document 2's proof was replaced by doc 4
    g.set_delta({4: [3]}, np.asarray([True, False, True]), {0: 3, 2: -1}, 5)
    assert g.usage.tolist() == [0.0, 0.0, 0.0, 2.0, 0.0]
    assert g.premises_of(1).tolist() == [3] and g.premises_of(2).tolist() == []
    assert g.proved().tolist() == [False, True, False, False, True]


def test_fusion_fit_learns_the_informative_signal():
    """Listwise fit on synthetic groups: the feature that marks premises gets the weight."""
    rng = np.random.default_rng(1)
    groups = []
    informative = FEATURES.index("knn")
    for _ in range(MIN_TRAINING * 2):
        x = rng.random((20, len(FEATURES)))
        y = np.zeros(20, bool)
        y[rng.integers(20)] = True
        x[y, informative] += 1.0
        groups.append((x, y))
    f = Fusion()
    f.fit(groups)
    assert f.fitted_on == len(groups)
    others = np.delete(np.abs(f.weights), informative)
    assert f.weights[informative] > 3 * others.max()
    small = Fusion()
    small.fit(groups[: MIN_TRAINING - 1])
    assert small.fitted_on == 0 and np.allclose(small.weights, DEFAULT_WEIGHTS)
