"""Chunks of splits trained by Ray actors: the same program, on more than one machine.

`[engine] ray = "local"` (a Ray instance started here with this machine's cores), `"auto"` (the
cluster this machine belongs to) or `"ray://host:port"` (a remote cluster), or `--ray` on the
command line. `RayTrainer` stands in for `wfbt.engine.Trainer`: the orchestration (`train_missing`,
sweeps, tuning, the next-point models) hands it chunks exactly as it hands them to a local
trainer, and it sends each chunk to one of a pool of actors, one per CPU (or per GPU). Each actor
builds the engine's `Trainer` once, on one device, and keeps its compiled program warm across
chunks. Results come back to the driver, which saves and writes them exactly as without Ray.

Numbers are identical to a local run: a compiled call trains 4 splits per device on CPU wherever
it runs, and every split's random numbers come from its seed and index alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from wfbt.errors import UserError

_POOLS: dict[tuple, list] = {}  # (model, settings' structure, address) -> actors, kept warm for the process


class ChunkWorker:
    """A Ray actor's state: one engine Trainer on this worker's one device."""

    def __init__(self, model: Any, settings: Any, seed: int, gpu: bool):
        from wfbt import runtime

        runtime.configure_jax(cpu_devices=1, compilation_cache=True)
        import jax

        from wfbt.engine import Trainer

        devices = jax.devices("gpu")[:1] if gpu else jax.devices("cpu")[:1]
        self.trainer = Trainer(model, settings, seed, devices)

    def train(self, windows: Any, epochs: Any, patience: Any, hyper: Any, seed: Any) -> tuple[Any, float]:
        """A chunk's results as host arrays (parameters too), and the seconds spent compiling."""
        import jax

        before = self.trainer.compile_seconds
        result = self.trainer.train(windows, keep_params=True, epochs=epochs, patience=patience, hyper=hyper, seed=seed)
        params = jax.tree.map(np.asarray, jax.device_get(result.params))
        return dataclasses.replace(result, params=params), self.trainer.compile_seconds - before


@dataclass
class RayTrainer:
    """The engine Trainer's interface (start, collect, predict), over a pool of Ray actors."""

    model: Any
    settings: Any
    seed: int
    devices: list  # the driver's devices: it forecasts followers of refits itself
    address: str
    compile_seconds: float = 0.0

    def __post_init__(self) -> None:
        self._pool: list | None = None  # actors, created at the first chunk (a prepared run may train nothing)
        self._next = itertools.count()
        self._local = None

    @property
    def call_size(self) -> int | None:
        return self._local_trainer().call_size

    def start(self, windows: Any, epochs: int | None = None, patience: int | None = None,
              hyper: Any = None, seed: Any = None) -> Any:
        """Send a chunk to the next actor; returns at once (a Ray object reference)."""
        if self._pool is None:
            self._pool = _pool(self.model, self.settings, self.address)
        hyper = self.settings.hyper(len(windows)) if hyper is None else hyper  # the actor's numbers are not ours
        seed = self.seed if seed is None else seed
        return self._pool[next(self._next) % len(self._pool)].train.remote(windows, epochs, patience, hyper, seed)

    def collect(self, running: Any, keep_params: bool = False) -> Any:
        import ray

        result, compiled = ray.get(running)
        self.compile_seconds += compiled
        return result if keep_params else dataclasses.replace(result, params=None)

    def train(self, windows: Any, keep_params: bool = False, **kwargs: Any) -> Any:
        return self.collect(self.start(windows, **kwargs), keep_params)

    def predict(self, params: Any, x: np.ndarray) -> Any:
        """Forecasts of kept parameters (refit followers) on the driver, as the local engine does."""
        return self._local_trainer().predict(params, x)

    def _local_trainer(self) -> Any:
        if self._local is None:
            from wfbt.engine import Trainer

            self._local = Trainer(self.model, self.settings, self.seed, self.devices)
        return self._local


def _pool(model: Any, settings: Any, address: str) -> list:
    """Actors for one program, one per CPU (or GPU) of the cluster, created once per process and
    shared by every trainer of the same structure (the numbers and seeds come with each chunk)."""
    key = (repr(model), repr(settings.structure()), address)
    if key not in _POOLS:
        ray = connect(address)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = gpus or max(1, int(resources.get("CPU", 1)))
        worker = ray.remote(num_cpus=0 if gpus else 1, num_gpus=1 if gpus else 0)(ChunkWorker)
        _POOLS[key] = [worker.remote(model, settings, 0, bool(gpus)) for _ in range(count)]
    return _POOLS[key]


def connect(address: str) -> Any:
    """Ray, initialised once: a local instance for "local", else the cluster at `address`."""
    try:
        import ray
    except ImportError:
        raise UserError("[engine] ray: Ray is not installed; pip install 'wfbt[ray]' (or leave ray unset).") from None
    if not ray.is_initialized():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own deprecation notes are not the user's business
            try:
                if address == "local":
                    from wfbt.runtime import usable_cores

                    ray.init(num_cpus=usable_cores(), include_dashboard=False, log_to_driver=False,
                             logging_level=logging.ERROR)
                else:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"[engine] ray: cannot reach a Ray cluster at {address!r}: {exc}") from None
    return ray
