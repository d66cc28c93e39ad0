"""ByT5 tokenizer and the ONNX encoder–decoder generator, on a tiny trained T5 export.

The model in tests/data/tiny_t5_onnx/ is made by make_tiny_t5_onnx.py (torch, dev-time only):
a 2+2-layer, d_model 32 T5 with ByT5's vocabulary, trained to memorise a few goal → tactic
pairs. reference.json holds torch's own greedy outputs recorded at export time.
"""
from __future__ import annotations

import asyncio
import functools
import json
import math
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from local_models import byt5
from local_models.errors import ModelLoadError, ModelNotFound
from local_models.generation import Candidate, GenerationRequest, TacticGenerator

ort = pytest.importorskip("onnxruntime")

from local_models.onnx_seq2seq import (  # noqa: E402
    DECODER_FILE,
    DECODER_WITH_PAST_FILE,
    ENCODER_FILE,
    OnnxSeq2SeqGenerator,
    load,
    log_softmax,
)

MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "tiny_t5_onnx"
REFERENCE = json.loads((MODEL_DIR / "reference.json").read_text())
PQ_GOAL = "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"


@pytest.fixture(scope="module")
def gen() -> OnnxSeq2SeqGenerator:
    g = load(None, MODEL_DIR, threads=1)
    yield g
    g.close()


@pytest.fixture(scope="module")
def gen_no_past() -> OnnxSeq2SeqGenerator:
    g = load(None, MODEL_DIR, threads=1, use_past=False)
    yield g
    g.close()


@functools.lru_cache(maxsize=1)
def _plain_sessions():
    """Encoder and full decoder as plain onnxruntime sessions (no backend code involved)."""
    return tuple(ort.InferenceSession(str(MODEL_DIR / f), providers=["CPUExecutionProvider"])
                 for f in (ENCODER_FILE, DECODER_FILE))


def reference_scores(prefix_ids: list[int], goal: str) -> tuple[list[int], float]:
    """Straightforward teacher-forced reference: run encoder and full decoder directly.

    Returns the argmax token after ``prefix_ids`` (over eos+bytes) at every position and the
    summed log-probability of ``prefix_ids`` followed by eos.
    """
    enc, dec = _plain_sessions()
    ids = byt5.encode(goal).reshape(1, -1)
    mask = np.ones_like(ids)
    hidden = enc.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
    seq = [byt5.DECODER_START_ID, *prefix_ids]
    logits = dec.run(["logits"], {"input_ids": np.array([seq], dtype=np.int64),
                                  "encoder_attention_mask": mask, "encoder_hidden_states": hidden})[0][0]
    lp = log_softmax(logits)
    lp[:, ~byt5.valid_output_mask(lp.shape[1])] = -np.inf
    argmax = [int(np.argmax(row)) for row in lp]
    targets = [*prefix_ids, byt5.EOS_ID]
    total = float(sum(lp[i, t] for i, t in enumerate(targets)))
    return argmax, total


# ------------------------------------------------------------------------------ tokenizer


def test_byt5_ids_are_bytes_plus_three_with_eos():
    """encode gives UTF-8 bytes + 3 then eos; decode inverts it and stops at eos."""
    ids = byt5.encode("a⊢")
    assert ids.dtype == np.int64
    assert ids.tolist() == [ord("a") + 3, 0xE2 + 3, 0x8A + 3, 0xA2 + 3, byt5.EOS_ID]
    assert byt5.decode(ids) == "a⊢"
    assert byt5.decode([byt5.PAD_ID, 3 + ord("x"), byt5.UNK_ID, 300, byt5.EOS_ID, 3 + ord("y")]) == "x"
    assert byt5.encode("ab", add_eos=False).tolist() == [100, 101]


def test_byt5_truncation_never_splits_a_character_and_bad_utf8_raises():
    """max_bytes cuts on a character boundary; invalid UTF-8 is an error unless asked otherwise."""
    ids = byt5.encode("ab⊢", max_bytes=4)  # '⊢' is 3 bytes: it does not fit
    assert byt5.decode(ids) == "ab"
    with pytest.raises(UnicodeDecodeError):
        byt5.decode([0xE2 + 3, byt5.EOS_ID])
    assert byt5.decode([0xE2 + 3], errors="replace") == "\ufffd"
    mask = byt5.valid_output_mask(384)
    assert mask[byt5.EOS_ID] and mask[3] and mask[258]
    assert not mask[byt5.PAD_ID] and not mask[byt5.UNK_ID] and not mask[259:].any()


# ------------------------------------------------------------------------------ decoding


def test_greedy_matches_torch_and_strips_premise_markers(gen):
    """Greedy output equals torch's generate() recorded at export, with <a></a> stripped."""
    assert isinstance(gen, TacticGenerator)

    async def run():
        return [await gen.generate(GenerationRequest(goal=r["goal"], n=1)) for r in REFERENCE]

    for r, out in zip(REFERENCE, asyncio.run(run())):
        expected = r["torch_greedy"].replace("<a>", "").replace("</a>", "")
        assert [c.text for c in out] == [expected]
        assert out[0].source == gen.id and out[0].kind == "tactic"
    assert any("<a>" in r["torch_greedy"] for r in REFERENCE)


def test_greedy_tokens_are_stepwise_argmax_of_decoder_logits(gen):
    """Every greedy token is the argmax of a direct decoder run; the score is their log-prob sum."""
    for goal in ("⊢ True", "a b : ℕ\n⊢ a + b = b + a", "an input it never saw ∀ x, x = x"):
        hyp = gen._model.greedy(byt5.encode(goal), 40)[0]
        if not hyp.finished:
            continue
        argmax, total = reference_scores(list(hyp.tokens), goal)
        assert argmax == [*hyp.tokens, byt5.EOS_ID]
        assert hyp.score == pytest.approx(total, abs=1e-4)


def test_greedy_equals_beam_with_one_beam(gen):
    """Beam search with one beam gives exactly the greedy hypothesis (tokens and score)."""
    for r in REFERENCE + [{"goal": "x y : ℤ\n⊢ x * y = y * x"}]:
        ids = byt5.encode(r["goal"])
        greedy = gen._model.greedy(ids, 60)
        beam = gen._model.beam_search(ids, 1, 1, 60)
        assert [h.tokens for h in beam] == [h.tokens for h in greedy]
        assert beam[0].score == pytest.approx(greedy[0].score, abs=1e-9)


def test_beam_returns_n_distinct_sorted_candidates_with_checked_scores(gen):
    """n=4 gives 4 distinct hypotheses, best first, with finite scores that equal a
    teacher-forced recomputation; the three trained answers lead; candidates are distinct
    texts, and a hypothesis that is not valid UTF-8 is dropped rather than shown."""
    hyps = gen._model.beam_search(byt5.encode(PQ_GOAL), 4, 4, 64)
    assert len(hyps) == 4 and len({h.tokens for h in hyps}) == 4
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    for h in hyps:
        assert h.finished and math.isfinite(h.score)
        _, total = reference_scores(list(h.tokens), PQ_GOAL)
        assert h.score == pytest.approx(total, abs=1e-4)
    valid = []
    for h in hyps:
        try:
            valid.append(byt5.decode(h.tokens))
        except UnicodeDecodeError:
            pass
    out = asyncio.run(gen.generate(GenerationRequest(goal=PQ_GOAL, n=4)))
    assert [c.text for c in out] == valid  # same order, invalid ones left out
    assert set(valid[:3]) == {"exact ⟨hp, hq⟩", "constructor", "refine ⟨?_, ?_⟩"}
    four = asyncio.run(gen.generate(GenerationRequest(goal="⊢ 2 + 2 = 4", n=4)))
    texts = [c.text for c in four]
    assert len(texts) == 4 and len(set(texts)) == 4 and texts[0] == "norm_num"
    scores = [c.score for c in four]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) and s < 0 for s in scores)


def test_decoder_with_past_gives_the_same_results_as_rerunning(gen, gen_no_past):
    """The cached decoder path and the full re-run path produce identical hypotheses."""
    assert gen.use_past and not gen_no_past.use_past
    for goal in (PQ_GOAL, "⊢ 2 + 2 = 4", "a b : ℕ\n⊢ a + b = b + a"):
        ids = byt5.encode(goal)
        a = gen._model.beam_search(ids, 3, 3, 48)
        assert gen.last_stats.used_past
        b = gen_no_past._model.beam_search(ids, 3, 3, 48)
        assert not gen_no_past.last_stats.used_past
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)


def test_length_limit_drops_cut_hypotheses(gen):
    """max_tokens bounds the steps (× 4 bytes); a tactic cut by the limit is not returned."""
    req = GenerationRequest(goal="⊢ True", n=1, max_tokens=1)  # 4 steps: 'triv' only
    assert gen.max_steps(req) == 4
    assert asyncio.run(gen.generate(req)) == []
    assert gen.last_stats.steps == 4
    assert [c.text for c in asyncio.run(gen.generate(GenerationRequest(goal="⊢ True", n=1, max_tokens=8)))] == ["trivial"]


# ------------------------------------------------------------------------------ async, cancel, deadline


async def test_generate_runs_on_the_worker_thread(gen):
    """Decoding happens off the event loop's thread."""
    seen: list[str] = []
    original = gen.decode

    def spy(request, stop=None):
        seen.append(threading.current_thread().name)
        return original(request, stop)

    gen.decode = spy  # type: ignore[method-assign]
    try:
        out = await gen.generate(GenerationRequest(goal="⊢ True", n=2))
    finally:
        del gen.decode
    assert out and all(isinstance(c, Candidate) for c in out)
    assert seen and seen[0] != threading.current_thread().name and seen[0].startswith("onnx-")


async def test_cancel_and_deadline_stop_between_steps(gen):
    """A set cancel event or a past deadline stops before the first step with nothing."""
    cancel = asyncio.Event()
    cancel.set()
    assert await gen.generate(GenerationRequest(goal=PQ_GOAL, n=4), cancel) == []
    assert gen.last_stats.stopped == "cancelled" and gen.last_stats.steps == 0
    late = GenerationRequest(goal=PQ_GOAL, n=4, deadline=time.monotonic() - 1)
    assert await gen.generate(late) == []
    assert gen.last_stats.stopped == "deadline"


def test_stop_mid_search_keeps_only_finished_hypotheses(gen):
    """Stopping after some steps returns the hypotheses finished by then, never partial ones."""
    calls = {"n": 0}

    def stop_after(k):
        def should_stop():
            calls["n"] += 1
            return "cancelled" if calls["n"] > k else ""
        return should_stop

    full = gen._model.beam_search(byt5.encode("⊢ 2 + 2 = 4"), 4, 4, 64)
    calls["n"] = 0
    early = gen._model.beam_search(byt5.encode("⊢ 2 + 2 = 4"), 4, 4, 64, stop_after(10))
    assert gen.last_stats.stopped == "cancelled" and gen.last_stats.steps == 10
    assert all(h.finished for h in early)
    assert [h.tokens for h in early] == [h.tokens for h in full if len(h.tokens) < 10][: len(early)]
    calls["n"] = 0
    assert gen._model.greedy(byt5.encode("⊢ True"), 64, stop_after(3)) == []


async def test_cancel_while_running_returns_promptly():
    """Setting cancel during a long search ends it within a few steps."""
    g = load(None, MODEL_DIR, threads=1, use_past=False, max_length=10_000)
    try:
        cancel = asyncio.Event()
        task = asyncio.create_task(g.generate(GenerationRequest(goal="zzz " * 200, n=8, max_tokens=5000), cancel))
        await asyncio.sleep(0.2)
        cancel.set()
        t0 = time.monotonic()
        await asyncio.wait_for(task, 10)
        assert time.monotonic() - t0 < 5
        assert g.last_stats.stopped == "cancelled" and g.last_stats.steps < 5000 * 4
    finally:
        g.close()


# ------------------------------------------------------------------------------ loading


def test_session_options_use_explicit_threads():
    """The thread count given to load() is the sessions' intra-op thread count."""
    g = load(None, MODEL_DIR, threads=2)
    try:
        assert g.threads == 2
        opts = g._model.encoder.session.get_session_options()
        assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
        assert g.id == "tiny_t5_onnx" and g.role == "tactic"
    finally:
        g.close()


def test_missing_files_raise_model_not_found(tmp_path):
    """A missing directory or a missing encoder/decoder file names what is missing."""
    with pytest.raises(ModelNotFound, match="not found"):
        load(None, tmp_path / "nope")
    shutil.copy(MODEL_DIR / ENCODER_FILE, tmp_path / ENCODER_FILE)
    with pytest.raises(ModelNotFound, match=DECODER_FILE):
        load(None, tmp_path)


def test_corrupt_or_wrong_files_raise_model_load_error(tmp_path):
    """Garbage, empty or swapped files give ModelLoadError naming the file."""
    for name in (ENCODER_FILE, DECODER_FILE, DECODER_WITH_PAST_FILE):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    (tmp_path / DECODER_FILE).write_bytes(b"\x08\x07not an onnx model at all" * 10)
    with pytest.raises(ModelLoadError, match=DECODER_FILE):
        load(None, tmp_path)
    (tmp_path / DECODER_FILE).write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load(None, tmp_path)
    shutil.copy(MODEL_DIR / ENCODER_FILE, tmp_path / DECODER_FILE)  # an encoder where the decoder goes
    with pytest.raises(ModelLoadError, match="encoder_hidden_states"):
        load(None, tmp_path)


def test_onnx_subfolder_layout_and_missing_past(tmp_path):
    """Files under <dir>/onnx/ are found; without the with-past file decoding re-runs the decoder."""
    sub = tmp_path / "onnx"
    sub.mkdir()
    for name in (ENCODER_FILE, DECODER_FILE):
        shutil.copy(MODEL_DIR / name, sub / name)
    g = load(None, tmp_path, threads=1)
    try:
        assert not g.use_past
        out = asyncio.run(g.generate(GenerationRequest(goal="⊢ True", n=1)))
        assert [c.text for c in out] == ["trivial"]
    finally:
        g.close()


def test_catalog_entry_uses_reprover_input_format():
    """Loaded for the catalog's ReProver entry: its id, and premises + state joined by blank lines."""
    from local_models.catalog import load_catalog

    entry = load_catalog()["reprover-tacgen-byt5-small"]
    g = load(entry, MODEL_DIR, threads=1)
    try:
        assert g.id == "reprover-tacgen-byt5-small" and g.role == "tactic"
        req = GenerationRequest(goal="⊢ True", premises=["<a>True.intro</a> : True"], n=2)
        assert g.template.render(req) == "<a>True.intro</a> : True\n\n⊢ True"
        out = asyncio.run(g.generate(req))
        assert out and all(c.source == "reprover-tacgen-byt5-small" for c in out)
    finally:
        g.close()


def test_input_name_variants_and_unfeedable_inputs():
    """Non-Optimum input names (decoder_input_ids, attention_mask) are fed; an input the backend
    cannot provide is a load error naming it."""
    from types import SimpleNamespace

    from local_models.onnx_seq2seq import DECODER_INPUTS, _Session

    class FakeSession:
        def __init__(self, names):
            self._in = [SimpleNamespace(name=n, type="tensor(int64)") for n in names]
            self.fed = None

        def get_inputs(self):
            return self._in

        def get_outputs(self):
            return [SimpleNamespace(name="logits", shape=["b", "t", 384])]

        def run(self, _outputs, feeds, _run_options=None):
            self.fed = feeds
            return [np.zeros((1, 1, 384), dtype=np.float32)]

    fake = FakeSession(["decoder_input_ids", "attention_mask", "encoder_hidden_states"])
    s = _Session(fake, Path("decoder_model.onnx"), DECODER_INPUTS, ["input_ids", "encoder_hidden_states"], "logits")
    assert s.vocab == 384
    s.run({"input_ids": np.zeros((1, 1)), "encoder_attention_mask": np.ones((1, 3)),
           "encoder_hidden_states": np.zeros((1, 3, 32)), "past_key_values.0.decoder.key": np.zeros(1)})
    assert set(fake.fed) == {"decoder_input_ids", "attention_mask", "encoder_hidden_states"}
    with pytest.raises(ModelLoadError, match="cannot feed.*use_cache_branch"):
        _Session(FakeSession(["input_ids", "encoder_hidden_states", "use_cache_branch"]), Path("decoder_model.onnx"),
                 DECODER_INPUTS, ["input_ids"], "logits")


def test_terminated_onnxruntime_run_counts_as_a_stop(gen):
    """A run aborted through RunOptions.terminate (real onnxruntime) is a stop, not an error."""
    model = gen._model
    options = ort.RunOptions()
    options.terminate = True
    model.run_options, model.terminate_reason = options, "deadline"
    try:
        assert model.beam_search(byt5.encode(PQ_GOAL), 4, 4, 64) == []
        assert model.stats.stopped == "deadline"
        assert model.greedy(byt5.encode(PQ_GOAL), 64) == []
    finally:
        model.run_options = None


def test_other_runtime_failures_still_raise(gen, monkeypatch):
    """A failing onnxruntime call that was not a requested stop propagates."""
    def boom(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gen._model.encoder, "run", boom)
    with pytest.raises(RuntimeError, match="boom"):
        gen._model.beam_search(byt5.encode(PQ_GOAL), 4, 4, 64)
    with pytest.raises(RuntimeError, match="boom"):
        gen._model.greedy(byt5.encode(PQ_GOAL), 64)


async def test_cancel_aborts_a_long_encoder_pass():
    """Cancel during one long onnxruntime call (here a fake encoder that runs until told to
    terminate) ends generate() promptly through the RunOptions watcher."""
    from types import SimpleNamespace

    from local_models.onnx_seq2seq import DECODER_INPUTS, ENCODER_INPUTS, Seq2SeqModel, _Session
    from local_models.worker import ModelWorker

    class Endless:
        def __init__(self, names):
            self._in = [SimpleNamespace(name=n, type="tensor(int64)") for n in names]

        def get_inputs(self):
            return self._in

        def get_outputs(self):
            return [SimpleNamespace(name="out", shape=["b", "s", 384])]

        def run(self, _outputs, _feeds, run_options=None):
            t0 = time.monotonic()
            while not (run_options is not None and run_options.terminate):
                if time.monotonic() - t0 > 20:
                    raise AssertionError("never terminated")
                time.sleep(0.005)
            raise RuntimeError("Exiting due to terminate flag being set to true.")

    enc = _Session(Endless(["input_ids", "attention_mask"]), Path(ENCODER_FILE), ENCODER_INPUTS, ["input_ids"], "out")
    dec = _Session(Endless(["input_ids", "encoder_hidden_states"]), Path(DECODER_FILE), DECODER_INPUTS,
                   ["input_ids"], "out")
    from local_models.onnx_seq2seq import _reprover_template

    g = OnnxSeq2SeqGenerator(model_id="endless", role="tactic", model=Seq2SeqModel(enc, dec),
                             worker=ModelWorker(name="onnx-endless"), template=_reprover_template())
    try:
        cancel = asyncio.Event()
        task = asyncio.create_task(g.generate(GenerationRequest(goal="⊢ True", n=4), cancel))
        await asyncio.sleep(0.1)
        assert not task.done()
        t0 = time.monotonic()
        cancel.set()
        assert await asyncio.wait_for(task, 5) == []
        assert time.monotonic() - t0 < 2
        assert g.last_stats.stopped == "cancelled"
    finally:
        g.close()


def test_quantized_variants_are_preferred_when_present(tmp_path):
    """``*_quantized.onnx`` files are used by default, ignored with quantized=False, and
    required with quantized=True."""
    from local_models.onnx_seq2seq import model_files

    for name in (ENCODER_FILE, DECODER_FILE):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    shutil.copy(MODEL_DIR / ENCODER_FILE, tmp_path / "encoder_model_quantized.onnx")
    assert model_files(tmp_path)["encoder"].name == "encoder_model_quantized.onnx"
    assert model_files(tmp_path)["decoder"].name == DECODER_FILE
    assert model_files(tmp_path, quantized=False)["encoder"].name == ENCODER_FILE
    with pytest.raises(ModelNotFound, match="decoder_model_quantized.onnx"):
        model_files(tmp_path, quantized=True)
    g = load(None, tmp_path, threads=1)
    try:
        assert g._model.encoder.file.name == "encoder_model_quantized.onnx"
        assert [c.text for c in asyncio.run(g.generate(GenerationRequest(goal="⊢ True", n=1)))] == ["trivial"]
    finally:
        g.close()
