"""Write tiny random-weight GGUF models (llama architecture) for tests and benchmarks.

The files are real GGUF models that llama.cpp loads and runs: a SentencePiece-style
vocabulary (control tokens, the 256 ``<0xXX>`` byte-fallback tokens so any UTF-8 text
tokenizes, single characters and a few Lean words with ``▁`` for spaces) and random
weights in F32, F16, Q4_0 or Q8_0. Dimensions are configurable, so the same writer makes a
75 KB unit-test model or a model with a real architecture's shape for benchmarks.

Usage as a script::

    python -m tests.local_models.tiny_gguf OUT.gguf [f32|f16|q4_0|q8_0] [--dims 64,128,2,4,2,512]
"""
from __future__ import annotations

import argparse
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORDS = (
    "simp", "rfl", "omega", "intro", "exact", "apply", "ring", "linarith", "aesop", "decide",
    "cases", "induction", "constructor", "rw", "norm_num", "by", "fun", "with", "at", "theorem",
    "Nat", "succ", "add", "mul", "comm", "zero", "gcd", "self", "le", "lt", "eq", "h", "n", "m",
)
WEIGHT_TYPES = ("f32", "f16", "q4_0", "q8_0")


@dataclass(frozen=True)
class TinyDims:
    """Model shape: embedding width, feed-forward width, layers, heads, KV heads, context."""

    n_embd: int = 64
    n_ff: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2
    n_ctx: int = 512
    n_vocab: int | None = None  # None: exactly the built-in vocabulary; larger pads with filler pieces

    @classmethod
    def parse(cls, text: str) -> TinyDims:
        """Parse ``n_embd,n_ff,n_layer,n_head,n_head_kv,n_ctx[,n_vocab]``."""
        parts = [int(p) for p in text.split(",")]
        if len(parts) not in (6, 7):
            raise ValueError(f"expected 6 or 7 comma-separated integers, got {text!r}")
        return cls(*parts)


# SmolLM2-135M's shape (docs/models.md §5), used by the W4A8 benchmark.
SMOLLM2_135M = TinyDims(n_embd=576, n_ff=1536, n_layer=30, n_head=9, n_head_kv=3, n_ctx=2048, n_vocab=49152)


def build_vocab(n_vocab: int | None = None) -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style pieces, scores and token types (unk, bos, eos, 256 bytes, pieces)."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces: list[str] = ["▁"]
    printable = string.ascii_letters + string.digits + string.punctuation
    pieces += list(printable)
    pieces += ["▁" + c for c in string.ascii_letters + string.digits + "(⟨[{:=←→"]
    pieces += ["▁" + w for w in WORDS] + [w for w in WORDS if len(w) > 1]
    seen: set[str] = set()
    unique = [p for p in pieces if not (p in seen or seen.add(p))]
    if n_vocab is not None:
        filler = (f"▁w{i}" for i in range(10**7))
        while len(tokens) + len(unique) < n_vocab:
            unique.append(next(filler))
        unique = unique[: max(0, n_vocab - len(tokens))]
    tokens += unique
    types += [gguf.TokenType.NORMAL] * len(unique)
    # Longer pieces get higher scores so the SPM tokenizer prefers whole words.
    scores = [0.0] * (3 + 256) + [float(len(p)) - 0.001 * i for i, p in enumerate(unique)]
    return tokens, scores, [int(t) for t in types]


def _tensor(writer, name: str, arr: np.ndarray, weight_type: str) -> None:
    import gguf
    from gguf import GGMLQuantizationType as Q

    if arr.ndim == 1 or weight_type == "f32":
        writer.add_tensor(name, arr.astype(np.float32))
    elif weight_type == "f16":
        writer.add_tensor(name, arr.astype(np.float16))
    else:
        qtype = {"q4_0": Q.Q4_0, "q8_0": Q.Q8_0}[weight_type]
        writer.add_tensor(name, gguf.quants.quantize(arr.astype(np.float32), qtype), raw_dtype=qtype)


def write_tiny_gguf(
    path: str | Path,
    weight_type: str = "f32",
    dims: TinyDims = TinyDims(),
    *,
    seed: int = 0,
    name: str = "tiny-random-llama",
    byte_output_scale: float = 0.0,
) -> Path:
    """Write a random-weight llama-architecture GGUF to ``path`` and return the path.

    ``weight_type`` is one of ``f32``, ``f16``, ``q4_0``, ``q8_0`` (norms stay F32). Row
    lengths (``n_embd``, ``n_ff``) must be multiples of 32 for the quantized types.
    ``byte_output_scale`` scales the output rows of the control and byte-fallback tokens: at
    the default 0 their logit is 0, below most word pieces, so free generation gives readable
    (valid UTF-8) text, while a grammar can still force byte tokens (``⊢`` is three of them).
    """
    import gguf

    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}, got {weight_type!r}")
    if weight_type.startswith("q") and (dims.n_embd % 32 or dims.n_ff % 32):
        raise ValueError("n_embd and n_ff must be multiples of 32 for Q4_0/Q8_0")
    if dims.n_embd % dims.n_head or dims.n_head % dims.n_head_kv:
        raise ValueError("n_embd must divide by n_head and n_head by n_head_kv")
    path = Path(path)
    tokens, scores, types = build_vocab(dims.n_vocab)
    n_vocab = len(tokens)
    head_dim = dims.n_embd // dims.n_head
    file_type = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[weight_type]

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(dims.n_ctx)
    writer.add_embedding_length(dims.n_embd)
    writer.add_block_count(dims.n_layer)
    writer.add_feed_forward_length(dims.n_ff)
    writer.add_head_count(dims.n_head)
    writer.add_head_count_kv(dims.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(file_type)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * (1.0 / np.sqrt(shape[-1]))).astype(np.float32)

    _tensor(writer, "token_embd.weight", rand(n_vocab, dims.n_embd) * 4.0, weight_type)
    _tensor(writer, "output_norm.weight", np.ones(dims.n_embd, np.float32), weight_type)
    output = rand(n_vocab, dims.n_embd) * 4.0
    output[: 3 + 256] *= byte_output_scale
    _tensor(writer, "output.weight", output, weight_type)
    kv_dim = dims.n_head_kv * head_dim
    for i in range(dims.n_layer):
        blk = f"blk.{i}"
        _tensor(writer, f"{blk}.attn_norm.weight", np.ones(dims.n_embd, np.float32), weight_type)
        _tensor(writer, f"{blk}.attn_q.weight", rand(dims.n_embd, dims.n_embd), weight_type)
        _tensor(writer, f"{blk}.attn_k.weight", rand(kv_dim, dims.n_embd), weight_type)
        _tensor(writer, f"{blk}.attn_v.weight", rand(kv_dim, dims.n_embd), weight_type)
        _tensor(writer, f"{blk}.attn_output.weight", rand(dims.n_embd, dims.n_embd), weight_type)
        _tensor(writer, f"{blk}.ffn_norm.weight", np.ones(dims.n_embd, np.float32), weight_type)
        _tensor(writer, f"{blk}.ffn_gate.weight", rand(dims.n_ff, dims.n_embd), weight_type)
        _tensor(writer, f"{blk}.ffn_up.weight", rand(dims.n_ff, dims.n_embd), weight_type)
        _tensor(writer, f"{blk}.ffn_down.weight", rand(dims.n_embd, dims.n_ff), weight_type)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: write one tiny model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("weight_type", nargs="?", default="f32", choices=WEIGHT_TYPES)
    parser.add_argument("--dims", type=TinyDims.parse, default=TinyDims())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = write_tiny_gguf(args.out, args.weight_type, args.dims, seed=args.seed)
    print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
