"""``fill-sorries --in-place --final-check``: a last gate through Lake after the files are written.

Lean 4.35 added ``lake check`` ("Check this project against external checker(s)": the project is
built and its declarations re-checked by independent kernels, sandboxed with bubblewrap). Where
that command exists it is the gate; older Lakes (which answer ``lake check --help`` with their
top-level help, exit 0) get ``lake build`` of the changed modules instead. The command is
feature-detected from the help text, not from version strings (nightlies do not order usefully).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

CHECK_HELP_MARKER = "external checker"
OUTPUT_TAIL = 4000


class FinalCheck(msgspec.Struct, kw_only=True):
    """What the final gate ran and what came of it; ``reverted`` lists the files put back to
    their text before the run because the gate failed."""

    command: list[str]
    ok: bool
    exit_code: int | None = None
    output: str = ""
    reverted: list[str] = msgspec.field(default_factory=list)


def lake_program(server_cmd: Sequence[str]) -> str | None:
    """The ``lake`` to use: the server command's own when it is a lake, else the one on PATH."""
    if server_cmd and os.path.basename(server_cmd[0]) == "lake":
        return server_cmd[0]
    return shutil.which("lake")


def module_name(rel_path: str) -> str:
    """``Foo/Bar.lean`` → ``Foo.Bar`` (the name ``lake build`` takes)."""
    return rel_path.removesuffix(".lean").replace("/", ".")


async def _run(cmd: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        return None, f"could not run {cmd[0]}: {exc.strerror or exc}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return None, f"{' '.join(cmd)} gave no answer within {timeout:g}s"
    return proc.returncode, out.decode("utf-8", errors="replace")


async def has_lake_check(lake: str, project: Path, timeout: float = 60.0) -> bool:
    """Whether this Lake has ``lake check`` (Lean >= 4.35)."""
    code, text = await _run([lake, "check", "--help"], project, timeout)
    return code == 0 and CHECK_HELP_MARKER in text.lower()


async def run_final_check(project: Path, changed: Sequence[str], server_cmd: Sequence[str],
                          timeout: float = 3600.0) -> FinalCheck:
    """Run the gate in ``project`` for the ``changed`` project-relative files."""
    lake = lake_program(server_cmd)
    if lake is None:
        return FinalCheck(command=["lake"], ok=False, output="`lake` was not found on PATH: the final check needs Lake")
    if await has_lake_check(lake, project):
        command = [lake, "check"]
    else:
        command = [lake, "build", *(module_name(rel) for rel in changed)]
    log.info("final check: %s", " ".join(command))
    code, output = await _run(command, project, timeout)
    return FinalCheck(command=command, ok=code == 0, exit_code=code, output=output[-OUTPUT_TAIL:])
