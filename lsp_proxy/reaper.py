"""The process that runs Lean's server for the proxy and makes sure nothing outlives either.

``PR_SET_PDEATHSIG`` only reaches a direct child, and Lean's ``lean --worker`` processes are
grandchildren in sessions of their own (``setsid``), so neither a signal to the server's process
group nor the death signal reaches them. The proxy therefore starts the server through this
module (``python -I -S reaper.py PROXY_PID -- CMD...``), which:

* makes itself a *subreaper* (``PR_SET_CHILD_SUBREAPER``): a worker whose server died is
  re-parented here, not to init, so it can still be found;
* runs ``CMD`` as its child with the same stdin/stdout/stderr (the bytes never pass through
  here) and ``PR_SET_PDEATHSIG`` = SIGTERM;
* gets SIGUSR1 when the proxy dies, however it dies (``PR_SET_PDEATHSIG``, set by the proxy
  between fork and exec), and then terminates every descendant;
* when the server exits, terminates whatever it left behind and exits with the server's status
  (re-raising its signal), so to the proxy it looks like the server itself.

Linux only; elsewhere the proxy runs the server directly. Standard library only, no site.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_GRACE = 0.5


class _ParentDied(Exception):
    pass


def _descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (from /proc's parent links), children first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields and fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _terminate_all() -> None:
    """SIGTERM every descendant, then SIGKILL those still there after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + _GRACE
        while time.monotonic() < deadline and _descendants(os.getpid()):
            _reap()
            time.sleep(0.02)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main(argv: list[str]) -> None:
    proxy_pid = int(argv[0])
    command = argv[argv.index("--") + 1 :]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def parent_died(signum: int, frame: object) -> None:
        # Once is enough: the death signal can come again (e.g. from the next parent after
        # re-parenting), and a second exception would cut the clean-up short.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        raise _ParentDied

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(child.pid, signum)

    signal.signal(signal.SIGUSR1, parent_died)
    if os.getppid() != proxy_pid:  # the proxy died before the handler was in place
        os._exit(1)
    prctl = libc.prctl

    def child_setup() -> None:  # between fork and exec: only the resolved call
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    try:
        # preexec_fn is safe here: this process has one thread, and prctl was resolved before.
        child = subprocess.Popen(command, preexec_fn=child_setup, close_fds=True)  # noqa: PLW1509
    except OSError as exc:
        os.write(2, f"{exc}\n".encode())
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
    # Let go of the server's pipes: its closing stdout must reach the proxy as EOF.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        while True:
            pid, status = os.wait()
            if pid == child.pid:
                _terminate_all()
                _exit_like(status)
    except _ParentDied:
        _terminate_all()
        os._exit(1)
    except ChildProcessError:
        os._exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
