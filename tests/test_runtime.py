"""Process set-up: how many host devices a CPU run gets."""

import os

import pytest

from wfbt import runtime


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this platform")
def test_usable_cores_follow_the_cpu_affinity_not_the_machine(monkeypatch):
    # under `taskset -c 0` (or a container pinned to one core) JAX must get one host device,
    # not one per core of the machine: two devices on one core would time-slice each other
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert runtime.usable_cores() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 5, 7})
    assert runtime.usable_cores() == 3


def test_usable_cores_without_affinity_fall_back_to_the_core_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert runtime.usable_cores() == 6
