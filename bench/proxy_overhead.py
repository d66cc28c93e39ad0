"""Proxy overhead benchmark: the same editing session against the Lean double, directly and through
``python -m lsp_proxy``, side by side in one run.

    .venv/bin/python bench/proxy_overhead.py [--rounds 3] [--steps 800] [--docs 50] [--lines 5000]
    .venv/bin/python bench/proxy_overhead.py --compare-features [--rounds 3] [--steps 800]

Prints, as medians over the rounds (the direct and the proxied session run side by side and
take turns, so both see the same background load):

* **wall-time ratio** of a realistic session (>= 10,000 messages on the wire: didOpen of ``--docs``
  documents of ``--lines`` lines, didChange typing bursts, hover, completion, plainGoal,
  waitForDiagnostics, and large publishDiagnostics from the server);
* **added latency per request** (p50/p99): a ping-pong of requests, one at a time, with the
  double's processing delays off, proxied minus direct at each percentile (the two sessions
  take turns request by request, so both see the same background load);
* the proxy's **RSS** (psutil) with all documents open, and at the end of the session.

Targets (docs/proxy.md): ratio <= 1.05, added p99 <= 1 ms, RSS <= 100 MB.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lsp_proxy.framing import FrameReader, encode_frame  # noqa: E402

SCENARIO = REPO / "tests" / "lean_double" / "scenarios" / "basic.json"


def lean_document(lines: int, seed: int) -> str:
    """A plausible Lean file of ``lines`` lines (declarations with tactic proofs, some sorries)."""
    out = ["import Mathlib.Tactic", "", f"namespace Bench{seed}", ""]
    n = 0
    while len(out) < lines - 2:
        n += 1
        out += [
            f"/-- Lemma {n}: a statement about natural numbers with ⊢ α ℕ 𝔽 symbols. -/",
            f"theorem t{seed}_{n} (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + {n} := by",
            "  simp only [Nat.add_zero]",
            "  omega" if n % 7 else "  sorry",
            "",
        ]
    out += [f"end Bench{seed}", ""]
    return "\n".join(out[:lines])


def frame(message: dict) -> bytes:
    return encode_frame(json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False).encode())


@dataclass
class Result:
    wall: float = 0.0
    messages_out: int = 0
    messages_in: int = 0
    proxy_cpu: float = 0.0
    proxy_messages: int = 0


class Session:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.reader = FrameReader(proc.stdout, max_size=2**30)  # type: ignore[arg-type]
        self.waiting: dict[object, asyncio.Future[bytes]] = {}
        self.count_in = 0
        self.count_out = 0
        self.pump = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        while (body := await self.reader.read_frame()) is not None:
            self.count_in += 1
            if b'"method"' in body[:200] and b'"id"' not in body[:40]:
                continue
            msg = json.loads(body)
            if "method" in msg and "id" in msg:  # a server request: answer it like an editor
                self.send({"id": msg["id"], "result": None})
                continue
            future = self.waiting.pop(msg.get("id"), None)
            if future is not None and not future.done():
                future.set_result(body)

    def send(self, message: dict) -> None:
        self.count_out += 1
        self.proc.stdin.write(frame(message))  # type: ignore[union-attr]

    async def request(self, id_: object, method: str, params: dict) -> float:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[id_] = future
        started = time.perf_counter()
        self.send({"id": id_, "method": method, "params": params})
        await self.proc.stdin.drain()  # type: ignore[union-attr]
        await asyncio.wait_for(future, 60)
        return time.perf_counter() - started

    async def close(self) -> None:
        await self.request("shutdown", "shutdown", {})
        self.send({"method": "exit"})
        await self.proc.stdin.drain()  # type: ignore[union-attr]
        await asyncio.wait_for(self.proc.wait(), 30)
        self.pump.cancel()


async def start(argv: list[str]) -> Session:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        cwd=str(REPO), limit=2**24,
    )
    session = Session(proc)
    await session.request(0, "initialize", {"capabilities": {}})
    session.send({"method": "initialized", "params": {}})
    return session


def pos(line: int, character: int) -> dict:
    return {"line": line, "character": character}


async def open_documents(session: Session, count: int, lines: int, prefix: str) -> list[str]:
    docs = [f"file:///bench/{prefix}{i}.lean" for i in range(count)]
    for i, uri in enumerate(docs):
        session.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "lean4", "version": 1, "text": lean_document(lines, i)}}})
    for i, uri in enumerate(docs):
        await session.request(f"{prefix}w{i}", "textDocument/waitForDiagnostics", {"uri": uri, "version": 1})
    return docs


class Editor:
    """One side of the timed session: a session plus the editing script's state."""

    def __init__(self, session: Session, docs: list[str], args: argparse.Namespace) -> None:
        self.session = session
        self.docs = docs
        self.args = args
        self.versions = dict.fromkeys(docs, 1)

    async def step(self, step: int) -> None:
        """A typing burst, its deletion, then one request the editor waits for."""
        session, args = self.session, self.args
        uri = self.docs[step % len(self.docs)]  # the user edits a few files
        line = 6 + 5 * (step % max(1, (args.edit_lines - 10) // 5))
        for k in range(args.burst):
            self.versions[uri] += 1
            session.send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": self.versions[uri]},
                "contentChanges": [{"range": {"start": pos(line, 2 + k), "end": pos(line, 2 + k)}, "text": "x"}]}})
        for _ in range(args.burst):  # and deletes what was typed
            self.versions[uri] += 1
            session.send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": self.versions[uri]},
                "contentChanges": [{"range": {"start": pos(line, 2), "end": pos(line, 3)}, "text": ""}]}})
        rid = 1000 + step
        kind = step % 4
        if kind == 0:
            await session.request(rid, "textDocument/hover", {"textDocument": {"uri": uri}, "position": pos(line - 1, 9)})
        elif kind == 1:
            await session.request(rid, "textDocument/completion", {"textDocument": {"uri": uri}, "position": pos(line, 4)})
        elif kind == 2:
            await session.request(rid, "$/lean/plainGoal", {"textDocument": {"uri": uri}, "position": pos(line, 2)})
        else:
            await session.request(rid, "textDocument/waitForDiagnostics", {"uri": uri, "version": self.versions[uri]})


async def timed(coro) -> tuple[object, float]:
    started = time.perf_counter()
    value = await coro
    return value, time.perf_counter() - started


async def paired_sessions(direct_argv: list[str], proxied_argv: list[str], args: argparse.Namespace) -> dict[bool, Result]:
    """The realistic session, directly and through the proxy, side by side (see side_by_side)."""
    results = await side_by_side({"direct": direct_argv, "proxied": proxied_argv}, args)
    return {False: results["direct"], True: results["proxied"]}


async def side_by_side(variants: dict[str, list[str]], args: argparse.Namespace) -> dict[str, Result]:
    """The realistic session once per variant (e.g. direct, bare proxy, proxy with features),
    side by side: they take turns step by step (rotating which goes first), and each one's wall
    time is the sum of its own start-up, steps and shut-down. All therefore run under the same
    background load. Every variant but "direct" gets its proxy's CPU time measured."""
    results = {name: Result() for name in variants}
    editors: dict[str, Editor] = {}
    for name, argv in variants.items():
        session, elapsed = await timed(start(argv))
        docs, opened = await timed(open_documents(session, args.edit_docs, args.edit_lines, "E"))
        results[name].wall += elapsed + opened
        editors[name] = Editor(session, docs, args)  # type: ignore[arg-type]
    proxies = {name: psutil.Process(editor.session.proc.pid) for name, editor in editors.items() if name != "direct"}
    cpu_before = {name: sum(process.cpu_times()[:2]) for name, process in proxies.items()}
    count_before = {name: editor.session.count_in + editor.session.count_out for name, editor in editors.items()}
    names = list(variants)
    for step in range(args.steps):
        shift = step % len(names)
        for name in names[shift:] + names[:shift]:
            _, elapsed = await timed(editors[name].step(step))
            results[name].wall += elapsed
    for name, process in proxies.items():
        results[name].proxy_cpu = sum(process.cpu_times()[:2]) - cpu_before[name]
        session = editors[name].session
        results[name].proxy_messages = session.count_in + session.count_out - count_before[name]
    for name, editor in editors.items():
        _, elapsed = await timed(editor.session.close())
        results[name].wall += elapsed
        results[name].messages_out, results[name].messages_in = editor.session.count_out, editor.session.count_in
    return results


async def compare_features(args: argparse.Namespace, double: list[str], log: Path) -> int:
    """--compare-features: direct, bare proxy and proxy with features in one run, side by side."""
    def proxied(module: str) -> list[str]:
        return [sys.executable, "-m", module, "--log-file", str(log), "--log-level", "WARNING", "--", *double]

    variants = {"direct": double, "bare": proxied("lsp_proxy"), "features": proxied("copilot.serve")}
    cpu: dict[str, list[float]] = {"bare": [], "features": []}
    wall: dict[str, list[float]] = {"bare": [], "features": []}
    cpu_ratio = []
    for round_ in range(args.rounds):
        results = await side_by_side(variants, args)
        for name in ("bare", "features"):
            cpu[name].append(results[name].proxy_cpu / results[name].proxy_messages * 1e6)
            wall[name].append(results[name].wall / results["direct"].wall)
        cpu_ratio.append(cpu["features"][-1] / cpu["bare"][-1])
        print(f"round {round_ + 1}: proxy CPU per message bare {cpu['bare'][-1]:.1f} us, features "
              f"{cpu['features'][-1]:.1f} us (x{cpu_ratio[-1]:.2f}); wall ratio vs direct bare "
              f"{wall['bare'][-1]:.3f}, features {wall['features'][-1]:.3f}", flush=True)
    med = statistics.median
    print()
    print(f"medians of {args.rounds} rounds ({args.steps} steps, {args.edit_docs} documents x {args.edit_lines} lines, "
          f"diagnostics padded by {args.diag_bytes} bytes):")
    print(f"proxy CPU per message   bare {med(cpu['bare']):.1f} us   features {med(cpu['features']):.1f} us   "
          f"features/bare x{med(cpu_ratio):.2f}   target <= 1.5")
    print(f"wall ratio vs direct    bare {med(wall['bare']):.3f}   features {med(wall['features']):.3f}   target <= 1.05")
    return 0


async def ping_pong(direct_argv: list[str], proxied_argv: list[str], count: int) -> tuple[list[float], list[float]]:
    """Request latencies, one request at a time, no edits (the double answers at once).

    The direct and the proxied session run side by side and take turns request by request, so
    both see the same background load.
    """
    uri = "file:///bench/P.lean"
    sessions = [await start(direct_argv), await start(proxied_argv)]
    for session in sessions:
        session.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "lean4", "version": 1, "text": lean_document(200, 0)}}})
        await session.request("w", "textDocument/waitForDiagnostics", {"uri": uri, "version": 1})
    latencies: tuple[list[float], list[float]] = ([], [])
    for i in range(count):
        method, params = (("$/lean/plainGoal", {"textDocument": {"uri": uri}, "position": pos(7, 2)}) if i % 2 else
                          ("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos(5, 9)}))
        order = (0, 1) if i % 2 else (1, 0)
        for which in order:
            latencies[which].append(await sessions[which].request(10_000 + i, method, params))
    for session in sessions:
        await session.close()
    warm = count // 10
    return latencies[0][warm:], latencies[1][warm:]


async def memory(argv: list[str], args: argparse.Namespace) -> tuple[float, float]:
    """Proxy RSS (MB) with ``--docs`` documents of ``--lines`` lines open, and after edits to them.

    A request the server answers at once (an unknown method: -32601) after the didOpens proves
    they went through the proxy (the mirror holds them) without waiting for the double to
    elaborate 50 large files.
    """
    session = await start(argv)
    proxy = psutil.Process(session.proc.pid)
    docs = [f"file:///bench/D{i}.lean" for i in range(args.docs)]
    for i, uri in enumerate(docs):
        session.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "lean4", "version": 1, "text": lean_document(args.lines, i)}}})
    await session.request("m-open", "bench/ping", {})
    rss_open = proxy.memory_info().rss / 2**20
    for step, uri in enumerate(docs[:10]):
        for k in range(5):
            session.send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": 2 + k},
                "contentChanges": [{"range": {"start": pos(100 + k, 0), "end": pos(100 + k, 0)}, "text": "-- edit\n"}]}})
        await session.request(f"m{step}", "bench/ping", {})
    rss_end = proxy.memory_info().rss / 2**20
    session.proc.kill()  # the double goes with it (process group / parent-death signal)
    await session.proc.wait()
    session.pump.cancel()
    return rss_open, rss_end


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main_async(args: argparse.Namespace) -> int:
    double = [sys.executable, "-m", "tests.lean_double", "--scenario", str(SCENARIO),
              "--elab-delay-ms", str(args.elab_delay_ms), "--huge-diagnostic-bytes", str(args.diag_bytes)]
    quiet_double = [sys.executable, "-m", "tests.lean_double", "--scenario", str(SCENARIO), "--elab-delay-ms", "0"]
    log = Path(tempfile.mkdtemp()) / "proxy.log"
    if args.compare_features:
        return await compare_features(args, double, log)
    proxy_module = "copilot.serve" if args.features else "lsp_proxy"
    proxied = lambda cmd: [sys.executable, "-m", proxy_module, "--log-file", str(log), "--log-level",  # noqa: E731
                           "WARNING", "--", *cmd]
    ratios, direct_walls, proxy_walls, cpu_per_message = [], [], [], []
    p50s, p99s, direct_p50, direct_p99 = [], [], [], []
    messages = 0
    for round_ in range(args.rounds):
        walls = await paired_sessions(double, proxied(double), args)
        ratios.append(walls[True].wall / walls[False].wall)
        direct_walls.append(walls[False].wall)
        proxy_walls.append(walls[True].wall)
        messages = walls[True].messages_out + walls[True].messages_in
        cpu_per_message.append(walls[True].proxy_cpu / walls[True].proxy_messages * 1e6)
        direct_lat, proxied_lat = await ping_pong(quiet_double, proxied(quiet_double), args.pings)
        lat = {False: direct_lat, True: proxied_lat}
        p50s.append((percentile(lat[True], 0.5) - percentile(lat[False], 0.5)) * 1e3)
        p99s.append((percentile(lat[True], 0.99) - percentile(lat[False], 0.99)) * 1e3)
        direct_p50.append(percentile(lat[False], 0.5) * 1e3)
        direct_p99.append(percentile(lat[False], 0.99) * 1e3)
        print(f"round {round_ + 1}: direct {walls[False].wall:.2f}s, proxied {walls[True].wall:.2f}s, "
              f"ratio {ratios[-1]:.3f}; added latency p50 {p50s[-1]:+.3f} ms, p99 {p99s[-1]:+.3f} ms", flush=True)
    memory_double = [*quiet_double[:-1], "600000"]  # the double only stores the files: no elaboration
    rss_open, rss_end = await memory(proxied(memory_double), args)
    med = statistics.median
    print()
    print(f"session: {messages} messages on the wire (editor<->server), {args.edit_docs} documents x "
          f"{args.edit_lines} lines edited in {args.steps} steps, diagnostics padded by {args.diag_bytes} bytes, "
          f"double elaboration delay {args.elab_delay_ms} ms")
    print(f"wall time   direct {med(direct_walls):.2f}s  proxied {med(proxy_walls):.2f}s  "
          f"ratio (median of {args.rounds}) {med(ratios):.3f}   target <= 1.05")
    print(f"proxy CPU   {med(cpu_per_message):.1f} us per message forwarded (user+system, after start-up)")
    print(f"latency     direct p50 {med(direct_p50):.3f} ms p99 {med(direct_p99):.3f} ms; "
          f"added p50 {med(p50s):+.3f} ms  added p99 {med(p99s):+.3f} ms   target p99 <= 1 ms")
    print(f"proxy RSS   {rss_open:.1f} MB with {args.docs} documents x {args.lines} lines open (double not elaborating), "
          f"{rss_end:.1f} MB after 5 edits to 10 of them   target <= 100 MB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=800, help="edit steps (each: 2 x burst didChanges + 1 request)")
    parser.add_argument("--burst", type=int, default=4)
    parser.add_argument("--edit-docs", type=int, default=3, help="documents edited in the timed session")
    parser.add_argument("--edit-lines", type=int, default=60)
    parser.add_argument("--docs", type=int, default=50, help="documents open for the RSS measurement")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--elab-delay-ms", type=int, default=20,
                        help="the double's debounce in the timed session (Lean's own is 200 ms)")
    parser.add_argument("--diag-bytes", type=int, default=20000, help="pad every publishDiagnostics by this much")
    parser.add_argument("--features", action="store_true",
                        help="proxy with copilot's features installed (lean-companion serve) instead of the bare proxy")
    parser.add_argument("--compare-features", action="store_true",
                        help="run direct, bare proxy and proxy with features side by side in one run and print the "
                             "proxy CPU per message of both (target: features <= 1.5x bare) and their wall ratios")
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
