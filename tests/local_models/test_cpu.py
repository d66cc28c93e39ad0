"""Thread counts: physical cores, not logical CPUs (hyper-threads slow ONNX Runtime and llama.cpp down)."""
from __future__ import annotations

import os

import pytest

from local_models import cpu, onnx_seq2seq

psutil = pytest.importorskip("psutil")


@pytest.mark.parametrize("logical, physical, allowed, expected", [
    (16, 8, 16, 8),   # SMT machine: half the logical CPUs
    (8, 8, 8, 8),     # no SMT
    (16, 8, 4, 2),    # taskset to 4 of 16 logical CPUs: 2 cores' worth
    (16, 8, 1, 1),
    (4, None, 4, 2),  # psutil cannot tell: half the logical CPUs
])
def test_physical_cores(monkeypatch, logical, physical, allowed, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: logical)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(allowed)), raising=False)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: physical)
    assert cpu.physical_cores() == expected
    assert onnx_seq2seq._physical_threads() == expected


def test_on_this_machine_it_is_psutils_physical_count_or_fewer():
    n = cpu.physical_cores()
    assert 1 <= n <= (psutil.cpu_count(logical=False) or os.cpu_count() or 1)
