"""Dense retrieval: inner product of a query vector with stored float16 document vectors.

The base vectors are memory-mapped (``numpy.load(mmap_mode="r")``) and multiplied in
float32 chunks, so memory stays flat; vectors of delta documents live in memory.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CHUNK = 32768


class DenseIndex:
    """Vectors for base documents (float16, possibly memory-mapped) and delta documents."""

    def __init__(self, base: np.ndarray, delta: np.ndarray | None = None) -> None:
        self.base = base
        self.dim = int(base.shape[1]) if base.ndim == 2 else 0
        self.delta = delta if delta is not None else np.zeros((0, self.dim), np.float32)

    @property
    def n_docs(self) -> int:
        return int(self.base.shape[0] + self.delta.shape[0])

    def set_delta(self, vectors: np.ndarray) -> None:
        """Replace the delta vectors (rows follow the lexical delta's documents)."""
        self.delta = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity (rows are unit vectors) of every document with ``query``."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        n_base = self.base.shape[0]
        out = np.empty(self.n_docs, dtype=np.float32)
        for s in range(0, n_base, CHUNK):
            e = min(s + CHUNK, n_base)
            out[s:e] = np.asarray(self.base[s:e], dtype=np.float32) @ q
        if len(self.delta):
            out[n_base:] = self.delta @ q
        return out


def encode_all(encoder, texts: Sequence[str], *, batch: int = 256, progress=None) -> np.ndarray:
    """Encode ``texts`` in batches into a float16 matrix; ``progress(done, total)`` after each."""
    dim = int(encoder.dim)
    out = np.zeros((len(texts), dim), dtype=np.float16)
    for s in range(0, len(texts), batch):
        out[s : s + batch] = encoder.encode(list(texts[s : s + batch]))
        if progress:
            progress(min(s + batch, len(texts)), len(texts))
    return out
