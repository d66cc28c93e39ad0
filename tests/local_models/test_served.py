"""Served models (OpenAI-compatible endpoints): config, n-best, deadlines, cancellation, failures.

Runs against ``tests/local_models/openai_fake.py``, a scripted HTTP server on 127.0.0.1 (real
sockets, real httpx). The same backend against llama.cpp's own server is in
``test_served_real.py``.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

pytest.importorskip("httpx")

from local_models import served
from local_models.catalog import custom_entry, get_model, load_catalog
from local_models.config import CustomModel, load_config
from local_models.errors import CatalogError, ConfigError, ModelLoadError
from local_models.generation import GenerationRequest, TacticGenerator
from local_models.loader import load_generator
from tests.local_models.openai_fake import FakeOpenAI, free_port

GOAL = "n : Nat\n⊢ n + 0 = n"


@pytest.fixture(autouse=True)
def _fresh_memory():
    """Each test starts without remembered n-support (it is per process, keyed by URL)."""
    served._n_support.clear()
    served._no_logprobs.clear()
    yield
    served._n_support.clear()
    served._no_logprobs.clear()


def entry(base_url: str, *, model: str = "fake-model", role: str = "tactic", **kw):
    spec = CustomModel(base_url=base_url, model=model, role=role, prompt=kw.pop("prompt", "GOAL {goal}\nTACTIC:"),
                       **kw)
    return custom_entry("srv", spec, load_catalog(), "test.toml")


def request(n: int = 4, **kw) -> GenerationRequest:
    return GenerationRequest(goal=GOAL, n=n, max_tokens=kw.pop("max_tokens", 16), **kw)


# --------------------------------------------------------------------------- configuration


def test_custom_endpoint_entry_from_project_file(tmp_path, monkeypatch):
    """A project file naming base_url + model gives a served entry with the endpoint's settings."""
    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "none.toml"))
    (tmp_path / ".lean-companion.toml").write_text(
        '[models]\ntactic = ["gpu-bfs"]\n\n[models.custom.gpu-bfs]\nextends = "bfs-prover-v2-7b"\n'
        'base_url = "http://gpu-box:8000/v1"\nmodel = "bfs-prover-v2"\napi_key_env = "GPU_KEY"\n'
        'n_mode = "native"\ntimeout_seconds = 30.0\n')
    config = load_config(tmp_path, environ={})
    e = get_model("gpu-bfs", config)
    assert e.format == "served" and e.role == "tactic" and e.template == "bfs" and e.source is None
    assert e.endpoint is not None
    assert (e.endpoint.base_url, e.endpoint.model, e.endpoint.api_key_env, e.endpoint.n_mode,
            e.endpoint.timeout_seconds) == ("http://gpu-box:8000/v1", "bfs-prover-v2", "GPU_KEY", "native", 30.0)


def test_api_key_in_clear_is_refused(tmp_path):
    """A key written into the config file is an unknown key; the error points at api_key_env."""
    path = tmp_path / ".lean-companion.toml"
    path.write_text('[models.custom.x]\nbase_url = "http://h/v1"\nmodel = "m"\nrole = "tactic"\n'
                    'api_key = "sk-secret"\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, environ={})
    assert "models.custom.x.api_key: unknown key" in str(err.value) and "api_key_env" in str(err.value)


@pytest.mark.parametrize("kw, message", [
    ({"base_url": "localhost:11434/v1"}, "base_url must start with http"),
    ({"model": ""}, "needs 'model'"),
    ({"path": "/m.gguf"}, "no 'path' or 'repo'"),
])
def test_bad_endpoint_entries(kw, message):
    spec = {"base_url": "http://127.0.0.1:1/v1", "model": "m", "role": "tactic", "prompt": "{goal}", **kw}
    with pytest.raises(CatalogError, match=message):
        custom_entry("srv", CustomModel(**spec), load_catalog(), "test.toml")


def test_catalog_served_entries_are_consistent():
    """Every catalog entry with an endpoint is a served tactic/whole-proof model with an Ollama name."""
    served_entries = [e for e in load_catalog().values() if e.format == "served"]
    assert served_entries, "the catalog lists Ollama models"
    for e in served_entries:
        assert e.endpoint is not None and e.endpoint.ollama_name, e.id
        assert e.role in ("tactic", "whole-proof")
        assert not e.verified


# --------------------------------------------------------------------------- n-best


async def test_native_n_gives_ranked_distinct_candidates():
    with FakeOpenAI(answers=["simp", "omega", " rfl\nextra", "simp"]) as fake:
        g = served.load(entry(fake.base_url))
        assert isinstance(g, TacticGenerator)
        try:
            out = await g.generate(request(4))
        finally:
            g.close()
    assert [c.text for c in out] == ["simp", "omega", "rfl"]  # duplicate dropped, newline cut, log-prob order
    assert all(c.source == "srv" and c.kind == "tactic" for c in out)
    assert [c.score for c in out] == [-0.5, -1.0, -1.5]
    (body,) = fake.requests
    assert body["n"] == 4 and body["model"] == "fake-model" and body["prompt"] == f"GOAL {GOAL}\nTACTIC:"
    assert body["stop"][0] == "\n" and body["temperature"] > 0 and body["max_tokens"] == 16
    assert served._n_support[(fake.base_url, "fake-model")] is True


@pytest.mark.parametrize("mode", ["ignore-n", "refuse-n"])
async def test_without_n_support_asks_once_per_candidate_and_remembers(mode):
    """A server that ignores or refuses n gets one request per candidate, with distinct seeds, from then on."""
    with FakeOpenAI(mode=mode, answers=["simp", "omega", "rfl", "decide"]) as fake:
        g = served.load(entry(fake.base_url))
        try:
            first = await g.generate(request(4))
            probes = len(fake.requests)
            second = await g.generate(request(4))
        finally:
            g.close()
    assert {c.text for c in first} == {"simp", "omega", "rfl", "decide"}
    assert {c.text for c in second} == {"simp", "omega", "rfl", "decide"}
    assert served._n_support[(fake.base_url, "fake-model")] is False
    later = fake.requests[probes:]
    assert len(later) == 4 and all("n" not in b for b in later)
    assert sorted(b["seed"] for b in later) == [0, 1, 2, 3]
    assert g.last_stats.n_mode == "seeds" and g.last_stats.requests == 4


async def test_chat_template_uses_chat_api():
    """A chat template sends its turns to /chat/completions (the server applies the model's own chat format)."""
    with FakeOpenAI(answers=["```lean\nsimp\n```"], mode="ok") as fake:
        e = entry(fake.base_url, prompt="Prove: {goal}", chat="chatml", system="You are a Lean expert.")
        g = served.load(e)
        try:
            await g.generate(request(1))
        finally:
            g.close()
    assert fake.paths == ["/v1/chat/completions"]
    assert fake.requests[0]["messages"] == [{"role": "system", "content": "You are a Lean expert."},
                                            {"role": "user", "content": f"Prove: {GOAL}"}]
    assert fake.requests[0]["temperature"] == 0.0 and "n" not in fake.requests[0]


async def test_whole_proof_keeps_newlines():
    with FakeOpenAI(answers=["```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  simp\n  done\n```"]) as fake:
        e = entry(fake.base_url, role="whole-proof", prompt="{statement}")
        g = served.load(e)
        try:
            out = await g.generate(request(1, statement="theorem t (n : Nat) : n + 0 = n := by", max_tokens=200))
        finally:
            g.close()
    assert "\n" not in fake.requests[0].get("stop", [])  # a whole proof spans lines
    assert out and out[0].kind == "proof" and "simp\n  done" in out[0].text


# --------------------------------------------------------------------------- failures


async def test_server_down_is_one_clear_line_and_fails_fast_after():
    port = free_port()
    g = served.load(entry(f"http://127.0.0.1:{port}/v1"))  # a down server is not a load error
    try:
        t0 = time.monotonic()
        with pytest.raises(served.ServedModelError) as err:
            await g.generate(request(2))
        first = time.monotonic() - t0
        message = str(err.value)
        assert "\n" not in message and f"127.0.0.1:{port}" in message and "is it running" in message
        t1 = time.monotonic()
        with pytest.raises(served.ServedModelError):
            await g.generate(request(2))
        assert time.monotonic() - t1 < 0.1  # remembered: no new connection attempts for a while
        assert first < 3.0
    finally:
        g.close()


async def test_connection_errors_are_retried_until_the_server_is_up():
    """A server that starts listening a moment later is reached by the backoff retries."""
    import threading

    port = free_port()
    g = served.ServedGenerator(entry(f"http://127.0.0.1:{port}/v1"))
    fake = FakeOpenAI(answers=["omega"], port=port)
    timer = threading.Timer(0.25, fake.__enter__)
    timer.start()
    try:
        out = await g.generate(request(1))
    finally:
        timer.join()
        g.close()
        fake.__exit__(None, None, None)
    assert [c.text for c in out] == ["omega"]


async def test_http_errors_are_not_retried():
    """A server error is reported at once (one line), not retried: only connection failures are."""
    with FakeOpenAI(mode="error500") as fake:
        g = served.ServedGenerator(entry(fake.base_url))
        try:
            with pytest.raises(served.ServedModelError, match="HTTP 500: CUDA out of memory"):
                await g.generate(request(1))
        finally:
            g.close()
    assert len(fake.requests) == 1


async def test_deadline_returns_early_and_closes_the_request():
    with FakeOpenAI(mode="slow", delay=10.0) as fake:
        g = served.load(entry(fake.base_url))
        try:
            t0 = time.monotonic()
            out = await g.generate(request(2, deadline=time.monotonic() + 1.0))
            took = time.monotonic() - t0
            for _ in range(40):
                if fake.hangups:
                    break
                await asyncio.sleep(0.05)
        finally:
            g.close()
    assert out == [] and 0.9 <= took < 3.0
    assert g.last_stats.finish == "deadline" and len(fake.requests) == 1
    assert fake.hangups == 1, "the HTTP request was closed, not left running on the server"


async def test_cancel_closes_the_http_request():
    """Setting cancel (the user edited) ends generate at once and the server sees the connection close."""
    with FakeOpenAI(mode="slow", delay=10.0) as fake:
        g = served.load(entry(fake.base_url))
        cancel = asyncio.Event()
        try:
            task = asyncio.ensure_future(g.generate(request(2), cancel))
            for _ in range(200):  # until the request is on the server (a loaded machine may take a while)
                if fake.requests:
                    break
                await asyncio.sleep(0.02)
            t0 = time.monotonic()
            cancel.set()
            out = await asyncio.wait_for(task, 2.0)
            assert time.monotonic() - t0 < 1.0
            for _ in range(40):
                if fake.hangups:
                    break
                await asyncio.sleep(0.05)
        finally:
            g.close()
    assert out == [] and g.last_stats.finish == "cancelled"
    assert fake.hangups == 1


async def test_event_loop_keeps_running_during_a_request():
    with FakeOpenAI(mode="slow", delay=0.6) as fake:
        g = served.load(entry(fake.base_url))
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        try:
            await g.generate(request(1))
        finally:
            t.cancel()
            g.close()
    assert ticks >= 10  # 0.6 s of 20 ms sleeps: ~30 on an idle machine, 0 if the loop were blocked


@pytest.mark.parametrize("mode, expected", [
    ("garbage", "did not answer JSON"),
    ("no-choices", "without 'choices'"),
    ("drop", "closed the connection mid-response"),
    ("unknown-model", "has no model 'fake-model'"),
])
async def test_bad_answers_are_one_line_errors(mode, expected):
    with FakeOpenAI(mode=mode) as fake:
        g = served.ServedGenerator(entry(fake.base_url))
        try:
            with pytest.raises(served.ServedModelError) as err:
                await g.generate(request(1))
        finally:
            g.close()
    assert expected in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("srv: ")


async def test_a_proxy_in_the_environment_does_not_capture_loopback_servers(monkeypatch):
    """HTTP(S)_PROXY without NO_PROXY must not send requests for a server on 127.0.0.1 to the proxy."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with FakeOpenAI(answers=["omega"]) as fake:
        g = served.load(entry(fake.base_url))
        try:
            assert [c.text for c in await g.generate(request(1))] == ["omega"]
        finally:
            g.close()
    assert served._trust_env("http://gpu-box:8000/v1") and not served._trust_env("http://localhost:11434/v1")


def test_unknown_model_name_is_a_load_error_listing_what_the_server_has():
    with FakeOpenAI(models=["llama3:latest", "qwen3:8b"]) as fake, pytest.raises(ModelLoadError) as err:
        served.load(entry(fake.base_url, model="ollama:bfs-prover"))
    assert "has no model 'bfs-prover'" in str(err.value) and "llama3:latest, qwen3:8b" in str(err.value)
    assert "ollama pull bfs-prover" in str(err.value)


def test_ollama_latest_tag_matches():
    with FakeOpenAI(models=["bfs:latest"]) as fake:
        served.load(entry(fake.base_url, model="ollama:bfs")).close()


async def test_api_key_comes_from_the_named_variable(monkeypatch):
    with FakeOpenAI(api_key="sk-test-123", answers=["omega"]) as fake:
        e = entry(fake.base_url, api_key_env="MY_SERVED_KEY")
        monkeypatch.delenv("MY_SERVED_KEY", raising=False)
        with pytest.raises(ModelLoadError, match="MY_SERVED_KEY .* is not set"):
            served.load(e)
        monkeypatch.setenv("MY_SERVED_KEY", "wrong")
        with pytest.raises(ModelLoadError, match="HTTP 401") as err:
            served.load(e)
        assert "wrong" not in str(err.value)
        monkeypatch.setenv("MY_SERVED_KEY", "sk-test-123")
        g = served.load(e)
        try:
            out = await g.generate(request(1))
        finally:
            g.close()
    assert [c.text for c in out] == ["omega"]
    assert fake.headers[-1]["Authorization"] == "Bearer sk-test-123"


def test_cheap_checks_name_a_missing_key_variable(monkeypatch):
    """check_files (what doctor and the editor's problem report run) names an unset api_key_env."""
    from local_models.loader import ResolvedModel, check_files

    e = entry("http://gpu-box:8000/v1", api_key_env="LC_TEST_MISSING_KEY")
    monkeypatch.delenv("LC_TEST_MISSING_KEY", raising=False)
    with pytest.raises(ModelLoadError, match="LC_TEST_MISSING_KEY .api_key_env. is not set"):
        check_files(ResolvedModel(e, Path(), ()))
    monkeypatch.setenv("LC_TEST_MISSING_KEY", "x")
    check_files(ResolvedModel(e, Path(), ()))


def test_loader_loads_a_served_model_without_files(tmp_path, monkeypatch):
    """load_generator resolves a served id with no files, no memory check, and returns the served backend."""
    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "none.toml"))
    with FakeOpenAI() as fake:
        (tmp_path / ".lean-companion.toml").write_text(
            f'[models.custom.srv]\nbase_url = "{fake.base_url}"\nmodel = "fake-model"\nrole = "tactic"\n'
            'template = "bfs"\n')
        g = load_generator("srv", load_config(tmp_path, environ={}))
        try:
            assert isinstance(g, served.ServedGenerator) and g.role == "tactic"
        finally:
            g.close()


# --------------------------------------------------------------------------- end to end


def _double_server() -> str:
    import shlex

    from tests.lean_double import BASIC_SCENARIO, double_command

    return shlex.join(double_command("--elab-delay-ms", "10", scenario=BASIC_SCENARIO))


HARD = "theorem hard (f : Nat → Nat) (hf : ∀ x, f (f x) = x) : Function.Injective f := by\n  sorry\n"


def test_fill_sorries_uses_a_served_model_named_in_the_project_file(tmp_path, monkeypatch):
    """fill-sorries against the Lean test double, with .lean-companion.toml naming an endpoint: the
    served model's tactic (which no other source proposes) is checked and written."""
    from copilot.fill_sorries.cli import main
    from copilot.fill_sorries.report import from_json

    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "no-user-config.toml"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- test project\n")
    (project / "Hard.lean").write_text(HARD)
    with FakeOpenAI(answers=["exact Function.LeftInverse.injective hf"], models=["bfs-served"]) as fake:
        (project / ".lean-companion.toml").write_text(
            f'[models.custom.srv]\nextends = "bfs-prover-v2-7b"\nbase_url = "{fake.base_url}"\n'
            'model = "bfs-served"\n')
        code = main(["--project", str(project), "--server-cmd", _double_server(), "--budget", "20", "--no-index",
                     "-q", "--in-place", "--model", "srv", "--report", str(tmp_path / "r.json")])
    report = from_json((tmp_path / "r.json").read_bytes())
    assert report.errors == []
    assert code == 0, report.results
    assert "  exact Function.LeftInverse.injective hf\n" in (project / "Hard.lean").read_text()
    (result,) = report.results
    assert result.status == "filled" and "srv" in result.models
    assert fake.requests and fake.requests[0]["prompt"].endswith(":::")  # BFS-Prover's '{state}:::' prompt


def test_fill_sorries_with_the_served_model_down_still_runs(tmp_path, monkeypatch):
    """A server that is down costs only that model: the run completes with the other sources."""
    from copilot.fill_sorries.cli import main
    from copilot.fill_sorries.report import from_json

    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "no-user-config.toml"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- test project\n")
    (project / "A.lean").write_text("theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n")
    (project / ".lean-companion.toml").write_text(
        f'[models.custom.srv]\nextends = "bfs-prover-v2-7b"\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n'
        'model = "bfs-served"\n')
    code = main(["--project", str(project), "--server-cmd", _double_server(), "--budget", "20", "--no-index",
                 "-q", "--in-place", "--model", "srv", "--report", str(tmp_path / "r.json")])
    report = from_json((tmp_path / "r.json").read_bytes())
    assert code == 0 and [r.status for r in report.results] == ["filled"]
