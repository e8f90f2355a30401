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


def _bar_after(*updates, clock_steps=()) -> str:
    """The progress bar's last line after `updates` (each (seconds later, args))."""
    import io

    from rich.console import Console

    now = [0.0]
    display = Console(file=io.StringIO(), width=140)
    with runtime.progress_bar(Console(), display=display, clock=lambda: now[0]) as update:
        for later, args in updates:
            now[0] += later
            update(*args)
    return display.file.getvalue()


def test_the_progress_bar_says_it_is_compiling_before_the_first_split():
    shown = _bar_after((0, (0, 33, "compiling")), (5, (0, 33, "compiling")))
    assert "compiling" in shown and "0/33" in shown and "time left: after compiling" in shown
    assert "-:--:--" not in shown


def test_the_progress_bar_rate_and_time_left_leave_the_compile_time_out():
    # 10 s compiling, then the first chunk of 8 lands; 8 more 1 s later, reported the old way
    shown = _bar_after((0, (0, 33, "compiling")), (10, (8, 33, "training")), (1, (16, 33)))
    assert "training" in shown and "16/33" in shown
    assert "8.0 splits/s" in shown  # not 16 / 11 s
    assert "0:00:02 left" in shown  # 17 splits at 8 per second
    finished = _bar_after((0, (0, 4, "compiling")), (3, (0, 4, "training")), (1, (4, 4, "training")))
    assert "4/4" in finished and "4.0 splits/s" in finished and "done" in finished


def test_a_hidden_progress_bar_accepts_both_call_forms():
    from rich.console import Console

    with runtime.progress_bar(Console(), enabled=False) as update:
        update(1, 2)
        update(1, 2, "compiling")
