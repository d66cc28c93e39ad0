"""GGUF tactic / whole-proof generator on llama.cpp with batched n-best.

``load(entry, path, *, threads=None)`` checks the file, loads the weights in a dedicated
worker thread (llama.cpp contexts are not thread-safe) with native logs routed to
:mod:`logging` (stdout is the LSP stream), and returns a :class:`GGUFGenerator`
implementing :class:`local_models.generation.TacticGenerator`. ``generate`` renders the
prompt with the entry's template (:func:`local_models.catalog.prompt_template`, or an
explicit ``template`` / ``render`` given to :func:`load`), runs :mod:`local_models.nbest` on
the worker, and returns the cleaned candidates with summed log-probabilities.
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from local_models.errors import ModelLoadError, ModelNotFound
from local_models.generation import Candidate, GenerationRequest, Role
from local_models.worker import ModelWorker

log = logging.getLogger(__name__)

#: Formats recognisable from their first bytes, for a helpful "wrong format" message.
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (a PyTorch checkpoint or a wheel?)"),
    (b"\x80\x02", "a Python pickle (a PyTorch checkpoint?)"),
    (b"ggml", "an old GGML file (convert it to GGUF)"),
    (b"ggjt", "an old GGJT file (convert it to GGUF)"),
    (b"ggmf", "an old GGMF file (convert it to GGUF)"),
    (b"\x08", "probably an ONNX/protobuf file"),
    (b"version https://git-lfs", "a Git LFS pointer, not the model itself"),
)


@dataclass(frozen=True)
class SimpleTemplate:
    """A minimal prompt template: a render callable and stop strings (when no catalog template)."""

    render_fn: Callable[[GenerationRequest], str]
    stop: tuple[str, ...] = ("\n",)
    kind: str = "tactic"

    def render(self, request: GenerationRequest) -> str:
        """The prompt text."""
        return self.render_fn(request)

    def postprocess(self, output: str, request: GenerationRequest) -> str | None:
        """One tactic: the output stripped, or None when empty."""
        text = output.strip()
        return text or None


def tactic_grammar() -> str:
    """The packaged single-line tactic GBNF grammar."""
    return resources.files("local_models").joinpath("grammars/tactic.gbnf").read_text(encoding="utf-8")


def check_gguf_file(path: str | Path) -> Path:
    """Raise a clear error unless ``path`` looks like a readable GGUF file; return it."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFound(f"model file not found: {path}")
    if not path.is_file():
        raise ModelLoadError(f"not a file: {path} (expected a .gguf file)")
    try:
        with path.open("rb") as fh:
            head = fh.read(24)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not head:
        raise ModelLoadError(f"{path} is empty (an interrupted download?)")
    if head[:4] != b"GGUF":
        what = next((desc for magic, desc in _FOREIGN_MAGIC if head.startswith(magic)), None)
        detail = f"it looks like {what}" if what else f"it starts with {head[:8]!r}"
        raise ModelLoadError(f"{path} is not a GGUF file: {detail}")
    if len(head) < 24:
        raise ModelLoadError(f"{path} is truncated: {len(head)} bytes, shorter than a GGUF header")
    version = int.from_bytes(head[4:8], "little")
    if version not in (2, 3):
        raise ModelLoadError(f"{path}: unsupported GGUF version {version} (llama.cpp reads versions 2 and 3)")
    from local_models.gguf_file import GGUFFileError, inspect_gguf

    try:
        inspect_gguf(path)  # metadata, tensor table and length: a truncated file is blamed on the file
    except GGUFFileError as exc:
        raise ModelLoadError(str(exc)) from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return path


def _entry_template(entry: Any):
    try:
        from local_models.catalog import prompt_template

        return prompt_template(entry)
    except Exception as exc:  # not a catalog entry, or the catalog is unavailable
        log.debug("no catalog template for %r (%s); using the raw goal", getattr(entry, "id", entry), exc)
        return SimpleTemplate(lambda r: r.goal + "\n")


class GGUFGenerator:
    """A loaded GGUF model answering :meth:`generate` from its own worker thread."""

    def __init__(
        self,
        *,
        model_id: str,
        role: Role,
        template: Any,
        worker: ModelWorker,
        model: Any,
        decoder: Any,
        grammar: str | None,
    ) -> None:
        self.id = model_id
        self.role = role
        self.template = template
        self.grammar = grammar
        self._worker = worker
        self._model = model
        self._decoder = decoder
        self.threads = decoder.threads
        self.n_ctx = decoder.n_ctx
        self.max_n = decoder.n_seq_max

    @property
    def last_stats(self):
        """Counters of the last request (prompt tokens, reused prefix, steps, timings)."""
        return self._decoder.stats

    def _stops(self) -> tuple[str, ...]:
        stops = tuple(getattr(self.template, "stop", ()) or ())
        if self.role == "tactic" and "\n" not in stops:
            stops += ("\n",)
        return stops

    def _prompt_tokens(self, prompt: str, n: int, max_tokens: int) -> list[int]:
        tokens = self._model.tokenize(prompt)
        budget = self.n_ctx - n * max_tokens
        if budget < 8:
            raise ValueError(f"n={n} × max_tokens={max_tokens} leaves no room for a prompt in {self.n_ctx} tokens")
        if len(tokens) > budget:
            log.warning("%s: prompt of %d tokens cut to the last %d", self.id, len(tokens), budget)
            tokens = tokens[:1] + tokens[len(tokens) - budget + 1 :]
        return tokens

    def _run(self, prompt: str, request: GenerationRequest, stop: threading.Event):
        from local_models.nbest import NBestParams

        n = max(1, min(request.n, self.max_n))
        max_tokens = max(1, request.max_tokens)
        tokens = self._prompt_tokens(prompt, n, max_tokens)
        params = NBestParams(
            n=n, max_tokens=max_tokens, stops=self._stops(), grammar=self.grammar,
            deadline=request.deadline, cancel=stop,
        )
        return self._decoder.generate(tokens, params)

    async def generate(self, request: GenerationRequest, cancel: asyncio.Event | None = None) -> list[Candidate]:
        """Up to ``request.n`` distinct candidates, best first (summed log-probs as scores)."""
        from local_models.nbest import CorruptWeightsError

        prompt = self.template.render(request)
        try:
            completions = await self._worker.run_cancellable(lambda stop: self._run(prompt, request, stop), cancel)
        except CorruptWeightsError as exc:
            raise ModelLoadError(f"{self.id}: {exc}") from exc
        kind = "proof" if self.role == "whole-proof" else "tactic"
        out: dict[str, Candidate] = {}
        for c in completions:
            if c.finish in ("cancelled", "deadline", "grammar"):
                continue  # cut off mid-way: not a complete suggestion
            if "\ufffd" in c.text:
                continue  # invalid UTF-8 from byte tokens: never valid Lean source
            text = self.template.postprocess(c.text, request)
            if not text or not math.isfinite(c.logprob):
                continue
            if text not in out or c.logprob > out[text].score:
                out[text] = Candidate(text=text, score=c.logprob, source=self.id, kind=kind)
        return sorted(out.values(), key=lambda c: c.score, reverse=True)[: request.n]

    def close(self) -> None:
        """Free the context and the weights on the worker thread, then stop it (idempotent)."""
        decoder, model = self._decoder, self._model

        def _free() -> None:
            decoder.close()
            model.close()

        self._worker.close(_free)


def load(
    entry: Any,
    path: str | Path,
    *,
    threads: int | None = None,
    template: Any = None,
    render: Callable[[GenerationRequest], str] | None = None,
    stops: Sequence[str] | None = None,
    grammar: bool | str | None = None,
    n_ctx: int | None = None,
    n_seq_max: int = 16,
) -> GGUFGenerator:
    """Load a GGUF model for ``entry`` (a catalog ``ModelEntry`` or anything with ``id``/``role``).

    ``threads``: explicit thread count, else ``entry.threads``, else physical cores.
    ``template`` (an object with ``render``/``stop``/``postprocess``) or ``render`` (+ ``stops``)
    override the entry's template. ``grammar``: ``True`` for the packaged single-line tactic
    grammar, a GBNF string, or None. Raises :class:`ModelNotFound` / :class:`ModelLoadError`.
    """
    path = check_gguf_file(path)
    try:
        from local_models import nbest
    except ImportError as exc:
        raise ModelLoadError(
            f"{path} is a valid GGUF file, but llama-cpp-python (the GGUF backend) is not installed: "
            "run `lean-companion install-gguf` (it builds llama-cpp-python for this CPU)"
        ) from exc
    model_id = str(getattr(entry, "id", None) or path.stem)
    role: Role = getattr(entry, "role", "tactic") or "tactic"
    if role == "embedding":
        raise ModelLoadError(f"{model_id}: the GGUF backend generates text; embedding models use the ONNX encoder")
    if render is not None:
        template = SimpleTemplate(render, tuple(stops) if stops is not None else ("\n",),
                                  "proof" if role == "whole-proof" else "tactic")
    elif template is None:
        template = _entry_template(entry)
    grammar_text = tactic_grammar() if grammar is True else (grammar or None)
    n_threads = threads or getattr(entry, "threads", None) or nbest.physical_cores()
    context = int(n_ctx or getattr(entry, "context", None) or 2048)

    worker = ModelWorker(name=f"gguf-{model_id}")

    def _load():
        model = nbest.NativeModel(path)
        try:
            decoder = nbest.NBestDecoder(model, n_ctx=context, n_seq_max=n_seq_max, threads=n_threads)
        except BaseException:
            model.close()
            raise
        return model, decoder

    try:
        model, decoder = worker.call(_load)
    except nbest.NativeLoadError as exc:
        worker.close()
        raise ModelLoadError(f"{model_id}: {exc}") from exc
    except MemoryError as exc:
        worker.close()
        raise ModelLoadError(f"{model_id}: not enough memory to load {path}") from exc
    except BaseException:
        worker.close()
        raise
    log.info("%s: loaded %s (%d threads, n_ctx %d, up to %d sequences)", model_id, path, n_threads, context, n_seq_max)
    return GGUFGenerator(
        model_id=model_id, role=role, template=template, worker=worker, model=model, decoder=decoder,
        grammar=grammar_text,
    )


async def load_async(entry: Any, path: str | Path, **kwargs) -> GGUFGenerator:
    """:func:`load` without blocking the event loop."""
    return await asyncio.to_thread(load, entry, path, **kwargs)
