"""``serve``: run the proxy on stdio in front of ``lake serve`` / ``lean --server``.

``main(argv, install=None)`` parses ``serve [--log-file PATH] [--log-level LEVEL] [--cwd DIR]
[-- SERVER_CMD ...]``; ``install(router)`` is how copilot registers its features. If it raises,
the error is logged and the proxy runs as a plain pass-through.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lsp_proxy.connection import EditorSession
from lsp_proxy.logs import setup_logging
from lsp_proxy.router import Router
from lsp_proxy.side_channel import start_side_channel
from lsp_proxy.transport import LeanProcess, ServerCommand, open_stdio

logger = logging.getLogger(__name__)

Install = Callable[[EditorSession], object]
LAKEFILES = ("lakefile.lean", "lakefile.toml")


class ServerNotFound(Exception):
    """Neither a Lake project with ``lake`` nor ``lean`` could be found."""


def find_project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds a lakefile."""
    for directory in (start, *start.parents):
        if any((directory / name).is_file() for name in LAKEFILES):
            return directory
    return None


def default_server_command(cwd: Path) -> ServerCommand:
    """``lake serve`` in the Lake project containing ``cwd``, else ``lean --server``."""
    root = find_project_root(cwd)
    if root is not None:
        lake = shutil.which("lake")
        if lake:
            return ServerCommand([lake, "serve"], cwd=str(root))
        raise ServerNotFound(
            f"found {root} (a Lake project) but `lake` is not on PATH; install Lean with elan "
            "(https://github.com/leanprover/elan) or pass the server command after `--`"
        )
    lean = shutil.which("lean")
    if lean:
        return ServerCommand([lean, "--server"], cwd=str(cwd))
    raise ServerNotFound(
        f"no lakefile.lean/lakefile.toml in {cwd} or above, and `lean` is not on PATH; install Lean "
        "with elan (https://github.com/leanprover/elan) or pass the server command after `--`"
    )


def build_parser(prog: str = "serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the Lean Companion LSP proxy on stdio in front of Lean's language server.",
        epilog="Everything after `--` is the server command (default: `lake serve` in a Lake project, else `lean --server`).",
    )
    parser.add_argument("--log-file", type=Path, help="log file (default: the user log dir's lean-companion/proxy.log)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        type=str.upper, help="log level (default INFO)")
    parser.add_argument("--cwd", type=Path, help="working directory used to find the project (default: current)")
    return parser


def split_server_argv(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    args = list(argv)
    if "--" in args:
        cut = args.index("--")
        return args[:cut], args[cut + 1 :]
    return args, None


def main(argv: Sequence[str] | None = None, install: Install | None = None) -> int:
    """Entry point of ``serve``; returns the process exit code."""
    args_list, server_argv = split_server_argv(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "serve":
        args_list = args_list[1:]
    args = build_parser("lean-companion serve" if install is not None else "python -m lsp_proxy").parse_args(args_list)
    cwd = (args.cwd or Path.cwd()).resolve()
    if server_argv is not None:
        if not server_argv:
            print("serve: nothing after `--`: give the server command", file=sys.stderr)  # cli-output
            return 2
        command = ServerCommand(server_argv, cwd=str(cwd))
    else:
        try:
            command = default_server_command(cwd)
        except ServerNotFound as exc:
            print(f"serve: {exc}", file=sys.stderr)  # cli-output
            return 2
    log_path = setup_logging(args.log_file, args.log_level)
    logger.info("lean-companion proxy starting (pid %s), logging to %s; server: %s", os.getpid(), log_path,
                command.describe())
    protocol_out = _protect_stdout()
    try:
        return asyncio.run(serve(command, install, stdin_fd=0, stdout_fd=protocol_out,
                                 side_channel=install is not None, log_file=log_path))
    except KeyboardInterrupt:
        return 130


def _protect_stdout() -> int:
    """Keep fd 1 for nobody but us: the protocol gets a duplicate, fd 1 becomes /dev/null,
    and ``sys.stdout`` (stray prints) is sent to the log."""
    protocol_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = _LogStream(logging.getLogger("stdout"))
    return protocol_fd


class _LogStream:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def write(self, text: str) -> int:
        if text.strip():
            self._log.warning("stray output on stdout: %s", text.rstrip())
        return len(text)

    def flush(self) -> None:
        pass


async def serve(command: ServerCommand, install: Install | None, *, stdin_fd: int, stdout_fd: int,
                side_channel: bool = False, log_file: Path | None = None) -> int:
    """Run one proxy session over the given descriptors.

    With ``side_channel`` (``lean-companion serve``), the fallback socket and status file of
    docs/editor-protocol.md §6 (:mod:`lsp_proxy.side_channel`) live as long as the session."""
    editor_in, editor_out = await open_stdio(stdin_fd, stdout_fd)
    router = Router(editor_in, editor_out, lambda: LeanProcess.spawn(command))
    if install is not None:
        try:
            install(router)
        except Exception:
            logger.exception("installing the companion features failed; running as a plain proxy")
    gc.freeze()  # start-up objects never need collecting: keeps later GC passes short
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _on_signal, router, sig)
    # Side channel: started after the signal handlers so that a SIGTERM also removes its files.
    channel = await start_side_channel(router.hooks, root=command.cwd or os.getcwd(),
                                       log_file=log_file) if side_channel else None
    try:
        return await router.run()
    finally:
        if channel is not None:
            await channel.close()


def _on_signal(router: Router, sig: int) -> None:
    logger.info("received %s; stopping", signal.Signals(sig).name)
    router.request_stop()
