"""ByT5-class encoder–decoder tactic generator on onnxruntime (ReProver's tacgen model).

The model directory holds an Optimum-style export:

* ``encoder_model.onnx``: ``input_ids``, ``attention_mask`` → ``last_hidden_state``;
* ``decoder_model.onnx``: ``input_ids``, ``encoder_attention_mask``,
  ``encoder_hidden_states`` → ``logits`` (plus ``present.*`` caches, if exported with past);
* optionally ``decoder_with_past_model.onnx``: one new token plus ``past_key_values.*`` →
  ``logits``, ``present.*``. Without it (or when the caches do not line up) the decoder is
  re-run over the whole prefix at every step, which gives the same tokens, only slower.

Decoding is numpy: greedy for ``n == 1``, else beam search with ``num_beams = n``,
``num_return_sequences = n`` and length penalty 0 like ReProver (a hypothesis scores the sum
of its token log-probabilities). Tokens are bytes + 3 (:mod:`local_models.byt5`); only eos
and byte ids may be emitted. Everything blocking runs on the model's own worker thread; the
deadline and the cancel event are checked between decoder steps.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from local_models import byt5
from local_models.errors import ModelLoadError, ModelNotFound
from local_models.generation import Candidate, GenerationRequest, Role
from local_models.worker import ModelWorker

log = logging.getLogger(__name__)

ENCODER_FILE = "encoder_model.onnx"
DECODER_FILE = "decoder_model.onnx"
DECODER_WITH_PAST_FILE = "decoder_with_past_model.onnx"
#: ReProver truncates its input to this many bytes.
MAX_INPUT_BYTES = 2300
#: ``GenerationRequest.max_tokens`` counts tokens of BPE models; a byte model gets this many
#: decoder steps per requested token (a code BPE token is about 3–4 bytes).
BYTES_PER_TOKEN = 4
DEFAULT_MAX_LENGTH = 256

__all__ = [
    "DECODER_FILE",
    "DECODER_WITH_PAST_FILE",
    "ENCODER_FILE",
    "Hypothesis",
    "OnnxSeq2SeqGenerator",
    "Seq2SeqModel",
    "load",
    "load_async",
    "log_softmax",
    "model_files",
]


@dataclass(frozen=True)
class Hypothesis:
    """One decoded sequence: output ids (no start token, no eos), summed log-prob, and
    whether it ended with eos (False: it hit the length limit)."""

    tokens: tuple[int, ...]
    score: float
    finished: bool


@dataclass
class DecodeStats:
    """Counters of the last decode (for benchmarks and logs)."""

    input_tokens: int = 0
    steps: int = 0
    encoder_s: float = 0.0
    decoder_s: float = 0.0
    used_past: bool = False
    stopped: str = ""  # "", "cancelled" or "deadline"
    finished: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    x = logits.astype(np.float64, copy=False)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _physical_threads() -> int:
    """Physical cores this process may use (ONNX Runtime gains nothing from hyper-threads)."""
    from local_models.cpu import physical_cores

    return physical_cores()


def _quantized(file: Path) -> Path:
    return file.with_name(file.stem + "_quantized" + file.suffix)


def model_files(path: str | Path, *, quantized: bool | None = None) -> dict[str, Path]:
    """The export's files in ``path`` (a directory, its ``onnx/`` subfolder, or the encoder
    file itself). ``quantized``: use ``<name>_quantized.onnx`` variants (Optimum's quantizer
    names) where present (None, the default), always (True: missing ones are an error) or
    never (False). Raises :class:`ModelNotFound` naming what is missing."""
    p = Path(path).expanduser()
    if p.is_file() and p.name in (ENCODER_FILE, _quantized(Path(ENCODER_FILE)).name):
        p = p.parent
    if not p.exists():
        raise ModelNotFound(f"ONNX model directory not found: {p}")
    if not p.is_dir():
        raise ModelLoadError(f"{p} is not a directory (expected {ENCODER_FILE} and {DECODER_FILE} inside)")
    if not any((p / n).exists() for n in (ENCODER_FILE, _quantized(Path(ENCODER_FILE)).name)) \
            and (p / "onnx").is_dir():
        p = p / "onnx"

    def pick(name: str) -> Path | None:
        plain, quant = p / name, _quantized(p / name)
        if quantized is not False and quant.is_file():
            return quant
        if quantized is True:
            return None
        return plain if plain.is_file() else None

    chosen = {role: pick(name) for role, name in
              (("encoder", ENCODER_FILE), ("decoder", DECODER_FILE), ("decoder_with_past", DECODER_WITH_PAST_FILE))}
    missing = [name for role, name in (("encoder", ENCODER_FILE), ("decoder", DECODER_FILE)) if chosen[role] is None]
    if missing:
        what = " and ".join(_quantized(Path(m)).name if quantized else m for m in missing)
        raise ModelNotFound(f"{p} lacks {what} (an encoder–decoder ONNX export in Optimum's layout)")
    files = {role: f for role, f in chosen.items() if f is not None}
    for f in files.values():
        if f.stat().st_size == 0:
            raise ModelLoadError(f"{f} is empty (an interrupted download?)")
    return files


_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


#: Input names each kind of session may use, by the name this module feeds (first = Optimum's).
ENCODER_INPUTS: dict[str, tuple[str, ...]] = {
    "input_ids": ("input_ids",),
    "attention_mask": ("attention_mask",),
}
DECODER_INPUTS: dict[str, tuple[str, ...]] = {
    "input_ids": ("input_ids", "decoder_input_ids"),
    "encoder_attention_mask": ("encoder_attention_mask", "attention_mask"),
    "encoder_hidden_states": ("encoder_hidden_states", "encoder_outputs"),
}
PAST_PREFIX = "past_key_values."


class _Session:
    """An onnxruntime session: which graph input each fed name goes to, and the output used."""

    def __init__(self, session: Any, file: Path, accepted: dict[str, tuple[str, ...]],
                 required: Sequence[str], output: str) -> None:
        self.session, self.file = session, file
        self.inputs = {i.name: i.type for i in session.get_inputs()}
        self.outputs = [o.name for o in session.get_outputs()]
        self.names: dict[str, str] = {}
        unknown = []
        for name in self.inputs:
            if name.startswith(PAST_PREFIX):
                continue
            fed = next((k for k, alts in accepted.items() if name in alts), None)
            if fed is None or fed in self.names:
                unknown.append(name)
            else:
                self.names[fed] = name
        absent = [name for name in required if name not in self.names]
        if absent or unknown:
            raise ModelLoadError(
                f"{file.name} has inputs {sorted(self.inputs)}"
                + (f", missing {absent}" if absent else "")
                + (f", cannot feed {unknown}" if unknown else "")
                + ": not an encoder-decoder export this backend reads"
            )
        self.out_index = self.outputs.index(output) if output in self.outputs else 0
        self.vocab: int | None = None
        shape = session.get_outputs()[self.out_index].shape
        if shape and isinstance(shape[-1], int):
            self.vocab = shape[-1]

    def _type(self, name: str) -> str:
        return self.inputs.get(self.names.get(name, name), "")

    def int_type(self, name: str) -> type:
        return _INT_TYPES.get(self._type(name), np.int64)

    def float_type(self, name: str) -> type:
        return _FLOAT_TYPES.get(self._type(name), np.float32)

    def run(self, feeds: dict[str, np.ndarray], run_options: Any = None) -> list[np.ndarray]:
        """Run with ``feeds`` keyed by fed names (and past names); inputs the graph lacks are left out."""
        graph_feeds = {}
        for k, v in feeds.items():
            if k in self.names:
                graph_feeds[self.names[k]] = v
            elif k.startswith(PAST_PREFIX) and k in self.inputs:
                graph_feeds[k] = v
        return self.session.run(None, graph_feeds, run_options)


class Seq2SeqModel:
    """Blocking encoder–decoder decoding over onnxruntime sessions (use from one thread)."""

    def __init__(self, encoder: _Session, decoder: _Session, decoder_with_past: _Session | None = None) -> None:
        self.encoder, self.decoder = encoder, decoder
        self.with_past = decoder_with_past if self._past_lines_up(decoder, decoder_with_past) else None
        self.vocab = decoder.vocab
        self.stats = DecodeStats()
        # Set per decode by the generator: onnxruntime RunOptions whose ``terminate`` flag a
        # watcher raises on cancel/deadline, aborting a long encoder or decoder run midway.
        self.run_options: Any = None
        self.terminate_reason = ""

    def _terminated(self) -> str:
        """The stop reason if the current run was aborted through ``run_options``, else ""."""
        if self.run_options is not None and getattr(self.run_options, "terminate", False):
            return self.terminate_reason or "cancelled"
        return ""

    @staticmethod
    def _past_lines_up(decoder: _Session, with_past: _Session | None) -> bool:
        if with_past is None:
            return False
        past_inputs = [n for n in with_past.inputs if n.startswith(PAST_PREFIX)]
        wanted = ["present." + n[len(PAST_PREFIX):] for n in past_inputs]
        if not past_inputs or any(w not in decoder.outputs for w in wanted):
            log.warning("%s does not match %s's cache outputs; decoding without past",
                        with_past.file.name, decoder.file.name)
            return False
        return True

    # ------------------------------------------------------------------ steps

    def encode(self, input_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoder hidden states ``(1, S, d)`` and attention mask ``(1, S)`` for one input."""
        t0 = time.perf_counter()
        ids = input_ids.reshape(1, -1)
        mask = np.ones_like(ids)
        out = self.encoder.run({
            "input_ids": ids.astype(self.encoder.int_type("input_ids")),
            "attention_mask": mask.astype(self.encoder.int_type("attention_mask")),
        }, self.run_options)[self.encoder.out_index]
        self.stats.encoder_s += time.perf_counter() - t0
        return out, mask

    def _stepper(self, hidden: np.ndarray, mask: np.ndarray, use_past: bool) -> _Stepper:
        return _Stepper(self, hidden, mask, use_past and self.with_past is not None)

    # ------------------------------------------------------------------ search

    def greedy(self, input_ids: np.ndarray, max_steps: int, should_stop: Callable[[], str] | None = None,
               *, use_past: bool = True) -> list[Hypothesis]:
        """Argmax decoding: one hypothesis, or none if stopped before it ended."""
        self.stats = DecodeStats(input_tokens=int(input_ids.size))
        try:
            return self._greedy(input_ids, max_steps, should_stop, use_past)
        except Exception:
            if why := self._terminated():
                self.stats.stopped = why
                return []
            raise

    def _greedy(self, input_ids: np.ndarray, max_steps: int, should_stop: Callable[[], str] | None,
                use_past: bool) -> list[Hypothesis]:
        hidden, mask = self.encode(input_ids)
        step = self._stepper(hidden, mask, use_past)
        tokens = [byt5.DECODER_START_ID]
        score = 0.0
        for _ in range(max_steps):
            if should_stop and (why := should_stop()):
                self.stats.stopped = why
                return []
            lp = self._masked(log_softmax(step.logits(np.array([tokens], dtype=np.int64))))[0]
            t = int(np.argmax(lp))
            score += float(lp[t])
            if t == byt5.EOS_ID:
                self.stats.finished = 1
                return [Hypothesis(tuple(tokens[1:]), score, True)]
            tokens.append(t)
        return [Hypothesis(tuple(tokens[1:]), score, False)]

    def beam_search(self, input_ids: np.ndarray, num_beams: int, num_return: int, max_steps: int,
                    should_stop: Callable[[], str] | None = None, *, use_past: bool = True) -> list[Hypothesis]:
        """Beam search with length penalty 0 (scores are summed log-probs), best first.

        Like Hugging Face's: each step ranks the top ``2 * num_beams`` continuations; an eos
        among the first ``num_beams`` finishes that hypothesis, the others refill the beam.
        Search ends when ``num_beams`` hypotheses have finished and none still running can beat
        the worst of them, at ``max_steps`` (running beams then count, length-capped), or when
        ``should_stop`` says so (then only the finished ones are returned).
        """
        self.stats = DecodeStats(input_tokens=int(input_ids.size))
        finished: list[Hypothesis] = []
        try:
            self._beam(input_ids, max(1, num_beams), max_steps, should_stop, use_past, finished)
        except Exception:
            if not (why := self._terminated()):
                raise
            self.stats.stopped = why
            finished[:] = [h for h in finished if h.finished]
        out = sorted(finished, key=lambda h: -h.score)[: max(1, num_return)]
        self.stats.finished = sum(h.finished for h in out)
        return out

    def _beam(self, input_ids: np.ndarray, k: int, max_steps: int, should_stop: Callable[[], str] | None,
              use_past: bool, finished: list[Hypothesis]) -> None:
        """The search loop; fills ``finished`` in place (so an abort keeps what is done)."""
        hidden, mask = self.encode(input_ids)
        step = self._stepper(hidden, mask, use_past)
        beams: list[list[int]] = [[byt5.DECODER_START_ID]]
        scores = np.zeros(1, dtype=np.float64)
        completed_search = False
        for _ in range(max_steps):
            if should_stop and (why := should_stop()):
                self.stats.stopped = why
                break
            lp = self._masked(log_softmax(step.logits(np.array(beams, dtype=np.int64))))
            total = (scores[:, None] + lp).ravel()
            vocab = lp.shape[1]
            top = min(2 * k, total.size)
            cand = np.argpartition(-total, top - 1)[:top]
            cand = cand[np.lexsort((cand, -total[cand]))]  # by score, ties by index
            keep: list[tuple[int, int, float]] = []
            for rank, idx in enumerate(cand):
                s = float(total[idx])
                if not math.isfinite(s):
                    break
                b, t = divmod(int(idx), vocab)
                if t == byt5.EOS_ID:
                    if rank < k:
                        finished.append(Hypothesis(tuple(beams[b][1:]), s, True))
                    continue
                keep.append((b, t, s))
                if len(keep) == k:
                    break
            finished.sort(key=lambda h: -h.score)
            del finished[k:]
            if not keep or (len(finished) >= k and finished[-1].score >= keep[0][2]):
                completed_search = True
                break
            beams = [beams[b] + [t] for b, t, _ in keep]
            scores = np.array([s for _, _, s in keep], dtype=np.float64)
            step.reorder(np.array([b for b, _, _ in keep], dtype=np.int64))
        else:
            completed_search = True
            finished += [Hypothesis(tuple(b[1:]), float(s), False) for b, s in zip(beams, scores)]
        if not completed_search:
            log.debug("beam search stopped (%s) with %d finished", self.stats.stopped, len(finished))

    def _masked(self, lp: np.ndarray) -> np.ndarray:
        if self.vocab is None:
            self.vocab = lp.shape[-1]
        mask = _valid_mask(lp.shape[-1])
        return np.where(mask, lp, -np.inf)


_MASKS: dict[int, np.ndarray] = {}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # never in Lean source (tab and newline are fine)


def _valid_mask(vocab: int) -> np.ndarray:
    if vocab not in _MASKS:
        _MASKS[vocab] = byt5.valid_output_mask(vocab)
    return _MASKS[vocab]


class _Stepper:
    """Runs the decoder for a growing batch of prefixes, with or without a key/value cache."""

    def __init__(self, model: Seq2SeqModel, hidden: np.ndarray, mask: np.ndarray, use_past: bool) -> None:
        self.model, self.hidden, self.mask = model, hidden, mask
        self.use_past = use_past
        self.past: dict[str, np.ndarray] | None = None
        self._rep: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        model.stats.used_past = use_past

    def _encoder_side(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        if batch not in self._rep:
            self._rep[batch] = (np.repeat(self.hidden, batch, axis=0), np.repeat(self.mask, batch, axis=0))
        return self._rep[batch]

    def logits(self, prefixes: np.ndarray) -> np.ndarray:
        """Next-token logits ``(B, V)`` for prefixes ``(B, T)`` (T ≥ 1, starting with the start id)."""
        t0 = time.perf_counter()
        batch = prefixes.shape[0]
        hidden, mask = self._encoder_side(batch)
        m = self.model
        if self.past is None or not self.use_past:
            dec = m.decoder
            outs = dec.run({
                "input_ids": prefixes.astype(dec.int_type("input_ids")),
                "encoder_attention_mask": mask.astype(dec.int_type("encoder_attention_mask")),
                "encoder_hidden_states": hidden.astype(dec.float_type("encoder_hidden_states"), copy=False),
            }, m.run_options)
            if self.use_past:
                named = dict(zip(dec.outputs, outs))
                self.past = {"past_key_values." + n[len("present."):]: v
                             for n, v in named.items() if n.startswith("present.")}
            logits = outs[dec.out_index][:, -1, :]
        else:
            dec = m.with_past
            assert dec is not None
            outs = dec.run({
                "input_ids": prefixes[:, -1:].astype(dec.int_type("input_ids")),
                "encoder_attention_mask": mask.astype(dec.int_type("encoder_attention_mask")),
                "encoder_hidden_states": hidden.astype(dec.float_type("encoder_hidden_states"), copy=False),
                **self.past,
            }, m.run_options)
            for n, v in zip(dec.outputs, outs):
                if n.startswith("present."):
                    self.past["past_key_values." + n[len("present."):]] = v
            logits = outs[dec.out_index][:, -1, :]
        m.stats.steps += 1
        m.stats.decoder_s += time.perf_counter() - t0
        return logits

    def reorder(self, index: np.ndarray) -> None:
        """Keep cache rows ``index`` (the beams that survived, in their new order)."""
        if self.past is not None:
            self.past = {k: np.take(v, index, axis=0) for k, v in self.past.items()}


# ---------------------------------------------------------------------------- generator


@contextlib.contextmanager
def _terminate_on(model: Seq2SeqModel, should_stop: Callable[[], str], poll_s: float = 0.02):
    """While the block runs, a watcher thread aborts the model's onnxruntime runs (RunOptions
    ``terminate``) as soon as ``should_stop`` gives a reason, so cancel and the deadline also
    cut a long encoder pass short, not only the gaps between decoder steps."""
    try:
        import onnxruntime as ort

        options = ort.RunOptions()
    except Exception:  # no onnxruntime run options (a fake session in tests): steps only
        yield
        return
    model.run_options, model.terminate_reason = options, ""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(poll_s):
            if why := should_stop():
                model.terminate_reason = why
                options.terminate = True
                return

    watcher = threading.Thread(target=watch, name="onnx-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        model.run_options = None


def _reprover_template() -> Any:
    from local_models.prompts import get_template

    return get_template("reprover")


def _entry_template(entry: Any) -> Any:
    try:
        from local_models.catalog import prompt_template

        return prompt_template(entry)
    except Exception as exc:  # not a catalog entry: ReProver's format
        log.debug("no catalog template for %r (%s); using ReProver's", getattr(entry, "id", entry), exc)
        return _reprover_template()


class OnnxSeq2SeqGenerator:
    """A loaded ByT5-class model answering :meth:`generate` from its own worker thread."""

    def __init__(self, *, model_id: str, role: Role, model: Seq2SeqModel, worker: ModelWorker,
                 template: Any, max_length: int = DEFAULT_MAX_LENGTH, use_past: bool = True,
                 threads: int = 1) -> None:
        self.id = model_id
        self.role = role
        self.template = template
        self.max_length = max_length
        self.use_past = use_past and model.with_past is not None
        self.threads = threads
        self._model = model
        self._worker = worker

    @property
    def last_stats(self) -> DecodeStats:
        """Counters of the last request (steps, encoder/decoder seconds, stop reason)."""
        return self._model.stats

    def max_steps(self, request: GenerationRequest) -> int:
        """Decoder steps for ``request``: ``max_tokens × BYTES_PER_TOKEN``, at most ``max_length``."""
        return max(1, min(self.max_length, max(1, request.max_tokens) * BYTES_PER_TOKEN))

    def decode(self, request: GenerationRequest, stop: threading.Event | None = None) -> list[Hypothesis]:
        """Blocking: the raw hypotheses for ``request`` (call on the worker thread)."""
        text = self.template.render(request)
        ids = byt5.encode(text, max_bytes=MAX_INPUT_BYTES)
        deadline = request.deadline

        def should_stop() -> str:
            if stop is not None and stop.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                return "deadline"
            return ""

        n = max(1, request.n)
        steps = self.max_steps(request)
        with _terminate_on(self._model, should_stop):
            if n == 1:
                return self._model.greedy(ids, steps, should_stop, use_past=self.use_past)
            return self._model.beam_search(ids, n, n, steps, should_stop, use_past=self.use_past)

    async def generate(self, request: GenerationRequest, cancel: asyncio.Event | None = None) -> list[Candidate]:
        """Up to ``request.n`` distinct candidates, best first (summed log-probs as scores).

        Hypotheses cut at the length limit, invalid UTF-8 and texts with control characters
        are dropped; ``<a>``/``</a>`` premise markers are stripped by the template.
        """
        if request.n <= 0:
            return []
        hyps = await self._worker.run_cancellable(lambda stop: self.decode(request, stop), cancel)
        kind = "proof" if self.role == "whole-proof" else "tactic"
        out: dict[str, Candidate] = {}
        for h in hyps:
            if not h.finished:
                continue  # cut at the length limit: an incomplete tactic
            try:
                raw = byt5.decode(h.tokens)
            except UnicodeDecodeError:
                continue  # invalid UTF-8 is never Lean source
            text = self.template.postprocess(raw, request)
            if not text or not math.isfinite(h.score) or _CONTROL.search(text):
                continue
            if text not in out or h.score > out[text].score:
                out[text] = Candidate(text=text, score=h.score, source=self.id, kind=kind)
        return sorted(out.values(), key=lambda c: c.score, reverse=True)[: request.n]

    def close(self) -> None:
        """Drop the sessions on the worker thread and stop it (idempotent)."""
        model = self._model

        def _free() -> None:
            model.encoder = model.decoder = model.with_past = None  # type: ignore[assignment]

        self._worker.close(_free)


def _session(ort: Any, file: Path, threads: int, accepted: dict[str, tuple[str, ...]], required: Sequence[str],
             output: str, model_id: str) -> _Session:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(file), sess_options=opts, providers=["CPUExecutionProvider"])
    except MemoryError as exc:
        raise ModelLoadError(f"{model_id}: not enough memory to load {file}") from exc
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/InvalidGraph
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{model_id}: cannot load {file} ({first[:300]}): corrupt or not an ONNX model") from exc
    return _Session(session, file, accepted, required, output)


def load(entry: Any, path: str | Path, *, threads: int | None = None, use_past: bool = True,
         max_length: int = DEFAULT_MAX_LENGTH, template: Any = None,
         quantized: bool | None = None) -> OnnxSeq2SeqGenerator:
    """Load a ByT5-class ONNX export for ``entry`` (a catalog ``ModelEntry`` or anything with
    ``id``/``role``; ``None`` for ReProver defaults) from the directory ``path``.

    ``threads``: onnxruntime intra-op threads (explicit, else ``entry.threads``, else the
    CPUs this process may use). ``use_past=False`` ignores a ``decoder_with_past`` file.
    ``quantized``: see :func:`model_files` (by default ``*_quantized.onnx`` files win).
    Raises :class:`ModelNotFound` (files absent) or :class:`ModelLoadError` (unreadable,
    corrupt, wrong inputs, onnxruntime missing).
    """
    files = model_files(path, quantized=quantized)
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelLoadError("onnxruntime is not installed: `pip install lean-companion[onnx]`") from exc
    model_id = str(getattr(entry, "id", None) or Path(path).name)
    role: Role = getattr(entry, "role", None) or "tactic"
    if role == "embedding":
        raise ModelLoadError(f"{model_id}: an embedding model is not a seq2seq generator (use the ONNX encoder)")
    n_threads = int(threads or getattr(entry, "threads", None) or _physical_threads())
    encoder = _session(ort, files["encoder"], n_threads, ENCODER_INPUTS, ["input_ids"], "last_hidden_state", model_id)
    decoder = _session(ort, files["decoder"], n_threads, DECODER_INPUTS, ["input_ids", "encoder_hidden_states"],
                       "logits", model_id)
    with_past = None
    if use_past and "decoder_with_past" in files:
        with_past = _session(ort, files["decoder_with_past"], n_threads, DECODER_INPUTS, ["input_ids"], "logits",
                             model_id)
    model = Seq2SeqModel(encoder, decoder, with_past)
    if template is None:
        template = _entry_template(entry) if entry is not None else _reprover_template()
    log.info("%s: loaded %s (%d threads, %s)", model_id, files["encoder"].parent, n_threads,
             "with past" if model.with_past else "without past")
    return OnnxSeq2SeqGenerator(
        model_id=model_id, role=role, model=model, worker=ModelWorker(name=f"onnx-{model_id}"),
        template=template, max_length=max_length, use_past=use_past, threads=n_threads,
    )


async def load_async(entry: Any, path: str | Path, **kwargs: Any) -> OnnxSeq2SeqGenerator:
    """:func:`load` without blocking the event loop."""
    return await asyncio.to_thread(load, entry, path, **kwargs)
