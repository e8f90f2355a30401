"""The optimizer of every split: `[train]` as an optax chain whose numbers are per-split inputs.

`TrainSettings` holds what is compiled in (optimizer kind, which transforms the chain holds, loss,
loop length) and the default numbers; `Hyper` carries the numbers themselves into the program as
traced per-split arrays (learning rate, weight decay, clip norm, momentum, warm-up steps, epochs,
patience), so one compiled program serves splits, and sweep trials, that differ only in them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import optax

ADAM_EPSILON = 1e-7  # Keras' default, which the reference experiment used


@dataclass(frozen=True)
class TrainSettings:
    """How every split of a program trains. The structure (optimizer kind, which transforms the
    chain holds, loss, loop shapes) is compiled in; the numbers (learning rate, weight decay,
    clip norm, momentum, warm-up steps, epochs, patience) are only defaults of the per-split
    `Hyper` inputs, so one compiled program serves splits that differ in them."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int  # 0: no early stopping, the last epoch's weights are kept
    loss: str  # "mse" | "gaussian_nll"
    equal_windows: bool = True  # every split has the same number of training samples (rolling)
    optimizer: str = "adam"  # "adam" | "adamw" | "sgd"
    weight_decay: float = 0.0  # decoupled (AdamW-style); adamw and sgd only
    clip_norm: float = 0.0  # global gradient norm clip; 0: no clipping
    momentum: float = 0.0  # sgd only; 0: plain SGD
    schedule: str = "constant"  # "constant" | "cosine" (to 0 over the split's epochs x minibatches)
    warmup_steps: int = 0  # linear warm-up over this many updates; 0: none
    horizon: int = 1  # points forecast per input window ([model] horizon): the targets' last axis when > 1

    def structure(self) -> TrainSettings:
        """These settings with every per-split number replaced by whether it is on: what a compiled
        program depends on (two settings with the same structure share one program)."""
        return dataclasses.replace(self, learning_rate=1.0, patience=0, weight_decay=float(self.weight_decay > 0),
                                   clip_norm=float(self.clip_norm > 0), momentum=float(self.momentum > 0),
                                   warmup_steps=int(self.warmup_steps > 0))

    def hyper(self, count: int, **overrides: np.ndarray | float | int) -> Hyper:
        """Per-split hyper-parameter inputs for `count` splits: these settings, or `overrides`."""
        values = {name: overrides.get(name, getattr(self, name)) for name in Hyper._fields}
        return Hyper(**{name: np.broadcast_to(np.asarray(value, HYPER_DTYPES[name]), (count,)).copy()
                        for name, value in values.items()})


class Hyper(NamedTuple):
    """Scalar hyper-parameters as traced per-split inputs (each an array with a leading split axis
    under vmap): values, not compile-time constants."""

    learning_rate: Any
    weight_decay: Any
    clip_norm: Any
    momentum: Any
    warmup_steps: Any
    epochs: Any  # at most the settings' epochs, the length of the compiled loop
    patience: Any


HYPER_DTYPES = {"learning_rate": np.float32, "weight_decay": np.float32, "clip_norm": np.float32,
                "momentum": np.float32, "warmup_steps": np.int32, "epochs": np.int32, "patience": np.int32}


def learning_rate_schedule(settings: TrainSettings, hyper: Hyper, total_steps: Any) -> Any:
    """The learning rate of update `count` (0-based), or the constant rate when there is no schedule.

    Warm-up: rate x min(1, (count + 1) / warmup_steps), so the first update already moves. Cosine:
    rate x (1 + cos(pi x progress)) / 2, progress = (count - warmup) / (total - warmup) in [0, 1],
    where total is the split's own epochs x minibatches per epoch."""
    if settings.schedule == "constant" and settings.warmup_steps == 0:
        return hyper.learning_rate  # a plain scale: the reference experiment's Adam, bit for bit

    def rate(count):
        count = count.astype(jnp.float32)
        warmup = jnp.asarray(hyper.warmup_steps, jnp.float32)
        factor = jnp.minimum(1.0, (count + 1.0) / jnp.maximum(warmup, 1.0))
        if settings.schedule == "cosine":
            span = jnp.maximum(jnp.asarray(total_steps, jnp.float32) - warmup, 1.0)
            progress = jnp.clip((count - warmup) / span, 0.0, 1.0)
            factor = factor * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
        return hyper.learning_rate * factor

    return rate


def make_optimizer(settings: TrainSettings, hyper: Hyper, total_steps: Any = 1) -> optax.GradientTransformation:
    """The `[train]` optimizer as an optax chain; every number in it is a per-split input.

    adam: clip? -> scale_by_adam(eps 1e-7) -> scale by -rate (optax.adam's own chain, so the
    default is Adam(1e-3, eps 1e-7) bit for bit); adamw: clip? -> scale_by_adam -> decayed
    weights -> -rate; sgd: clip? -> momentum trace? -> decayed weights? -> -rate.
    """
    chain = []
    if settings.clip_norm > 0:
        chain.append(optax.clip_by_global_norm(hyper.clip_norm))
    if settings.optimizer in ("adam", "adamw"):
        chain.append(optax.scale_by_adam(eps=ADAM_EPSILON))
    elif settings.momentum > 0:
        chain.append(optax.trace(decay=hyper.momentum))
    if settings.weight_decay > 0:
        chain.append(optax.add_decayed_weights(hyper.weight_decay))
    chain.append(optax.scale_by_learning_rate(learning_rate_schedule(settings, hyper, total_steps)))
    return optax.chain(*chain)


def constant_hyper(settings: TrainSettings) -> Hyper:
    """The settings' numbers as Python constants (one split trained outside the engine)."""
    return Hyper(**{name: getattr(settings, name) for name in Hyper._fields})
