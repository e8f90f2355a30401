"""The engine: train one split, vmap it over a chunk of splits, compile it once.

`train_one_split` is written for ONE split: Adam, minibatches shuffled each epoch, dropout,
early stopping on the validation loss with patience and restore-best, all inside JAX loops
(a `while_loop` over epochs that ends once every split has stopped, a `scan` over minibatches)
with masks (a stopped or failed split keeps its state while the others go on). `Trainer` jits
`vmap(train_one_split)` once and runs chunks of splits through it, sharded over the local devices.

Every random number of a split (initial parameters, shuffles, dropout masks) comes from its seed
words, a hash of the config's seed and the split index (`wfbt.hashrng`), so a split's result never
depends on which chunk (or device) it ran in. Parameters are drawn outside the training program:
on the host with NumPy on CPU (nothing to compile), on the device elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wfbt import hashrng
from wfbt.features import WindowArrays, horizon_mask
from wfbt.models import init_params, split_outputs
from wfbt.optim import ADAM_EPSILON, HYPER_DTYPES, Hyper, TrainSettings, constant_hyper, make_optimizer

__all__ = ["ADAM_EPSILON", "ChunkResult", "Hyper", "TrainSettings", "Trainer", "choose_chunk_size",
           "constant_hyper", "make_loss_and_step", "make_optimizer", "make_train_one_split"]

@dataclass(frozen=True)
class ChunkResult:
    """What training a chunk of splits returns, as host arrays (leading axis: split)."""

    split: np.ndarray
    val_pred: np.ndarray  # (S, V) scaled; (S, V, h) with [model] horizon h > 1 (as every forecast below)
    val_var: np.ndarray | None  # (S, V) predictive variance (gaussian_nll only)
    train_pred: np.ndarray  # (S, N) scaled, zero-padded beyond n_train
    epochs_run: np.ndarray  # (S,)
    best_epoch: np.ndarray  # (S,) 1-based
    failed: np.ndarray  # (S,) bool: a loss became NaN/inf
    train_curve: np.ndarray  # (S, E) mean training loss per epoch, NaN after stopping
    val_curve: np.ndarray  # (S, E)
    test_pred: np.ndarray | None = None  # (S, P) forecasts of the points after the validation window
    test_var: np.ndarray | None = None
    params: Any = None  # the trained (restored-best) parameters, when asked for (refit_every > 1)
    importance: np.ndarray | None = None  # (S, F) permutation importance, when asked for (wfbt.importance)

    @staticmethod
    def concatenate(parts: list[ChunkResult], count: int) -> ChunkResult:
        """The results of consecutive calls as one chunk's, cut to its first `count` splits."""
        def join(values: list) -> Any:
            if values[0] is None:
                return None
            if isinstance(values[0], np.ndarray):
                return np.concatenate(values)[:count]
            return jax.tree.map(lambda *leaves: jnp.concatenate(leaves)[:count], *values)  # parameters

        return ChunkResult(**{f.name: join([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(ChunkResult)})

    def rows(self, rows: slice) -> ChunkResult:
        """The results of a run of consecutive splits (the rows of one member of a shared chunk)."""
        def cut(value: Any) -> Any:
            if value is None or isinstance(value, np.ndarray):
                return None if value is None else value[rows]
            return jax.tree.map(lambda leaf: leaf[rows], value)  # parameters

        return ChunkResult(**{f.name: cut(getattr(self, f.name)) for f in dataclasses.fields(ChunkResult)})

    def take(self, index: np.ndarray, split: np.ndarray, val: tuple, test: tuple) -> ChunkResult:
        """The result of the splits `index` points at, with other (mean, variance) forecasts for
        validation and test points: what a split that reuses an earlier split's model reports."""
        return ChunkResult(split, val[0], val[1], self.train_pred[index], self.epochs_run[index],
                           self.best_epoch[index], self.failed[index], self.train_curve[index], self.val_curve[index],
                           test[0], test[1])


class Call(NamedTuple):
    """One dispatched call of the training program: its splits and their (device) outputs."""

    split: np.ndarray
    outputs: Any  # SplitOutputs of device arrays, stacked along the split axis


class Running(NamedTuple):
    """A chunk being trained: its calls, and how many of their splits are real (not padding)."""

    count: int
    calls: tuple[Call, ...]


def pointwise_loss(kind: str, mean: jax.Array, var: jax.Array | None, target: jax.Array) -> jax.Array:
    if kind == "mse":
        return (mean - target) ** 2
    return 0.5 * (jnp.log(2.0 * jnp.pi * var) + (target - mean) ** 2 / var)


def make_loss_and_step(model: nn.Module, settings: TrainSettings, unravel: Any = None, hyper: Hyper | None = None,
                       total_steps: Any = 1):
    """`loss_fn(params, x, y, weight, key, deterministic)` and one optimizer `train_step` for one split.

    `hyper`: the split's traced hyper-parameters (default: the settings' numbers as constants).
    With `unravel` (from `jax.flatten_util.ravel_pytree`) the parameters are one flat vector:
    Adam's update, elementwise, is then a few fused ops per step instead of a few per parameter
    array, and the training program compiles ~15 % faster.
    """
    tx = make_optimizer(settings, hyper if hyper is not None else constant_hyper(settings), total_steps)

    def loss_fn(params, x, y, weight, key, deterministic):
        # `key`: a jax.random key, or the uint32[2] seed words `hashrng.derive` makes per step
        tree = params if unravel is None else unravel(params)
        out = model.apply({"params": tree}, x, deterministic=deterministic, dropout_seed=hashrng.seed_words(key))
        mean, var = split_outputs(out, settings.horizon)
        per_point = pointwise_loss(settings.loss, mean, var, y)
        if per_point.ndim > weight.ndim:  # (B, h) targets: a sample's weight counts for each of its steps
            weight = jnp.broadcast_to(weight[:, None], per_point.shape)
        return jnp.sum(per_point * weight) / jnp.maximum(jnp.sum(weight), 1.0)

    grad_fn = jax.value_and_grad(loss_fn)

    def train_step(params, opt_state, x, y, weight, key):
        loss, grads = grad_fn(params, x, y, weight, key, False)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return tx, loss_fn, train_step


class Best(NamedTuple):
    """The restore-best bookkeeping of early stopping."""

    params: Any
    loss: Any
    epoch: Any  # 1-based; 0 before any improvement


class SplitState(NamedTuple):
    """One split's training state, carried from epoch to epoch."""

    params: Any
    opt_state: Any
    best: Best
    active: Any  # still training: not stopped early, not failed, epochs left
    wait: Any  # epochs since the last improvement
    failed: Any  # a loss became NaN/inf
    epochs_run: Any


class Curves(NamedTuple):
    train: Any  # (E,) mean training loss per epoch, NaN after stopping
    val: Any


class EpochCarry(NamedTuple):
    state: SplitState
    epoch: Any
    curves: Curves


class StepCarry(NamedTuple):
    """The minibatch loop's state within one epoch."""

    params: Any
    opt_state: Any
    loss_sum: Any
    all_finite: Any


class SplitOutputs(NamedTuple):
    """What training one split returns (stacked along a split axis by vmap)."""

    params: Any  # the kept (restored-best) parameters
    val_pred: Any
    val_var: Any
    train_pred: Any
    test_pred: Any
    test_var: Any
    epochs_run: Any
    best_epoch: Any
    failed: Any
    train_curve: Any
    val_curve: Any


def make_train_one_split(model: nn.Module, settings: TrainSettings, axis_name: str | None = None):
    """The per-split training function (pure; the engine vmaps it).

    `epochs` (at most `settings.epochs`, the length of the compiled loop) and `patience` (0: no
    early stopping, the last weights are kept) are inputs, as are the optimizer's numbers
    (`hyper`), so one compiled program serves splits trained differently, such as the final
    next-point models or the configs of a sweep. Under `vmap(..., axis_name=...)`, pass the axis
    name: the epoch loop then ends once every split of the batch has stopped.
    """

    def train_one_split(params, x_train, y_train, n_train, x_val, y_val, x_test, seed, epochs, patience,
                        hyper: Hyper | None = None) -> SplitOutputs:
        """`seed`: the split's training seed words (uint32[2]); `x_test`: inputs forecast with the
        final weights beside the validation and training inputs; `hyper`: the optimizer's numbers
        (default: the settings'; `epochs` and `patience` given here win)."""
        hyper = (constant_hyper(settings) if hyper is None else hyper)._replace(epochs=epochs, patience=patience)
        params, unravel = ravel_pytree(params)  # one vector for Adam, the selects and the best weights
        batch = settings.batch_size
        n_samples = x_train.shape[0]
        n_steps = math.ceil(n_samples / batch)
        total_steps = epochs * ((n_train + batch - 1) // batch)  # this split's updates, for a schedule
        tx, loss_fn, train_step = make_loss_and_step(model, settings, unravel, hyper, total_steps)
        restore_best = patience > 0
        sample_ids = jnp.arange(n_steps * batch)
        in_split = sample_ids < n_train
        val_weight = jnp.ones(y_val.shape, jnp.float32)
        if settings.horizon > 1:  # a step whose target lies past the validation window is masked
            val_weight = jnp.asarray(horizon_mask(*y_val.shape), jnp.float32)
        # loop state starts from a per-split input, so it is batched from the start under vmap:
        # vmap then batches each loop body once, not twice (tracing ~0.07 s faster)
        zero_i = n_train * 0
        zero_f = zero_i.astype(jnp.float32)

        def run_epoch(carry: EpochCarry) -> EpochCarry:
            state, epoch = carry.state, carry.epoch
            epoch_seed = hashrng.derive(seed, epoch)
            # shuffle the real samples; padding sorts last and is masked out
            # one draw per sample index, so the order never depends on how much padding follows
            noise = hashrng.bits(hashrng.derive(epoch_seed, 0), jnp.arange(n_samples)) >> 1
            order = jnp.argsort(jnp.where(jnp.arange(n_samples) < n_train, noise, np.uint32(2**31)))
            order = jnp.pad(order, (0, n_steps * batch - n_samples)).reshape(n_steps, batch)
            weights = in_split.reshape(n_steps, batch).astype(jnp.float32)

            def step(step_id, carry: StepCarry) -> StepCarry:
                index, weight = order[step_id], weights[step_id]
                new_params, new_opt_state, loss = train_step(
                    carry.params, carry.opt_state, x_train[index], y_train[index], weight,
                    hashrng.derive(epoch_seed, step_id + 1))
                take = state.active & (jnp.sum(weight) > 0)
                return StepCarry(_select(take, new_params, carry.params),
                                 _select(take, new_opt_state, carry.opt_state),
                                 carry.loss_sum + jnp.where(take, loss * jnp.sum(weight), 0.0),
                                 carry.all_finite & (jnp.isfinite(loss) | ~take))

            steps = StepCarry(state.params, state.opt_state, zero_f, zero_i == 0)
            if settings.equal_windows:  # a fixed trip count: XLA compiles it far better, on GPU above all
                steps, _ = lax.scan(lambda c, i: (step(i, c), None), steps, jnp.arange(n_steps))
            else:
                # the loop runs this split's own number of minibatches, not the padded maximum: with
                # expanding windows the cost follows the real samples (vmap runs to the chunk's longest)
                steps = lax.fori_loop(0, (n_train + batch - 1) // batch, step, steps)
            train_loss = steps.loss_sum / n_train
            val_loss = loss_fn(steps.params, x_val, y_val, val_weight, seed, True)

            active = state.active
            failed = state.failed | (active & ~(steps.all_finite & jnp.isfinite(val_loss)))
            improved = active & ~failed & (val_loss < state.best.loss)
            best = Best(_select(improved, steps.params, state.best.params),
                        jnp.where(improved, val_loss, state.best.loss),
                        jnp.where(improved, epoch + 1, state.best.epoch))
            wait = jnp.where(active, jnp.where(improved, 0, state.wait + 1), state.wait)
            epochs_run = state.epochs_run + active.astype(jnp.int32)
            curves = Curves(carry.curves.train.at[epoch].set(jnp.where(active, train_loss, jnp.nan)),
                            carry.curves.val.at[epoch].set(jnp.where(active, val_loss, jnp.nan)))
            # early stopping: `patience` epochs without improvement
            active = active & ~failed & (epochs_run < epochs) & (~restore_best | (wait < patience))
            return EpochCarry(SplitState(steps.params, steps.opt_state, best, active, wait, failed, epochs_run),
                              epoch + 1, curves)

        start = SplitState(params=params, opt_state=tx.init(params), best=Best(params, zero_f + jnp.inf, zero_i),
                           active=zero_i == 0, wait=zero_i, failed=zero_i != 0, epochs_run=zero_i)
        no_curve = zero_f + jnp.full(settings.epochs, jnp.nan, jnp.float32)

        def any_active(carry: EpochCarry):
            # a while loop, not a scan: it ends once every split of the batch has stopped (the
            # next-point models, trained for fewer epochs, stop at theirs). Reduced over the vmap
            # axis, the condition is one flag for the batch, which vmap traces far faster than a
            # per-split one (a stopped split's state is kept by the masks in `run_epoch`)
            active = carry.state.active.astype(jnp.int32)
            return (carry.epoch < settings.epochs) & ((lax.psum(active, axis_name) if axis_name else active) > 0)

        end = lax.while_loop(any_active, run_epoch, EpochCarry(start, jnp.asarray(0, jnp.int32), Curves(no_curve, no_curve)))
        state = end.state
        final = unravel(_select(restore_best, state.best.params, state.params))
        best_epoch = jnp.where(restore_best, state.best.epoch, state.epochs_run)
        # validation, training and test inputs in one forward pass
        inputs = jnp.concatenate([x_val, x_train, x_test])
        mean, var = split_outputs(model.apply({"params": final}, inputs, deterministic=True), settings.horizon)
        cut = np.cumsum([len(x_val), len(x_train)])
        val_mean, train_mean, test_mean = jnp.split(mean, cut)
        val_var, _, test_var = (None, None, None) if var is None else jnp.split(var, cut)
        return SplitOutputs(params=final, val_pred=val_mean, val_var=val_var, train_pred=train_mean,
                            test_pred=test_mean, test_var=test_var, epochs_run=state.epochs_run,
                            best_epoch=best_epoch, failed=state.failed, train_curve=end.curves.train,
                            val_curve=end.curves.val)

    return train_one_split


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a block, then everything alive frozen out of it."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # the program and its caches live as long as the run: never scan them again
        gc.enable()


CPU_SPLITS_PER_DEVICE = 4  # measured: 4 per core beat 8 by 13-16 % and 2 by ~2 % (docs/performance-log.md)


def _select(flag: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


class Trainer:
    """One compiled program for every chunk of the same shape, sharded over `devices`."""

    def __init__(self, model: nn.Module, settings: TrainSettings, seed: int, devices: list[jax.Device],
                 compiler_options: dict[str, Any] | None = None, splits_per_device: int | None = None):
        """`compiler_options`: XLA options for the training program, over the defaults below
        (`benchmarks/profile_chunk.py --compare-options` times them against each other).
        `splits_per_device`: splits each device trains per compiled call (see `start`): on CPU 4
        unless given (`profile_chunk.py --compare-chunks` times others); elsewhere the whole chunk."""
        self.model, self.settings, self.seed, self.devices = model, settings, seed, devices
        if splits_per_device is None and devices[0].platform == "cpu":
            splits_per_device = CPU_SPLITS_PER_DEVICE
        self.call_size = splits_per_device * len(devices) if splits_per_device else None
        self._compiled: dict[tuple[tuple[int, ...], ...], Any] = {}  # by the shapes of x_train, x_val, x_test
        self.compile_seconds = 0.0  # compiling (or loading from the persistent cache) the training program
        # LLVM at -O2 rather than -O3 on CPU: ~0.15 s less compilation, the same speed (eight
        # alternating pairs, docs/performance-log.md); -O1 is 10 % slower
        defaults = {"xla_backend_optimization_level": 2} if devices[0].platform == "cpu" else {}
        self._compiler_options = {**defaults, **(compiler_options or {})} or None
        mesh = Mesh(np.array(devices), ("splits",))
        self.sharding = NamedSharding(mesh, PartitionSpec("splits"))
        train = jax.vmap(make_train_one_split(model, settings, "splits"), axis_name="splits")
        self._train = jax.jit(train, in_shardings=self.sharding, out_shardings=self.sharding)

        self._init_on_device = jax.jit(lambda seeds, input_shape: init_params(model, input_shape, seeds, jnp),
                                       static_argnums=1, in_shardings=self.sharding, out_shardings=self.sharding)

        def predict_one(params, x):
            return split_outputs(model.apply({"params": params}, x, deterministic=True), settings.horizon)

        self._predict = jax.jit(jax.vmap(predict_one), in_shardings=self.sharding, out_shardings=self.sharding)

    def seeds(self, splits: np.ndarray, seed: int | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(initialisation, training) seed words (S, 2) of each split: from the seed and the split
        index alone. `seed`: the trainer's by default, or one per split (configs of a sweep)."""
        seed = self.seed if seed is None else seed
        if np.ndim(seed) == 0:
            words = hashrng.split_seeds(int(seed), splits)
        else:  # a few rows per call: one hash each
            words = np.concatenate([hashrng.split_seeds(int(value), [split]) for value, split in zip(seed, splits)])
        return hashrng.derive(words, 0, np), hashrng.derive(words, 1, np)

    def init_params(self, splits: np.ndarray, x_example: np.ndarray) -> Any:
        """Initial parameters of `splits`, stacked and placed on the devices."""
        return self._initial_params(self.seeds(splits)[0], x_example)

    def _initial_params(self, init_seeds: np.ndarray, x_example: np.ndarray) -> Any:
        input_shape = tuple(x_example.shape[2:])  # one input row: (S, N, *input_shape)
        if self.devices[0].platform == "cpu":  # NumPy: no program to compile or dispatch
            return self._put(init_params(self.model, input_shape, init_seeds))
        return self._init_on_device(self._put(init_seeds), input_shape)

    def train(self, windows: WindowArrays, keep_params: bool = False, epochs: int | None = None,
              patience: int | None = None, hyper: Hyper | None = None, seed: Any = None) -> ChunkResult:
        """Train every split in `windows` (its length must be a multiple of the device count)."""
        return self.collect(self.start(windows, epochs, patience, hyper, seed), keep_params)

    def start(self, windows: WindowArrays, epochs: int | None = None, patience: int | None = None,
              hyper: Hyper | None = None, seed: int | np.ndarray | None = None) -> Running:
        """Dispatch the training of a chunk and return at once (JAX runs it asynchronously).

        `epochs` (at most the settings' epochs) and `patience` override the settings for this chunk,
        and `hyper` (per-split arrays, `TrainSettings.hyper`) sets every split's own numbers and
        `seed` (one, or one per split) its random numbers, without compiling another program.

        With a `call_size` (on CPU: 4 splits per device) every call trains exactly that many
        splits: a bigger chunk runs as several calls, a smaller one is padded. XLA:CPU's kernels
        round differently for different batch sizes (1 float32 ulp in a forecast between 2 and 4
        splits per device, or between 4 and 8 with other shapes), so a split's numbers would
        otherwise depend on the chunk it trained in.
        """
        count = len(windows)
        overrides = {k: v for k, v in (("epochs", epochs), ("patience", patience)) if v is not None}
        hyper = (hyper or self.settings.hyper(count))._replace(
            **{k: np.full(count, v, HYPER_DTYPES[k]) for k, v in overrides.items()})
        seeds = np.full(count, self.seed if seed is None else seed) if np.ndim(seed) == 0 else np.asarray(seed)
        size = self.call_size or count
        if count == size:
            return Running(count, (self._start_call(windows, hyper, seeds),))
        index = np.minimum(np.arange(math.ceil(count / size) * size), count - 1)  # pad with the last split
        padded, padded_hyper = windows.take(index), Hyper(*(h[index] for h in hyper))
        return Running(count, tuple(self._start_call(padded.take(np.arange(i, i + size)),
                                                     Hyper(*(h[i:i + size] for h in padded_hyper)),
                                                     seeds[index][i:i + size])
                                    for i in range(0, len(index), size)))

    def _start_call(self, windows: WindowArrays, hyper: Hyper, seeds: np.ndarray) -> Call:
        init_seeds, train_seeds = self.seeds(windows.split, seeds[0] if (seeds == seeds[0]).all() else seeds)
        params = self._initial_params(init_seeds, windows.x_train)
        hyper = Hyper(*(self._put(h) for h in hyper))
        args = (params, *(self._put(a) for a in (windows.x_train, windows.y_train, windows.n_train.astype(np.int32),
                                                  windows.x_val, windows.y_val, windows.x_test, train_seeds)),
                hyper.epochs, hyper.patience, hyper)
        shape = tuple(a.shape for a in (windows.x_train, windows.x_val, windows.x_test))
        if shape not in self._compiled:  # compile explicitly, so its time is known apart from training
            started = time.perf_counter()
            with _gc_paused():  # tracing makes ~10^6 short-lived objects: collecting them as it goes costs ~10 %
                self._compiled[shape] = self._train.lower(*args).compile(compiler_options=self._compiler_options)
            self.compile_seconds += time.perf_counter() - started
        return Call(windows.split, self._compiled[shape](*args))

    def collect(self, running: Running, keep_params: bool = False) -> ChunkResult:
        """Wait for a started chunk and bring its results to the host."""
        parts = [self._collect_call(call, keep_params) for call in running.calls]
        return parts[0] if len(parts) == 1 and running.count == len(parts[0].split) \
            else ChunkResult.concatenate(parts, running.count)

    def _collect_call(self, call: Call, keep_params: bool) -> ChunkResult:
        out = jax.device_get(call.outputs._replace(params=None))
        host = {name: None if value is None else np.asarray(value) for name, value in out._asdict().items()}
        return ChunkResult(split=call.split, **{**host, "params": call.outputs.params if keep_params else None})

    def predict(self, params: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Deterministic forecasts (mean, variance or None) of stacked `params` on inputs (S, V, L);
        on CPU in calls of `call_size` splits, as `start` trains them."""
        count = len(x)
        size = self.call_size or count
        index = np.minimum(np.arange(math.ceil(count / size) * size), count - 1)
        params = jax.device_get(params)  # sliced on the host: a device array's slice is a dispatched gather
        means, variances = [], []
        for i in range(0, len(index), size):
            part = index[i:i + size]
            mean, var = jax.device_get(self._predict(self._put(jax.tree.map(lambda leaf: leaf[part], params)),
                                                     self._put(x[part])))
            means.append(np.asarray(mean))
            variances.append(None if var is None else np.asarray(var))
        if variances[0] is None:
            return np.concatenate(means)[:count], None
        return np.concatenate(means)[:count], np.concatenate(variances)[:count]

    def _put(self, array: Any) -> jax.Array:
        return jax.device_put(array, self.sharding)


def choose_chunk_size(n_splits: int, devices: list[jax.Device], requested: int = 0) -> int:
    """Splits per chunk (trained, evaluated and saved together), bounded so memory stays flat.

    On CPU a chunk is a whole number of calls of 4 splits per device (`Trainer.start`): small
    calls keep the working set in cache (measured in docs/performance-log.md), and a fixed call size
    keeps every split's numbers independent of the chunk. On an accelerator the chunk is one
    call, as large as its memory comfortably holds.
    """
    n_dev = len(devices)
    if devices[0].platform == "cpu":
        call = CPU_SPLITS_PER_DEVICE * n_dev
        return math.ceil(min(requested or call, max(n_splits, 1)) / call) * call
    size = requested or _accelerator_chunk(devices[0])
    size = min(size, max(n_splits, 1))
    return max(n_dev, math.ceil(size / n_dev) * n_dev)


def _accelerator_chunk(device: jax.Device) -> int:
    try:
        limit = device.memory_stats()["bytes_limit"]
    except Exception:  # some backends report no memory stats
        limit = 8 * 2**30
    per_split = 8 * 2**20  # generous: params, Adam moments, best weights, activations of one split
    return int(max(64, min(8192, limit // 2 // per_split)))
