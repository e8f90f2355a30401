"""Process set-up that must happen before JAX starts, and the training progress bar.

XLA:CPU runs one program on one core at a time; exposing every core as its own host device lets
the engine shard a chunk of splits over them. The persistent compilation cache makes a second run
(or a resumed one) skip most of the compile time.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text


def cache_dir() -> Path:
    return Path(os.environ.get("WFBT_CACHE_DIR", Path.home() / ".cache" / "wfbt")) / "jax"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under `taskset`), not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def configure_jax(cpu_devices: int | None = None, compilation_cache: bool = True) -> None:
    """Call before the first JAX computation; later calls are harmless no-ops for JAX."""
    import jax

    count = cpu_devices or min(usable_cores(), 8)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # a backend is already up (e.g. a second call in one process)
        pass
    if compilation_cache:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


ProgressFn = Callable[..., None]  # update(done, total, phase="training")


@contextlib.contextmanager
def progress_bar(console: Console, enabled: bool = True, display: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[ProgressFn]:
    """Yields `update(done, total, phase="training")`; renders a rich bar (to stderr by default).

    The first chunk's time is mostly compilation, so the rate (splits/s) and the time left count
    from the first `training` update on: a bar stuck at 0 while compiling says so, instead of an
    eta of -:--:--, and the rate does not carry the compile time.
    """
    if not enabled:
        yield lambda done, total, phase="training": None
        return
    progress = Progress(
        TextColumn("{task.fields[phase]:<9}"), BarColumn(), MofNCompleteColumn(), TextColumn("•"),
        _RateColumn(), TextColumn("•"), TimeElapsedColumn(), TextColumn("elapsed •"), _TimeLeftColumn(),
        console=display or Console(stderr=True), transient=False, get_time=clock,
    )
    task = progress.add_task("train", total=None, phase="", rate=None, updated=clock())
    since: list[tuple[float, int]] = []  # (time, done) at the first training update

    def update(done: int, total: int, phase: str = "training") -> None:
        now = clock()
        if not progress.live.is_started:  # shown from the first update: a bad config prints no bar
            progress.start()
        if phase == "training" and not since:
            since.append((now, done))
        rate = None
        if since and done > since[0][1] and now > since[0][0]:
            rate = (done - since[0][1]) / (now - since[0][0])
        progress.update(task, completed=done, total=total, phase=phase, rate=rate, updated=now)

    try:
        yield update
    finally:
        if progress.live.is_started:
            progress.stop()


class _RateColumn(ProgressColumn):
    """Splits per second since training began (compilation left out)."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text(f"{rate:,.1f} splits/s" if rate else "- splits/s", style="progress.data.speed")


class _TimeLeftColumn(ProgressColumn):
    """Time left at the training rate; while compiling there is no rate yet, and it says so."""

    def render(self, task: Task) -> Text:
        rate, total = task.fields.get("rate"), task.total
        if task.finished:
            return Text("done", style="progress.remaining")
        if not rate or total is None:
            return Text("time left: after compiling" if task.fields.get("phase") == "compiling"
                        else "time left: -", style="progress.remaining")
        # counts down between updates (a chunk of splits can take a while)
        left = max(max(total - task.completed, 0) / rate - (task.get_time() - task.fields["updated"]), 0)
        return Text(f"{int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d} left",
                    style="progress.remaining")
