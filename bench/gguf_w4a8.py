"""Benchmark: W4A8 (Q4_0 weights × int8 activations, llama.cpp's CPU path) vs F16, same model shape.

A random-weight llama model with SmolLM2-135M's shape (30 layers, 576-d, 9 heads / 3 KV heads,
FFN 1536, vocab 49152) is written as F16 with the ``gguf`` package, then quantized to Q4_0 **by
llama.cpp** (``llama_model_quantize``, ``pure`` so every matrix is Q4_0; on CPU each Q4_0 matmul
quantizes the activations to Q8_0 and runs int8 dot products: docs/models.md §2.3). Each variant
is measured in its own subprocess (clean peak RSS), variants interleaved, medians of the repeats:

* load time; time to first candidate (cold: 64-token prompt + one 16-token greedy candidate);
* single-sequence decode tokens/s (64 greedy tokens); batched aggregate tokens/s (8 sequences);
* decode tokens per CPU-second of the process (robust to other load when ``--threads 1``);
* peak RSS of the process (``VmHWM`` in /proc/self/status; ``ru_maxrss`` would inherit the parent's
  peak across exec), with the Python baseline (numpy + llama_cpp imported) printed alongside.

Target: W4A8 decode ≥ 2.5× F16.

    .venv/bin/python bench/gguf_w4a8.py [--repeats 3] [--threads N] [--dir DIR] [--dims 576,1536,30,9,3,2048,49152]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPT = "theorem add_zero_example (n : ℕ) (h : 0 < n) : n + 0 = n ∧ 0 + n = n := by\n  constructor\n  · simp\n  · "


def _proc_status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmHWM: peak RSS of this exec'd image)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: best effort


def measure(path: Path, threads: int) -> dict:
    """Run in a fresh process: load, first candidate, decode speeds, peak RSS."""
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    from local_models import nbest

    base_rss = _proc_status_mb("VmRSS")
    t = time.perf_counter()
    model = nbest.NativeModel(path)
    decoder = nbest.NBestDecoder(model, n_ctx=2048, n_seq_max=8, threads=threads)
    load_s = time.perf_counter() - t
    prompt = model.tokenize(PROMPT * 3)[:64]

    t = time.perf_counter()
    decoder.generate(prompt, nbest.NBestParams(n=1, max_tokens=16, stops=()))
    first_s = time.perf_counter() - t
    prompt_s = decoder.stats.prompt_s

    cpu = time.process_time()
    decoder.generate(prompt, nbest.NBestParams(n=1, max_tokens=64, stops=()))
    cpu = time.process_time() - cpu  # includes re-decoding the one prompt token (prefix re-used)
    single_tps = decoder.stats.steps / decoder.stats.decode_s
    single_cpu_tps = decoder.stats.steps / cpu

    decoder.generate(prompt, nbest.NBestParams(n=8, max_tokens=32, stops=()))
    batched_tps = 8 * decoder.stats.steps / decoder.stats.decode_s
    decoder.close()
    model.close()
    return {
        "load_s": load_s, "first_candidate_s": first_s, "prompt_s": prompt_s,
        "decode_tok_s": single_tps, "decode_cpu_tok_s": single_cpu_tps, "batched8_tok_s": batched_tps,
        "peak_rss_mb": _proc_status_mb("VmHWM"),
        "python_rss_mb": base_rss, "file_mb": path.stat().st_size / 1e6,
    }


def quantize_q4_0(src: Path, dst: Path, threads: int) -> None:
    """Quantize a GGUF to pure Q4_0 with llama.cpp's own quantizer."""
    import llama_cpp

    from local_models import nbest

    nbest.ensure_native_initialised()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.nthread = threads
    params.pure = True
    rc = llama_cpp.llama_model_quantize(os.fsencode(str(src)), os.fsencode(str(dst)), ctypes.byref(params))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed with code {rc}")


def tensor_types(path: Path) -> str:
    """Count of tensor types in a GGUF file (e.g. 'Q4_0×211, F32×61')."""
    import collections

    import gguf

    reader = gguf.GGUFReader(str(path))
    counts = collections.Counter(t.tensor_type.name for t in reader.tensors)
    return ", ".join(f"{k}×{v}" for k, v in counts.most_common())


def main(argv: list[str] | None = None) -> int:
    """Make the two models, measure each in subprocesses, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dir", type=Path, default=None, help="keep the model files here (default: a temp dir)")
    parser.add_argument("--dims", default=None, help="n_embd,n_ff,n_layer,n_head,n_head_kv,n_ctx,n_vocab")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from local_models.nbest import physical_cores

    threads = args.threads or physical_cores()
    if args.measure:
        print(json.dumps(measure(args.measure, threads)))
        return 0

    from tests.local_models.tiny_gguf import SMOLLM2_135M, TinyDims, write_tiny_gguf

    dims = TinyDims.parse(args.dims) if args.dims else SMOLLM2_135M
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        f16, q4 = folder / "random-f16.gguf", folder / "random-q4_0.gguf"
        t = time.perf_counter()
        if not f16.exists():
            write_tiny_gguf(f16, "f16", dims, name="random-smollm2-shape")
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        if not q4.exists():
            quantize_q4_0(f16, q4, threads)
        quant_s = time.perf_counter() - t
        variants = {"F16": f16, "W4A8 (Q4_0)": q4}
        runs: dict[str, list[dict]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, path in variants.items():
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", str(path), "--threads", str(threads)],
                    capture_output=True, text=True, check=True,
                )
                runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        types = {name: tensor_types(path) for name, path in variants.items()}

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    print(f"shape {dims}, {threads} threads, {args.repeats} repeats each (median), "
          f"F16 written in {write_s:.1f} s, quantized by llama.cpp in {quant_s:.1f} s")
    for name in variants:
        print(f"  {name}: {types[name]}")
    rows = [
        ("file size (MB)", "file_mb", "{:.0f}", False),
        ("load (ms)", "load_s", "{:.0f}", True),
        ("prompt 64 tok (ms)", "prompt_s", "{:.0f}", True),
        ("first candidate (ms)", "first_candidate_s", "{:.0f}", True),
        ("decode tok/s (1 seq)", "decode_tok_s", "{:.1f}", False),
        ("  per CPU-second", "decode_cpu_tok_s", "{:.1f}", False),
        ("decode tok/s (8 seq)", "batched8_tok_s", "{:.1f}", False),
        ("peak RSS (MB)", "peak_rss_mb", "{:.0f}", False),
        ("  python baseline RSS", "python_rss_mb", "{:.0f}", False),
    ]
    print(f"{'metric':<22} {'F16':>10} {'W4A8':>10} {'W4A8 vs F16':>12}")
    for label, key, fmt, is_time in rows:
        a, b = med("F16", key), med("W4A8 (Q4_0)", key)
        scale = 1000 if is_time else 1
        ratio = (a / b if is_time else b / a) if a and b else float("nan")
        print(f"{label:<22} {fmt.format(a * scale):>10} {fmt.format(b * scale):>10} {ratio:>11.2f}×")
    print("(ratio: F16 time / W4A8 time for times, W4A8 / F16 otherwise)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
