"""Command line of the Lean test double (``python -m tests.lean_double --help``)."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from typing import BinaryIO

from .capabilities import parse_version
from .faults import Faults
from .framing import FramingError, read_frame
from .jsonrpc import ProtocolError, parse_message
from .msglog import MessageLog
from .output import Output, stderr
from .scenario import Scenario, ScenarioError, load_scenario
from .server import Config, Server
from .state import Eof, Fatal


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tests.lean_double",
        description="Lean test double: a TEST process that speaks Lean 4's language-server dialect "
                    "over stdio with a scripted mini-elaborator. It is not Lean.",
    )
    p.add_argument("--scenario", help="scenario file (.json or .toml); see tests/lean_double/README.md")
    p.add_argument("--lean-version", default="4.30",
        help="imitate this Lean version's capabilities and wordings (default 4.30; e.g. 4.9)")
    p.add_argument("--elab-delay-ms", type=int, default=None, help="delay before a version's diagnostics (default 200)")
    p.add_argument("--per-decl-delay-ms", type=int, default=None, help="extra delay per declaration (default 0)")
    p.add_argument("--restart-delay-ms", type=int, default=200, help="worker restart delay after an import change")
    p.add_argument("--lenient-params", action="store_true",
        help="accept requests/notifications without params (Lean dies on them)")
    p.add_argument("--lake-early-empty", action="store_true", help="publish an empty diagnostics list before the real ones")
    p.add_argument("--refresh-requests", type=int, default=0, help="send N workspace/semanticTokens/refresh requests per version")
    p.add_argument("--lean-refresh", action="store_true",
        help="refresh requests at Lean 4.35's cadence while files are open (inlayHint ~0.5 s, semanticTokens ~2 s)")
    p.add_argument("--progress-done-twice", action="store_true",
        help="(always on now: Lean sends processing:[] twice) accepted for old command lines")
    p.add_argument("--rpc-expiry-s", type=float, default=30.0, help="RPC session expiry without keepAlive (default 30)")
    p.add_argument("--sorry-wording", choices=("old", "new", "named"),
        help="'old': declaration uses 'sorry'; 'new': backticks; 'named': declaration `foo` uses `sorry` (default by version)")
    p.add_argument("--try-this-format", choices=("old", "new"),
        help="'old': Try this: X; 'new': Try this:\\n  [apply] X (default by version)")
    p.add_argument("--goals-accomplished", action="store_true",
        help="emit silent goalsAccomplished diagnostics to clients that support them (default from Lean 4.19)")
    p.add_argument("--no-goals-accomplished", action="store_true", help="never emit goalsAccomplished diagnostics")
    p.add_argument("--log", help="append one JSON line per message received and sent to this file")
    f = p.add_argument_group("fault injection")
    f.add_argument("--crash-after", type=int, help="exit abruptly when the Nth client message arrives")
    f.add_argument("--crash-exit-code", type=int, help="exit code of --crash-after (default 137)")
    f.add_argument("--worker-crash-on", help="a file worker crashes while elaborating text containing this string")
    f.add_argument("--worker-crash-exit-code", type=int, help="1 gives -32901 errors, anything else -32902 (default 134)")
    f.add_argument("--garbage-after", type=int, help="write non-LSP bytes to stdout after the Nth client message")
    f.add_argument("--huge-diagnostic-bytes", type=int, help="add an information diagnostic of this many bytes to every publish")
    f.add_argument("--silent-eof-after", type=int, help="close stdout after the Nth client message")
    f.add_argument("--silent-eof-mode", choices=("hang", "exit"),
        help="after --silent-eof-after: keep running (hang, default) or exit 0")
    f.add_argument("--shuffle-replies", action="store_true", help="delay replies at random so they come out of order")
    f.add_argument("--seed", type=int, help="random seed (session ids, shuffling)")
    return p


def build_config(args: argparse.Namespace, scenario: Scenario) -> Config:
    version = parse_version(args.lean_version)
    delays = scenario.delays
    faults = Faults()
    faults.update(scenario.faults, "scenario faults")
    cli_faults = {name: getattr(args, name) for name in Faults.names() if getattr(args, name, None) not in (None, False)}
    faults.update(cli_faults, "command line")
    return Config(
        lean_version=version,
        elab_delay_ms=args.elab_delay_ms if args.elab_delay_ms is not None else int(delays.get("elab_ms", 200)),
        per_decl_delay_ms=args.per_decl_delay_ms if args.per_decl_delay_ms is not None else int(delays.get("per_decl_ms", 0)),
        strict_params=not args.lenient_params,
        lake_early_empty=args.lake_early_empty,
        refresh_requests=args.refresh_requests,
        progress_done_twice=args.progress_done_twice,
        restart_delay_ms=args.restart_delay_ms,
        rpc_expiry_s=args.rpc_expiry_s,
        sorry_wording=args.sorry_wording or ("new" if version >= (4, 20) else "old"),
        try_this_format=args.try_this_format or ("new" if version >= (4, 22) else "old"),
        goals_accomplished=not args.no_goals_accomplished and (args.goals_accomplished or version >= (4, 19)),
        lean_refresh=args.lean_refresh,
        faults=faults,
    )


def _reader(stream: BinaryIO, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue) -> None:
    def put(item: object) -> None:
        loop.call_soon_threadsafe(inbox.put_nowait, item)

    try:
        while True:
            body = read_frame(stream)
            if body is None:
                put(Eof())
                return
            put(parse_message(body))
    except (FramingError, ProtocolError) as exc:
        put(Fatal(str(exc)))
    except (OSError, ValueError):
        put(Eof())


async def serve(config: Config, scenario: Scenario, log: MessageLog) -> int:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=_reader, args=(sys.stdin.buffer, loop, inbox), daemon=True).start()
    server = Server(config, scenario, Output(sys.stdout.fileno(), log), log)
    return await server.run(inbox)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario()
        config = build_config(args, scenario)
    except (ScenarioError, ValueError) as exc:
        stderr(f"bad configuration: {exc}")
        return 2
    log = MessageLog(args.log)
    code = asyncio.run(serve(config, scenario, log))
    sys.stderr.flush()
    os._exit(code)
