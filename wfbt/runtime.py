"""Process set-up that must happen before JAX starts, and the training progress bar.

XLA:CPU runs one program on one core at a time; exposing every core as its own host device lets
the engine shard a chunk of splits over them. The persistent compilation cache makes a second run
(or a resumed one) skip most of the compile time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


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


@contextlib.contextmanager
def progress_bar(console: Console, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yields `update(done, total)`; renders a rich bar (to stderr) while training."""
    if not enabled:
        yield lambda done, total: None
        return
    progress = Progress(
        TextColumn("training splits"), BarColumn(), MofNCompleteColumn(), TextColumn("•"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )
    with progress:
        task = progress.add_task("train", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
