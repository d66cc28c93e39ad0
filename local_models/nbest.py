"""Batched n-best decoding over llama.cpp's low-level API (docs/models.md §2.2).

One prompt is decoded once on sequence 0; its KV cells are shared with sequences
1..n-1 (``llama_memory_seq_cp`` in a ``kv_unified`` context, a metadata-only copy); the
first step branches on the top-n distinct next tokens and every later step decodes one
token for each live sequence in a single ``llama_decode``. Candidates carry summed
log-probabilities. Stop sequences are matched on the generated *bytes*, so a stop string
made of multi-byte characters (``⊢``, ``ℕ``; byte-fallback tokens in SentencePiece
vocabularies) is found whatever the token boundaries. An optional GBNF grammar constrains
every sequence (one llama.cpp grammar sampler per sequence). The last prompt stays in
sequence 0, so a following request on the same goal re-decodes only the tokens after the
common prefix.

Everything here is blocking native code and not thread-safe: call it from one worker
thread (:mod:`local_models.worker`). Native log output is routed to :mod:`logging`, never
to stdout/stderr.
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import llama_cpp
import numpy as np

log = logging.getLogger(__name__)
native_log = logging.getLogger(__name__ + ".native")

Finish = Literal["stop", "eog", "length", "deadline", "cancelled", "grammar"]

# ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the previous line)
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_recent_errors: collections.deque[str] = collections.deque(maxlen=20)
_last_level = [logging.DEBUG]
_init_lock = threading.Lock()
_initialised = [False]


@llama_cpp.llama_log_callback
def _route_native_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    """llama.cpp/ggml log callback: forward to logging; remember warnings and errors."""
    try:
        py_level = _last_level[0] if level == 5 else _LEVELS.get(level, logging.DEBUG)
        _last_level[0] = py_level
        message = text.decode("utf-8", "replace").rstrip("\n")
        if py_level >= logging.WARNING and message:
            _recent_errors.append(message)
        if message:
            native_log.log(py_level, "%s", message)
    except Exception:  # a callback from C must never raise
        pass


def ensure_native_initialised() -> None:
    """Initialise the llama.cpp backend once and route its logs to :mod:`logging`."""
    with _init_lock:
        if _initialised[0]:
            return
        llama_cpp.llama_log_set(_route_native_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _initialised[0] = True


def recent_native_errors(clear: bool = True) -> list[str]:
    """The last warning/error lines llama.cpp logged (used to explain a failed load)."""
    lines = list(_recent_errors)
    if clear:
        _recent_errors.clear()
    return lines


def physical_cores() -> int:
    """Physical cores this process may use (:func:`local_models.cpu.physical_cores`)."""
    from local_models.cpu import physical_cores as cores

    return cores()


class NativeLoadError(RuntimeError):
    """llama.cpp refused the file; the message includes what it logged."""


class CorruptWeightsError(RuntimeError):
    """The model computes non-finite logits: its weights are damaged (the file loaded anyway)."""


class NativeModel:
    """Loaded GGUF weights plus the vocabulary: tokenize and token → bytes."""

    def __init__(self, path: str | Path, *, vocab_only: bool = False) -> None:
        ensure_native_initialised()
        recent_native_errors(clear=True)
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0
        params.vocab_only = vocab_only
        ptr = llama_cpp.llama_model_load_from_file(os.fsencode(str(path)), params)
        if not ptr:
            detail = "; ".join(recent_native_errors()) or "no details logged"
            raise NativeLoadError(f"llama.cpp could not load {path}: {detail}")
        self.ptr = ptr
        self.path = Path(path)
        self.vocab = llama_cpp.llama_model_get_vocab(ptr)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(ptr))
        self._pieces: dict[int, bytes] = {}

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        """Tokens of ``text`` (BOS added when the model asks for it; special tokens parsed)."""
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, True)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, True)
        if n < 0:
            raise ValueError("tokenization failed")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (control tokens render as nothing)."""
        cached = self._pieces.get(token)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        out = buf.raw[: max(n, 0)]
        self._pieces[token] = out
        return out

    def is_eog(self, token: int) -> bool:
        """End-of-generation token (EOS, EOT, ...)."""
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def close(self) -> None:
        """Free the weights (idempotent)."""
        if getattr(self, "ptr", None):
            llama_cpp.llama_model_free(self.ptr)
            self.ptr = None

    def __enter__(self) -> NativeModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Samplers(contextlib.AbstractContextManager):
    """Owns the llama.cpp sampler objects one request creates; leaving the block frees every one.

    Grammar samplers are native allocations: whatever way a request ends (candidates, an error,
    cancellation, the deadline), ``with Samplers(vocab) as owned:`` releases what it made.
    """

    def __init__(self, vocab: ctypes.c_void_p) -> None:
        self._vocab = vocab
        self._live: list[ctypes.c_void_p] = []

    def grammar(self, grammar: str) -> ctypes.c_void_p:
        """A new grammar sampler for ``grammar`` (GBNF, rule ``root``), owned by this block."""
        smpl = llama_cpp.llama_sampler_init_grammar(self._vocab, grammar.encode("utf-8"), b"root")
        if not smpl:
            raise ValueError("invalid GBNF grammar: " + "; ".join(recent_native_errors()))
        self._live.append(smpl)
        return smpl

    def free(self, smpl: ctypes.c_void_p) -> None:
        """Free one sampler now (it stays owned until then)."""
        for i, live in enumerate(self._live):
            if live is smpl:
                del self._live[i]
                llama_cpp.llama_sampler_free(smpl)
                return

    def __len__(self) -> int:
        return len(self._live)

    def __exit__(self, *exc: object) -> None:
        live, self._live = self._live, []
        for smpl in reversed(live):
            llama_cpp.llama_sampler_free(smpl)


@dataclass(frozen=True)
class NBestParams:
    """What to generate for one prompt.

    ``temperature`` 0 means greedy after the first (branching) step. ``cancel`` is a
    ``threading.Event`` checked between decode steps; ``deadline`` a ``time.monotonic()``.
    """

    n: int = 8
    max_tokens: int = 48
    stops: tuple[str, ...] = ("\n",)
    grammar: str | None = None
    temperature: float = 0.0
    top_k: int = 40
    seed: int = 0
    deadline: float | None = None
    cancel: threading.Event | None = None


@dataclass(frozen=True)
class Completion:
    """One generated continuation: raw text (stop string excluded), summed log-prob."""

    text: str
    logprob: float
    n_tokens: int
    finish: Finish
    tokens: tuple[int, ...] = ()


@dataclass
class NBestStats:
    """Counters from the last request (for logs and benchmarks)."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    steps: int = 0
    prompt_s: float = 0.0
    decode_s: float = 0.0


@dataclass
class _Seq:
    seq_id: int
    tokens: list[int] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    logprob: float = 0.0
    finish: Finish | None = None
    stop_at: int | None = None
    grammar: ctypes.c_void_p | None = None


_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")], align=True)


def find_stop(data: bytes | bytearray, stops: Sequence[bytes], start: int = 0) -> int | None:
    """Index of the earliest stop sequence in ``data[start:]``, or None."""
    best: int | None = None
    for stop in stops:
        idx = data.find(stop, start)
        if idx >= 0 and (best is None or idx < best):
            best = idx
    return best


def decode_text(data: bytes | bytearray) -> str:
    """UTF-8 text of generated bytes, dropping an incomplete trailing character."""
    end = len(data)
    # Walk back over at most 3 continuation bytes to find a truncated lead byte.
    for back in range(1, min(4, end) + 1):
        b = data[end - back]
        if b & 0xC0 == 0x80:
            continue
        need = 1 if b < 0x80 else 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
        if need > back:
            end -= back
        break
    return bytes(data[:end]).decode("utf-8", "replace")


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64-safe float32."""
    m = logits.max(axis=1, keepdims=True)
    shifted = logits - m
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class NBestDecoder:
    """A llama context sized for ``n_seq_max`` parallel sequences over one loaded model.

    Not thread-safe; one request at a time, from one thread.
    """

    def __init__(
        self,
        model: NativeModel,
        *,
        n_ctx: int = 4096,
        n_seq_max: int = 16,
        n_batch: int = 512,
        threads: int | None = None,
    ) -> None:
        if not 1 <= n_seq_max <= 256:
            raise ValueError("n_seq_max must be within 1..256")
        self.model = model
        self.threads = threads or physical_cores()
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch
        cp.n_seq_max = n_seq_max
        cp.kv_unified = True
        cp.n_threads = self.threads
        cp.n_threads_batch = self.threads
        cp.no_perf = True
        ctx = llama_cpp.llama_init_from_model(model.ptr, cp)
        if not ctx:
            detail = "; ".join(recent_native_errors()) or "no details logged"
            raise NativeLoadError(f"could not create a llama context (n_ctx={n_ctx}): {detail}")
        self.ctx = ctx
        self.mem = llama_cpp.llama_get_memory(ctx)
        self.n_ctx = int(llama_cpp.llama_n_ctx(ctx))
        self.n_seq_max = n_seq_max
        self.n_batch = n_batch
        self._batch_cap = max(n_batch, n_seq_max)
        self.batch = llama_cpp.llama_batch_init(self._batch_cap, 0, n_seq_max)
        self._cached: list[int] = []  # prompt tokens whose KV is in sequence 0
        self.stats = NBestStats()
        self._closed = False

    # -- low-level helpers -------------------------------------------------------------

    def _fill(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        b = self.batch
        for i, (token, pos, seq, want_logits) in enumerate(entries):
            b.token[i] = token
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = want_logits
        b.n_tokens = len(entries)

    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> np.ndarray:
        """Decode one batch; return the logits rows of the entries that asked for them."""
        self._fill(entries)
        rc = llama_cpp.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc}")
        k = sum(1 for e in entries if e[3])
        if not k:
            return np.empty((0, self.model.n_vocab), np.float32)
        ptr = llama_cpp.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(k, self.model.n_vocab)).copy()

    def _reset_sequences(self, keep_prefix: int) -> None:
        """Drop every sequence except the first ``keep_prefix`` cells of sequence 0."""
        for s in range(1, self.n_seq_max):
            llama_cpp.llama_memory_seq_rm(self.mem, s, -1, -1)
        if not llama_cpp.llama_memory_seq_rm(self.mem, 0, keep_prefix, -1):
            llama_cpp.llama_memory_clear(self.mem, True)
            keep_prefix = 0
        self._cached = self._cached[:keep_prefix]

    def _prefill(self, prompt: list[int], params: NBestParams) -> np.ndarray | None:
        """Decode the prompt into sequence 0, reusing the cached prefix; last-token logits."""
        common = 0
        for a, b in zip(self._cached, prompt):
            if a != b:
                break
            common += 1
        common = min(common, len(prompt) - 1)  # the last token is re-decoded for its logits
        self._reset_sequences(common)
        self.stats.reused_tokens = common
        pos = common
        logits = None
        while pos < len(prompt):
            if _should_stop(params) is not None:
                return None
            chunk = prompt[pos : pos + self.n_batch]
            last = pos + len(chunk) == len(prompt)
            entries = [(t, pos + i, 0, last and i == len(chunk) - 1) for i, t in enumerate(chunk)]
            try:
                out = self._decode(entries)
            except Exception:
                llama_cpp.llama_memory_clear(self.mem, True)
                self._cached = []
                raise
            pos += len(chunk)
            self._cached = list(prompt[:pos])
            if last:
                logits = out[0]
        return logits

    # -- public API -----------------------------------------------------------------------

    def generate(self, prompt: list[int] | str, params: NBestParams) -> list[Completion]:
        """The best ``params.n`` distinct continuations of ``prompt``, best first."""
        if self._closed:
            raise RuntimeError("decoder is closed")
        tokens = self.model.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        if not tokens:
            raise ValueError("empty prompt")
        n = max(1, min(params.n, self.n_seq_max))
        need = len(tokens) + n * params.max_tokens
        if need > self.n_ctx:
            raise ValueError(
                f"prompt of {len(tokens)} tokens plus {n}×{params.max_tokens} generated tokens "
                f"exceeds the context of {self.n_ctx} tokens"
            )
        self.stats = NBestStats(prompt_tokens=len(tokens))
        t0 = time.perf_counter()
        logits0 = self._prefill(tokens, params)
        self.stats.prompt_s = time.perf_counter() - t0
        if logits0 is None:
            return []
        if not np.isfinite(logits0).any():
            raise CorruptWeightsError(
                f"{self.model.path} produces NaN/infinite logits: its weights are corrupt; download it again"
            )
        stops = tuple(s.encode("utf-8") for s in params.stops if s)
        max_stop = max((len(s) for s in stops), default=0)
        rng = np.random.default_rng(params.seed)
        seqs: list[_Seq] = []
        with Samplers(self.model.vocab) as owned:
            seqs = self._branch(logits0, n, params, stops, owned)
            for s in seqs[1:]:
                llama_cpp.llama_memory_seq_cp(self.mem, 0, s.seq_id, -1, -1)
            t1 = time.perf_counter()
            pos = len(tokens)
            while True:
                live = [s for s in seqs if s.finish is None]
                if not live:
                    break
                reason = _should_stop(params)
                if reason is not None:
                    for s in live:
                        s.finish = reason
                    break
                rows = self._decode([(s.tokens[-1], pos, s.seq_id, True) for s in live])
                self.stats.steps += 1
                pos += 1
                logp = log_softmax_rows(rows)
                for s, row, lp in zip(live, rows, logp):
                    token = self._pick(row, lp, s, params, rng)
                    if token is None:
                        s.finish = "grammar"
                        continue
                    self._append(s, token, float(lp[token]), params, stops, max_stop)
            self.stats.decode_s = time.perf_counter() - t1
            for s in seqs:
                s.grammar = None  # freed when the block ends
        return _dedupe([_finish_text(s) for s in seqs])

    def _allowed(self, smpl, token_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Logits with grammar-rejected tokens set to -inf (order of ``token_ids``)."""
        arr = np.zeros(len(token_ids), dtype=_TOKEN_DATA)
        arr["id"] = token_ids
        arr["logit"] = logits
        cand = llama_cpp.llama_token_data_array(
            data=arr.ctypes.data_as(llama_cpp.llama_token_data_p), size=len(arr), selected=-1, sorted=False
        )
        llama_cpp.llama_sampler_apply(smpl, ctypes.byref(cand))
        return arr["logit"]

    def _ranked(self, row: np.ndarray, smpl, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Token ids by descending logit (top ``k``; all tokens if a grammar rejects them all)."""
        k = min(k, len(row))
        ids = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
        ids = ids[np.argsort(-row[ids], kind="stable")]
        vals = row[ids]
        if smpl is not None:
            vals = self._allowed(smpl, ids, vals)
            if not np.isfinite(vals).any() and k < len(row):
                return self._ranked(row, smpl, len(row))
            keep = np.isfinite(vals)
            ids, vals = ids[keep], vals[keep]
        return ids, vals

    def _branch(
        self, logits: np.ndarray, n: int, params: NBestParams, stops: tuple[bytes, ...], owned: Samplers
    ) -> list[_Seq]:
        """First step: the top-n distinct allowed tokens, one per sequence (samplers owned by ``owned``)."""
        lp = log_softmax_rows(logits[None, :])[0]
        probe = owned.grammar(params.grammar) if params.grammar else None
        ids, _ = self._ranked(logits, probe, max(4 * n, params.top_k))
        if probe is not None:
            owned.free(probe)
        chosen: list[int] = []
        keys: set[bytes] = set()
        for tok in ids.tolist():
            if self.model.is_eog(tok):
                continue
            piece = self.model.piece(tok)
            if find_stop(piece, stops) == 0:
                continue
            key = piece.lstrip()
            if key in keys:
                continue
            keys.add(key)
            chosen.append(tok)
            if len(chosen) == n:
                break
        seqs = []
        for i, tok in enumerate(chosen):
            s = _Seq(seq_id=i, grammar=owned.grammar(params.grammar) if params.grammar else None)
            self._append(s, tok, float(lp[tok]), params, stops, max((len(x) for x in stops), default=0))
            seqs.append(s)
        return seqs

    def _pick(self, row: np.ndarray, lp: np.ndarray, s: _Seq, params: NBestParams, rng) -> int | None:
        """Next token for one sequence: greedy, or temperature sampling over the top-k."""
        if s.grammar is None and params.temperature <= 0:
            return int(np.argmax(row))
        ids, vals = self._ranked(row, s.grammar, params.top_k)
        if len(ids) == 0:
            return None
        if params.temperature <= 0:
            return int(ids[0])
        z = (vals - vals.max()) / params.temperature
        p = np.exp(z)
        return int(rng.choice(ids, p=p / p.sum()))

    def _append(
        self, s: _Seq, token: int, logprob: float, params: NBestParams, stops: tuple[bytes, ...], max_stop: int
    ) -> None:
        s.tokens.append(token)
        s.logprob += logprob
        if s.grammar is not None:
            llama_cpp.llama_sampler_accept(s.grammar, token)
        if self.model.is_eog(token):
            s.finish = "eog"
            return
        start = max(0, len(s.data) - max_stop + 1)
        s.data += self.model.piece(token)
        at = find_stop(s.data, stops, start) if stops else None
        if at is not None:
            s.stop_at = at
            s.finish = "stop"
        elif len(s.tokens) >= params.max_tokens:
            s.finish = "length"

    def forget(self) -> None:
        """Drop all KV cells, including the cached prompt (the next request starts cold)."""
        llama_cpp.llama_memory_clear(self.mem, True)
        self._cached = []

    def close(self) -> None:
        """Free the context and batch (idempotent; the model is freed by its owner)."""
        if self._closed:
            return
        self._closed = True
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)
        self.ctx = None

    def __enter__(self) -> NBestDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _should_stop(params: NBestParams) -> Finish | None:
    if params.cancel is not None and params.cancel.is_set():
        return "cancelled"
    if params.deadline is not None and time.monotonic() >= params.deadline:
        return "deadline"
    return None


def _finish_text(s: _Seq) -> Completion:
    data = s.data if s.stop_at is None else s.data[: s.stop_at]
    return Completion(decode_text(data), s.logprob, len(s.tokens), s.finish or "length", tuple(s.tokens))


def _dedupe(items: list[Completion]) -> list[Completion]:
    """Drop empty and duplicate texts (keeping the better score); best first."""
    best: dict[str, Completion] = {}
    for c in items:
        key = c.text.strip()
        if not key or not math.isfinite(c.logprob):
            continue
        if key not in best or c.logprob > best[key].logprob:
            best[key] = c
    return sorted(best.values(), key=lambda c: c.logprob, reverse=True)
