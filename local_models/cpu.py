"""How many threads a model should use: the physical cores this process may run on."""
from __future__ import annotations

import os


def physical_cores() -> int:
    """Physical cores available to this process, at least 1.

    psutil's physical core count (``cpu_count(logical=False)``; half the logical CPUs when psutil
    is missing or cannot tell), scaled down when the CPU affinity mask (taskset, cgroups cpusets)
    allows only part of the machine, and never more than the CPUs allowed.
    """
    logical = os.cpu_count() or 1
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = logical
    physical: int | None = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing, or it cannot read the topology
        physical = None
    if not physical:
        physical = max(1, logical // 2)
    if allowed < logical:
        physical = round(physical * allowed / logical)
    return max(1, min(physical, allowed))
