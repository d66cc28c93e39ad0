"""The GGUF TacticGenerator (local_models/gguf_backend.py) on tiny random GGUF models, and its error handling."""
from __future__ import annotations

import asyncio
import math
import re
import time
import zipfile
from types import SimpleNamespace

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from local_models import gguf_backend
from local_models.errors import ModelError, ModelLoadError, ModelNotFound
from local_models.generation import Candidate, GenerationRequest, TacticGenerator
from local_models.worker import WorkerClosed
from tests.local_models.tiny_gguf import TinyDims, write_tiny_gguf

GOAL = "n : ℕ\n⊢ n + 0 = n"
ENTRY = SimpleNamespace(id="tiny-test", role="tactic", threads=2, context=4096)


def render(request: GenerationRequest) -> str:
    return f"[GOAL]{request.goal}[PROOFSTEP]"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    write_tiny_gguf(d / "tiny-q4_0.gguf", "q4_0")
    write_tiny_gguf(d / "tiny-f32.gguf", "f32")
    return d


@pytest.fixture
async def generator(model_dir):
    g = gguf_backend.load(ENTRY, model_dir / "tiny-q4_0.gguf", render=render, stops=())
    yield g
    g.close()


async def test_load_gives_a_tactic_generator_with_the_entry_identity(generator):
    """load() returns a TacticGenerator whose id, role and thread count come from the entry."""
    assert isinstance(generator, TacticGenerator)
    assert generator.id == "tiny-test"
    assert generator.role == "tactic"
    assert generator.threads == 2


@pytest.mark.parametrize("weights", ["tiny-q4_0.gguf", "tiny-f32.gguf"])
async def test_generate_returns_distinct_scored_candidates(model_dir, weights):
    """generate() gives up to n distinct single-line candidates from this source, best first, scores ≤ 0."""
    g = gguf_backend.load(ENTRY, model_dir / weights, render=render, stops=())
    try:
        out = await g.generate(GenerationRequest(goal=GOAL, n=6, max_tokens=8))
    finally:
        g.close()
    assert 1 <= len(out) <= 6
    assert all(isinstance(c, Candidate) and c.source == "tiny-test" and c.kind == "tactic" for c in out)
    assert len({c.text for c in out}) == len(out)
    assert all("\n" not in c.text and c.text == c.text.strip() for c in out)
    scores = [c.score for c in out]
    assert all(math.isfinite(s) and s <= 0 for s in scores) and scores == sorted(scores, reverse=True)


async def test_grammar_option_constrains_candidates(model_dir):
    """grammar=True applies the packaged single-line tactic grammar to every candidate."""
    g = gguf_backend.load(ENTRY, model_dir / "tiny-q4_0.gguf", render=render, grammar=True)
    try:
        out = await g.generate(GenerationRequest(goal=GOAL, n=8, max_tokens=12))
    finally:
        g.close()
    assert out
    assert all(re.fullmatch(r"[a-zA-Z_(⟨{#@<?\[·][^\n\r\t]*", c.text) for c in out), [c.text for c in out]


async def test_generation_does_not_block_the_event_loop(model_dir):
    """While a long generation runs on the worker thread, other coroutines keep running."""
    g = gguf_backend.load(ENTRY, model_dir / "tiny-f32.gguf", render=render, stops=())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        start = time.perf_counter()
        await g.generate(GenerationRequest(goal=GOAL, n=8, max_tokens=400))
        elapsed = time.perf_counter() - start
    finally:
        task.cancel()
        g.close()
    assert g.last_stats.steps >= 399
    assert ticks >= max(3, int(elapsed / 0.001 / 50))  # a blocked loop would tick ~0 times


async def test_cancel_event_stops_generation_promptly(generator):
    """Setting the cancel event mid-way stops decoding long before the token budget."""
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, cancel.set)
    out = await generator.generate(GenerationRequest(goal=GOAL, n=8, max_tokens=480), cancel)
    assert generator.last_stats.steps < 470
    assert out == []  # every sequence was cut mid-way: nothing complete to suggest
    after = await generator.generate(GenerationRequest(goal=GOAL, n=4, max_tokens=6))
    assert after, "the generator keeps working after a cancellation"


async def test_task_cancellation_stops_the_worker(generator):
    """Cancelling the awaiting task stops the native loop; the next request is served normally."""
    task = asyncio.create_task(generator.generate(GenerationRequest(goal=GOAL, n=8, max_tokens=480)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    start = time.perf_counter()
    after = await generator.generate(GenerationRequest(goal=GOAL, n=2, max_tokens=4))
    assert after and time.perf_counter() - start < 2.0


async def test_deadline_in_the_past_returns_quickly(generator):
    """A request whose deadline has passed returns without decoding."""
    out = await generator.generate(GenerationRequest(goal=GOAL, n=8, max_tokens=200, deadline=time.monotonic() - 1))
    assert out == []
    assert generator.last_stats.steps == 0


async def test_long_prompt_is_cut_to_fit_the_context(model_dir):
    """A prompt longer than the context budget keeps its tail and still generates."""
    g = gguf_backend.load(ENTRY, model_dir / "tiny-q4_0.gguf", render=render, stops=(), n_ctx=256)
    try:
        out = await g.generate(GenerationRequest(goal="x + " * 400 + GOAL, n=4, max_tokens=8))
        assert g.last_stats.prompt_tokens == 256 - 4 * 8
    finally:
        g.close()
    assert out


async def test_whole_proof_role_stops_at_the_closing_fence(model_dir):
    """A whole-proof generator stops at the template's closing fence and labels candidates as proofs."""
    entry = SimpleNamespace(id="tiny-proof", role="whole-proof", threads=2, context=1024)
    g = gguf_backend.load(
        entry, model_dir / "tiny-q4_0.gguf", render=lambda r: "```lean4\n" + r.statement, stops=("```",),
        grammar='root ::= "  simp" [a-z] "\\n```" [a-z]*',
    )
    try:
        out = await g.generate(GenerationRequest(goal=GOAL, statement="theorem t : 1 = 1 := by\n", n=4, max_tokens=20))
    finally:
        g.close()
    assert out
    assert all(c.kind == "proof" and re.fullmatch(r"simp[a-z]", c.text) for c in out), out


async def test_catalog_template_is_used_when_the_entry_names_one(model_dir):
    """An entry with a catalog template renders through local_models.prompts (llmstep: '[GOAL]…[PROOFSTEP]')."""
    catalog = pytest.importorskip("local_models.catalog")
    entry = catalog.ModelEntry(id="tiny-llmstep", role="tactic", format="gguf", template="llmstep", threads=1)
    g = gguf_backend.load(entry, model_dir / "tiny-q4_0.gguf")
    try:
        request = GenerationRequest(goal=GOAL, n=3, max_tokens=6)
        assert g.template.render(request) == catalog.prompt_template(entry).render(request)
        out = await g.generate(request)
        assert "[END]" in g._stops() and "\n" in g._stops()
    finally:
        g.close()
    assert all(c.source == "tiny-llmstep" for c in out)


async def test_close_frees_and_is_idempotent(model_dir):
    """close() frees the model; later calls fail clearly and a second close is harmless."""
    g = gguf_backend.load(ENTRY, model_dir / "tiny-q4_0.gguf", render=render)
    g.close()
    g.close()
    with pytest.raises(WorkerClosed):
        await g.generate(GenerationRequest(goal=GOAL))


# ---------------------------------------------------------------------------------- bad files


def _bad_files(tmp_path, good: bytes) -> dict[str, tuple[object, type, str]]:
    (tmp_path / "truncated.gguf").write_bytes(good[: len(good) // 2])
    (tmp_path / "header-only.gguf").write_bytes(good[:200])
    corrupt = bytearray(good)
    corrupt[40:2000] = bytes((i * 131 + 7) % 256 for i in range(1960))
    (tmp_path / "corrupt.gguf").write_bytes(bytes(corrupt))
    (tmp_path / "text.gguf").write_text("this is not a model\n" * 20)
    (tmp_path / "empty.gguf").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "model.gguf", "w") as zf:
        zf.writestr("weights.bin", b"0" * 100)
    (tmp_path / "lfs.gguf").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    (tmp_path / "v9.gguf").write_bytes(b"GGUF" + (9).to_bytes(4, "little") + bytes(40))
    (tmp_path / "adir.gguf").mkdir()
    return {
        "missing": (tmp_path / "nope.gguf", ModelNotFound, "not found"),
        "directory": (tmp_path / "adir.gguf", ModelLoadError, "not a file"),
        "empty": (tmp_path / "empty.gguf", ModelLoadError, "empty"),
        "truncated": (tmp_path / "truncated.gguf", ModelLoadError, "is truncated"),  # found before llama.cpp
        "header-only": (tmp_path / "header-only.gguf", ModelLoadError, "is truncated"),
        "corrupt": (tmp_path / "corrupt.gguf", ModelLoadError, "is corrupt"),
        "text": (tmp_path / "text.gguf", ModelLoadError, "not a GGUF file"),
        "zip": (tmp_path / "model.gguf", ModelLoadError, "zip"),
        "lfs-pointer": (tmp_path / "lfs.gguf", ModelLoadError, "Git LFS pointer"),
        "bad-version": (tmp_path / "v9.gguf", ModelLoadError, "unsupported GGUF version 9"),
    }


def test_bad_files_give_clear_errors_and_nothing_crashes(model_dir, tmp_path):
    """Missing, truncated, corrupt and non-GGUF files raise ModelError subclasses naming the problem."""
    good = (model_dir / "tiny-q4_0.gguf").read_bytes()
    for name, (path, exc_type, message) in _bad_files(tmp_path, good).items():
        with pytest.raises(exc_type) as info:
            gguf_backend.load(ENTRY, path, render=render)
        assert isinstance(info.value, ModelError)
        assert message in str(info.value), (name, str(info.value))
        assert str(path) in str(info.value), name


async def test_a_good_model_loads_after_failed_loads(model_dir, tmp_path):
    """Failed loads leave no broken state: the next good model loads and generates."""
    (tmp_path / "bad.gguf").write_bytes((model_dir / "tiny-q4_0.gguf").read_bytes()[:1000])
    with pytest.raises(ModelLoadError):
        gguf_backend.load(ENTRY, tmp_path / "bad.gguf", render=render)
    g = gguf_backend.load(ENTRY, model_dir / "tiny-q4_0.gguf", render=render, stops=())
    try:
        assert await g.generate(GenerationRequest(goal=GOAL, n=2, max_tokens=4))
    finally:
        g.close()


async def test_corrupt_tensor_data_is_reported_not_silent(model_dir, tmp_path):
    """A file whose header is intact but whose weights are garbage loads, then generate() names the damage."""
    data = bytearray((model_dir / "tiny-q4_0.gguf").read_bytes())
    data[-20000:] = bytes([0xFF]) * 20000  # fp16 0xFFFF is NaN: Q4_0 block scales become NaN
    (tmp_path / "damaged.gguf").write_bytes(bytes(data))
    g = gguf_backend.load(ENTRY, tmp_path / "damaged.gguf", render=render)
    try:
        with pytest.raises(ModelLoadError, match="corrupt"):
            await g.generate(GenerationRequest(goal=GOAL, n=2, max_tokens=4))
    finally:
        g.close()


def test_embedding_role_is_refused(model_dir):
    """The GGUF backend does not serve embedding entries."""
    entry = SimpleNamespace(id="emb", role="embedding")
    with pytest.raises(ModelLoadError, match="embedding"):
        gguf_backend.load(entry, model_dir / "tiny-q4_0.gguf")


def test_bigger_dims_write_and_load(tmp_path):
    """The tiny writer makes other shapes (here GQA 8/2 heads, 3 layers) that llama.cpp loads."""
    path = write_tiny_gguf(tmp_path / "m.gguf", "q8_0", TinyDims(n_embd=128, n_ff=256, n_layer=3, n_head=8, n_head_kv=2))
    g = gguf_backend.load(ENTRY, path, render=render)
    g.close()


def test_native_output_never_reaches_stdout_or_stderr(model_dir, tmp_path):
    """Loading and generating (and a failed load) print nothing: llama.cpp's log goes to the log file."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    script = f"""
import asyncio, logging
from types import SimpleNamespace
logging.basicConfig(filename={str(tmp_path / 'log.txt')!r}, level=logging.DEBUG)
from local_models import gguf_backend
from local_models.generation import GenerationRequest
try:
    gguf_backend.load(SimpleNamespace(id="x", role="tactic"), {str(model_dir / 'tiny-q4_0.gguf')!r}.replace("q4_0", "nope"))
except Exception:
    pass
# well-formed GGUF that llama.cpp refuses (unknown architecture): its native error must reach the log
good = open({str(model_dir / 'tiny-q4_0.gguf')!r}, "rb").read()
open({str(tmp_path / 'trunc.gguf')!r}, "wb").write(good.replace(b"llama", b"llamx"))
try:
    gguf_backend.load(SimpleNamespace(id="x", role="tactic"), {str(tmp_path / 'trunc.gguf')!r})
except Exception:
    pass
g = gguf_backend.load(SimpleNamespace(id="x", role="tactic", threads=1), {str(model_dir / 'tiny-q4_0.gguf')!r})
asyncio.run(g.generate(GenerationRequest(goal="n : ℕ ⊢ n = n", n=2, max_tokens=4)))
g.close()
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert proc.stderr == b""
    log_text = (tmp_path / "log.txt").read_text()
    assert "llama_model_loader" in log_text  # the load chatter went to the log file...
    assert "failed to load model" in log_text  # ...and so did the failed load's reason


async def test_model_worker_runs_calls_in_order_on_one_thread():
    """ModelWorker queues every call on a single thread, in order, and runs the finaliser last."""
    import threading

    from local_models.worker import ModelWorker

    worker = ModelWorker("t")
    seen: list[tuple[int, int]] = []
    results = await asyncio.gather(*(worker.run(lambda i=i: seen.append((i, threading.get_ident())) or i) for i in range(20)))
    assert results == list(range(20))
    assert [i for i, _ in seen] == list(range(20))
    assert len({t for _, t in seen}) == 1 and seen[0][1] != threading.get_ident()
    done: list[str] = []
    worker.close(lambda: done.append("freed"))
    assert done == ["freed"]
    with pytest.raises(WorkerClosed):
        worker.submit(lambda: None)


async def test_model_worker_bridges_the_asyncio_cancel_event():
    """run_cancellable sets the thread-side stop event when the asyncio event is set."""
    from local_models.worker import ModelWorker

    worker = ModelWorker("t")
    cancel = asyncio.Event()

    def spin(stop) -> int:
        n = 0
        while not stop.wait(0.001):
            n += 1
        return n

    asyncio.get_running_loop().call_later(0.02, cancel.set)
    try:
        assert await asyncio.wait_for(worker.run_cancellable(spin, cancel), timeout=5) >= 1
    finally:
        worker.close()
