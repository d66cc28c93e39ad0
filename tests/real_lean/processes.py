"""Find real Lean's processes under a test's process (Linux ``/proc``), to kill one on purpose."""
from __future__ import annotations

import os
from pathlib import Path


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    children = _children()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def argv_of(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def lean_processes(pid: int, role: str) -> list[int]:
    """Real Lean's ``--server`` or ``--worker`` processes below ``pid`` (``role`` without dashes)."""
    return [p for p in descendants(pid) if f"--{role}" in argv_of(p)[1:2]]
