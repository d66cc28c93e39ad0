"""Dense and hybrid search through PremiseIndex with the real int8 MiniLM from PyPI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from copilot.premises import PremiseIndex

from .helpers import copy_project

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def encoder():
    from local_models import onnx_encoder
    from local_models.errors import ModelNotFound

    try:
        enc = onnx_encoder.load_pypi_minilm(threads=2)
    except ModelNotFound as e:
        pytest.skip(str(e))
    yield enc
    enc.close()


def test_dense_vectors_stored_and_hybrid_search(tmp_path: Path, encoder):
    """With an encoder: float16 vectors are stored memory-mapped, reused on reopen, and hybrid search ranks well."""
    project = copy_project(tmp_path)
    cache = tmp_path / "cache"
    idx = PremiseIndex.open(project, encoder=encoder, cache_root=cache, include_toolchain=False)
    assert idx.stats()["dense"] and idx.stats()["encoder"] == "all-minilm-l6-v2-int8"
    vec = np.load(idx.folder / "vectors.npy", mmap_mode="r")
    assert vec.dtype == np.float16 and vec.shape == (len(idx._base_decls), 384)
    again = PremiseIndex.open(project, encoder=encoder, cache_root=cache, include_toolchain=False)
    assert again.rebuilt_reason is None and isinstance(again._dense.base, np.memmap)
    assert again.fusion == ("zscore", 0.5)
    assert again.search("n : ℕ\n⊢ Nat.gcd n n = n", k=3)[0].name == "Helper.gcd_self'"  # learned + dense
    again.learned = False  # the lexical/dense fusions on their own
    for fusion in (("zscore", 0.5), ("weighted", 0.3), ("rrf", 0.5), ("dense", 1.0)):
        again.fusion = fusion
        hits = again.search("n : ℕ\n⊢ Nat.gcd n n = n", k=3)
        assert hits[0].name == "Helper.gcd_self'", fusion
    # natural language only the dense side can match ("swap" shares no token with add_comm')
    again.fusion = ("dense", 1.0)
    assert "Helper.add_comm'" in [h.name for h in again.search("swapping the two summands", k=3)]


def test_lexical_index_reopened_with_encoder_builds_vectors(tmp_path: Path, encoder):
    """An index built without vectors is rebuilt when an encoder is configured; delta files get vectors."""
    project = copy_project(tmp_path)
    cache = tmp_path / "cache"
    PremiseIndex.open(project, cache_root=cache, include_toolchain=False)
    idx = PremiseIndex.open(project, encoder=encoder, cache_root=cache, include_toolchain=False)
    assert idx.rebuilt_reason and "vectors" in idx.rebuilt_reason
    f = project / "Demo" / "Unrelated.lean"
    f.write_text("/-- The circle constant is positive. -/\ntheorem pi_positive_fact : True := trivial\n")
    idx.update_file(f)
    assert idx._dense.delta.shape == (1, 384)
    idx.learned, idx.fusion = False, ("dense", 1.0)
    assert idx.search("pi is greater than zero", k=1)[0].name == "pi_positive_fact"
