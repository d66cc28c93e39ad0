"""The ByT5 byte tokenizer (needs no files): token id = UTF-8 byte + 3.

Ids 0, 1 and 2 are pad, end-of-sequence and unknown; ids 3..258 are the 256 byte values;
ByT5 checkpoints have 125 more "extra ids" above that which never decode to text.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
OFFSET = 3
BYTE_IDS = range(OFFSET, OFFSET + 256)  # the ids that stand for bytes
DECODER_START_ID = PAD_ID  # T5 starts decoding from the pad id

__all__ = [
    "BYTE_IDS",
    "DECODER_START_ID",
    "EOS_ID",
    "OFFSET",
    "PAD_ID",
    "UNK_ID",
    "decode",
    "decode_bytes",
    "encode",
    "valid_output_mask",
]


def encode(text: str, *, max_bytes: int | None = None, add_eos: bool = True) -> np.ndarray:
    """Token ids (int64) of ``text``: its UTF-8 bytes + 3, cut to ``max_bytes`` bytes
    (never inside a character), then eos as ByT5's tokenizer appends it."""
    data = text.encode("utf-8")
    if max_bytes is not None and len(data) > max_bytes:
        data = data[:max_bytes].decode("utf-8", errors="ignore").encode("utf-8")
    ids = np.frombuffer(data, dtype=np.uint8).astype(np.int64) + OFFSET
    if add_eos:
        ids = np.append(ids, np.int64(EOS_ID))
    return ids


def decode_bytes(ids: Iterable[int]) -> bytes:
    """The bytes that ``ids`` stand for, stopping at eos; special and extra ids are skipped."""
    out = bytearray()
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if OFFSET <= i < OFFSET + 256:
            out.append(i - OFFSET)
    return bytes(out)


def decode(ids: Iterable[int], *, errors: str = "strict") -> str:
    """The text of ``ids`` (see :func:`decode_bytes`); raises ``UnicodeDecodeError`` on
    invalid UTF-8 unless ``errors`` says otherwise."""
    return decode_bytes(ids).decode("utf-8", errors=errors)


def valid_output_mask(vocab_size: int) -> np.ndarray:
    """Boolean mask over the vocabulary of the ids a decoder may emit: eos and the bytes.

    Pad, unk and the extra ids carry no text, so decoding never chooses them.
    """
    mask = np.zeros(vocab_size, dtype=bool)
    mask[EOS_ID] = True
    mask[OFFSET: min(vocab_size, OFFSET + 256)] = True
    return mask
