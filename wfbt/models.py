"""Forecasting models: Flax modules written for ONE split; the engine vmaps them.

`lstm` is the reference network (LSTM 50 with sequences -> dropout 0.3 -> LSTM 50 -> dropout 0.2
-> Dense 25 -> Dense 1, as Keras builds it: Glorot kernels, orthogonal recurrent kernels, forget
bias 1). `mlp` is a small dense network on the same lookback window, a cheap learned baseline.
With `loss = "gaussian_nll"` the head has two outputs: the mean and a softplus variance.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import flax.linen as nn
from flax.traverse_util import flatten_dict, unflatten_dict
import jax
import jax.numpy as jnp
import numpy as np

from wfbt import hashrng
from wfbt.config import ModelConfig
from wfbt.errors import UserError, did_you_mean, known
from wfbt.lstm import lstm_layer

MIN_VARIANCE = 1e-6


class FusedLSTM(nn.Module):
    """An LSTM layer with one fused gate matmul; the time loop is `lstm.lstm_layer`.

    Parameters: `kernel` (F, 4H), `recurrent_kernel` (H, 4H), `bias` (4H), gates i, f, g, o.
    Inputs are (B, T, F), or (T, B, F) with `time_major=True` (what `LSTMForecaster` passes
    between its layers, so no transpose is needed anywhere in the stack).
    """

    features: int
    return_sequences: bool = False
    unroll: int = 1  # time steps per loop iteration: 1 is best on CPU; a full unroll on GPU
    init_scheme: str = "keras"  # "keras": Glorot, orthogonal, forget bias 1; "torch": U(±1/√H) everywhere
    time_major: bool = False

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:  # inputs (B, T, F), or (T, B, F) if time_major
        hidden = self.features
        shape = (inputs.shape[-1], 4 * hidden)
        rule = functools.partial(init_rule, self.init_scheme, "lstm", kernel_shape=shape)
        kernel = _param(self, "kernel", rule("kernel"), shape)
        recurrent = _param(self, "recurrent_kernel", rule("recurrent_kernel"), (hidden, 4 * hidden))
        bias = _param(self, "bias", rule("bias"), (4 * hidden,))
        sequence = inputs if self.time_major else jnp.swapaxes(inputs, 0, 1)
        unroll = min(self.unroll, sequence.shape[0])
        # a rolled loop (CPU) takes the input projection into each step's matmul; an unrolled one
        # (accelerators) keeps it as one matmul before the loop (docs/performance-log.md)
        hidden_states = lstm_layer(sequence, kernel, bias, recurrent, unroll, unroll == 1)  # (T, B, H)
        if not self.return_sequences:
            return hidden_states[-1]
        return hidden_states if self.time_major else jnp.swapaxes(hidden_states, 0, 1)


class LSTMForecaster(nn.Module):
    """The reference network: stacked LSTMs with dropout, then Dense(dense_size) -> Dense(1)."""

    hidden_size: int = 50
    num_layers: int = 2
    dense_size: int = 25
    dropout: tuple[float, ...] = (0.3, 0.2)
    n_outputs: int = 1
    unroll: int = 1
    init_scheme: str = "keras"

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        # x (B, L), or (B, L, F) with features; time-major (L, B, F) through the whole stack
        h = x.T[..., None] if x.ndim == 2 else jnp.swapaxes(x, 0, 1)
        for layer in range(self.num_layers):
            last = layer == self.num_layers - 1
            h = FusedLSTM(self.hidden_size, return_sequences=not last, unroll=self.unroll, init_scheme=self.init_scheme, time_major=True)(h)
            h = _dropout(h, self.dropout, layer, deterministic, dropout_seed)
        return _head(h, self.dense_size, self.n_outputs, self.init_scheme)


class MLPForecaster(nn.Module):
    """A dense ReLU network on the lookback window: a cheap learned baseline for the LSTM."""

    hidden_size: int = 50
    num_layers: int = 2
    dense_size: int = 25
    dropout: tuple[float, ...] = (0.3, 0.2)
    n_outputs: int = 1
    unroll: int = 1
    init_scheme: str = "keras"

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        h = x if x.ndim == 2 else x.reshape(x.shape[0], -1)  # (B, L) or (B, L, F): lags x features
        for layer in range(self.num_layers):
            h = nn.relu(Dense(self.hidden_size, self.init_scheme)(h))
            h = _dropout(h, self.dropout, layer, deterministic, dropout_seed)
        return _head(h, self.dense_size, self.n_outputs, self.init_scheme)


def _dropout(h: jax.Array, rates: tuple[float, ...], layer: int, deterministic: bool,
             seed: jax.Array | None) -> jax.Array:
    """Dropout after `layer` (rate 0 past the configured ones), from a counter-based hash of
    `seed` (uint32[2], see `wfbt.hashrng`): one fused op, unlike `nn.Dropout`'s threefry loop."""
    rate = rates[layer] if layer < len(rates) else 0.0
    if deterministic or rate == 0.0:
        return h
    if seed is None:
        raise ValueError("training with dropout needs a dropout_seed")
    return hashrng.dropout(h, rate, seed, layer)


class Dense(nn.Module):
    """`x @ kernel + bias`, its parameters drawn by `init_rule` (like `nn.Dense`, minus the
    per-apply shape check, see `_param`)."""

    features: int
    init_scheme: str = "keras"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (x.shape[-1], self.features)
        kernel = _param(self, "kernel", init_rule(self.init_scheme, "dense", "kernel", shape), shape)
        bias = _param(self, "bias", init_rule(self.init_scheme, "dense", "bias", shape), (self.features,))
        return x @ kernel + bias


def _param(module: nn.Module, name: str, rule: InitRule, shape: tuple[int, ...]) -> jax.Array:
    """`module.param(name, rule, shape)`. When applying, Flax's own `param` checks the stored
    shape by tracing the initialiser again (a hash draw, a QR for Keras' recurrent kernels): for
    every parameter in every `apply`, ~0.1 s of each run's tracing. This checks it directly."""
    if module.is_initializing():
        return module.param(name, rule, shape)
    value = module.get_variable("params", name)
    if value.shape != tuple(shape):
        raise ValueError(f"parameter {module.name}/{name} has shape {value.shape}, the model expects {tuple(shape)}")
    return value


def _head(h: jax.Array, dense_size: int, n_outputs: int, init: str = "keras") -> jax.Array:
    """Dense(dense_size) -> Dense(n_outputs), linear; Glorot kernels (Keras) or U(±1/√fan_in) (torch)."""
    if dense_size:
        h = Dense(dense_size, init)(h)
    out = Dense(n_outputs, init)(h)
    return out[..., 0] if n_outputs == 1 else out


MODELS: dict[str, type[nn.Module]] = {"lstm": LSTMForecaster, "mlp": MLPForecaster}


def build_model(config: ModelConfig, n_outputs: int, unroll: int = 1) -> nn.Module:
    if config.name not in MODELS:
        raise UserError(
            f"[model] name: unknown model '{config.name}'.{did_you_mean(config.name, MODELS)} "
            f"Known models: {known(MODELS)}."
        )
    return MODELS[config.name](
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dense_size=config.dense_size,
        dropout=tuple(config.dropout),
        n_outputs=n_outputs,
        unroll=unroll,
        init_scheme=config.init,
    )


def split_outputs(out: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """(mean, variance or None) from a model's output."""
    if out.ndim == 1:
        return out, None
    return out[..., 0], jax.nn.softplus(out[..., 1]) + MIN_VARIANCE


# ================================================================ initial parameters
# One rule per parameter decides how it is drawn, for the Flax initialisers (`model.init`, one
# split) and for `init_params` (every split of a chunk at once, on the host, no compiled program).


@dataclass(frozen=True)
class InitRule:
    """How one parameter is drawn: U(±limit) (`uniform`), the sum of two such (`uniform_pair`:
    PyTorch's b_ih + b_hh), per-gate orthogonal (H, H) blocks (`orthogonal`, Keras' recurrent
    kernels), zeros with ones on the forget gate (`forget`, Keras' unit_forget_bias), or `zeros`."""

    kind: str
    limit: float = 0.0

    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        """A Flax initialiser: one split's draw from `key` (a jax.random key or seed words)."""
        return draw(self, tuple(shape), hashrng.seed_words(key)[None], jnp)[0].astype(dtype)


def init_rule(scheme: str, layer: str, leaf: str, kernel_shape: tuple[int, int]) -> InitRule:
    """The rule for parameter `leaf` of a `layer` ("lstm" or "dense") whose input kernel is
    (fan_in, fan_out): "torch" is U(±1/√H) for LSTMs and U(±1/√fan_in) for dense layers,
    "keras" is Glorot-uniform kernels, orthogonal recurrent kernels, forget bias 1, zero biases."""
    fan_in, fan_out = kernel_shape
    if scheme == "torch":
        limit = 1.0 / np.sqrt(fan_out // 4 if layer == "lstm" else fan_in)
        return InitRule("uniform_pair" if (layer, leaf) == ("lstm", "bias") else "uniform", float(limit))
    if leaf == "kernel":
        return InitRule("uniform", float(np.sqrt(6.0 / (fan_in + fan_out))))
    if leaf == "recurrent_kernel":
        return InitRule("orthogonal")
    return InitRule("forget" if layer == "lstm" else "zeros")


def draw(rule: InitRule, shape: tuple[int, ...], seeds, xp):
    """One parameter for every split: seed words (S, 2) -> (S, *shape) float32."""
    size, splits = math.prod(shape), seeds.shape[0]
    if rule.kind == "uniform":
        values = (2.0 * hashrng.uniform(seeds, size, xp) - 1.0) * np.float32(rule.limit)
    elif rule.kind == "uniform_pair":
        values = sum((2.0 * hashrng.uniform(hashrng.derive(seeds, i, xp), size, xp) - 1.0) * np.float32(rule.limit)
                     for i in (0, 1))
    elif rule.kind == "orthogonal":
        gaussian = hashrng.normal(seeds, size, xp).reshape(splits, *shape)
        values = _orthogonal_blocks(gaussian, xp)
    elif rule.kind == "forget":
        hidden = shape[0] // 4
        gate = xp.arange(size) // hidden
        values = xp.broadcast_to((gate == 1).astype(xp.float32), (splits, size))
    else:
        values = xp.zeros((splits, size), xp.float32)
    return xp.asarray(values, xp.float32).reshape(splits, *shape)


def init_params(model: nn.Module, input_shape: tuple[int, ...], seeds: np.ndarray, xp=np) -> dict:
    """Initial parameters of S splits stacked on a leading axis, from their seed words (S, 2), for
    inputs whose rows have `input_shape` (the lookback).

    Split s's parameters depend on `seeds[s]` alone, so on neither its chunk nor its device.
    With `xp=np` they are drawn on the host with no compiled program (CPU runs); an accelerator
    passes `xp=jax.numpy` under `jit` and draws them on the device.
    """
    flat = flatten_dict(param_shapes(model, tuple(input_shape)))
    params = {}
    for index, path in enumerate(sorted(flat)):
        layer = "lstm" if path[-2].startswith("FusedLSTM") else "dense"
        rule = init_rule(model.init_scheme, layer, path[-1], flat[(*path[:-1], "kernel")].shape)
        params[path] = draw(rule, flat[path].shape, hashrng.derive(seeds, index, xp), xp)
    return unflatten_dict(params)


@functools.lru_cache(maxsize=8)
def param_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """The parameter tree of `model` for one input row of `input_shape`, as shapes (traced, not run)."""
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    return jax.eval_shape(lambda x: model.init({"params": jnp.zeros(2, jnp.uint32)}, x, deterministic=True)["params"], x)


def _gate_blocks(stacked, xp):
    splits, hidden, _ = stacked.shape
    return xp.transpose(stacked.reshape(splits, hidden, 4, hidden), (0, 2, 1, 3))


def _from_gate_blocks(blocks, xp):
    splits, _, hidden, _ = blocks.shape
    return xp.transpose(blocks, (0, 2, 1, 3)).reshape(splits, hidden, 4 * hidden)


def _orthogonal_blocks(gaussian, xp):
    """Per (split, gate) the Q of a QR of Gaussian (H, H) blocks, signs fixed by R's diagonal.
    NumPy (the host, in float64) runs one small QR each, avoiding the batched QR that hangs
    inside jit(vmap) on XLA:CPU; jax.numpy runs them batched on an accelerator."""
    blocks = _gate_blocks(gaussian.astype(np.float64) if xp is np else gaussian, xp)
    q, r = xp.linalg.qr(blocks)
    q = q * xp.sign(xp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return _from_gate_blocks(q, xp).astype(np.float32)
