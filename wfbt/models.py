"""Forecasting models: Flax modules written for ONE split; the engine vmaps them.

`lstm` is the reference network (LSTM 50 with sequences -> dropout 0.3 -> LSTM 50 -> dropout 0.2
-> Dense 25 -> Dense 1, as Keras builds it: Glorot kernels, orthogonal recurrent kernels, forget
bias 1). `mlp` is a small dense network on the same lookback window, a cheap learned baseline.
With `loss = "gaussian_nll"` the head has two outputs: the mean and a softplus variance.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from wfbt import hashrng
from wfbt.config import ModelConfig
from wfbt.errors import UserError, did_you_mean, known
from wfbt.lstm import lstm_layer

MIN_VARIANCE = 1e-6


def forget_bias_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Zeros, but 1 on the forget gate (Keras' unit_forget_bias): gates are ordered i, f, g, o."""
    hidden = shape[0] // 4
    return jnp.zeros(shape, dtype).at[hidden : 2 * hidden].set(1.0)


class FusedLSTM(nn.Module):
    """An LSTM layer with one fused gate matmul; the time loop is `lstm.lstm_layer`.

    Parameters: `kernel` (F, 4H), `recurrent_kernel` (H, 4H), `bias` (4H), gates i, f, g, o.
    Inputs are (B, T, F), or (T, B, F) with `time_major=True` (what `LSTMForecaster` passes
    between its layers, so no transpose is needed anywhere in the stack).
    `orthogonal_init=False` draws the recurrent kernel from a normal distribution instead of
    orthogonalising it: the engine uses it to initialise many splits inside `vmap` (a batched QR
    hangs XLA:CPU) and orthogonalises afterwards with `orthogonalize_recurrent`.
    """

    features: int
    return_sequences: bool = False
    orthogonal_init: bool = True
    unroll: int = 1  # time steps per loop iteration: 1 is best on CPU; a full unroll on GPU
    init_scheme: str = "keras"  # "keras": Glorot, orthogonal, forget bias 1; "torch": U(±1/√H) everywhere
    time_major: bool = False

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:  # inputs (B, T, F), or (T, B, F) if time_major
        hidden = self.features
        if self.init_scheme == "torch":
            uniform = _symmetric_uniform(1.0 / np.sqrt(hidden))
            kernel_init, recurrent_init = uniform, uniform
            bias_init = lambda key, shape, dtype=jnp.float32: (  # noqa: E731  b_ih + b_hh
                uniform(key, shape, dtype) + uniform(jax.random.fold_in(key, 1), shape, dtype))
        else:
            kernel_init, bias_init = nn.initializers.glorot_uniform(), forget_bias_init
            recurrent_init = _per_gate(nn.initializers.orthogonal() if self.orthogonal_init
                                       else nn.initializers.normal(1.0))
        kernel = self.param("kernel", kernel_init, (inputs.shape[-1], 4 * hidden))
        recurrent = self.param("recurrent_kernel", recurrent_init, (hidden, 4 * hidden))
        bias = self.param("bias", bias_init, (4 * hidden,))
        sequence = inputs if self.time_major else jnp.swapaxes(inputs, 0, 1)
        unroll = min(self.unroll, sequence.shape[0])
        # a rolled loop (CPU) takes the input projection into each step's matmul; an unrolled one
        # (accelerators) keeps it as one matmul before the loop (docs/performance.md)
        hidden_states = lstm_layer(sequence, kernel, bias, recurrent, unroll, unroll == 1)  # (T, B, H)
        if not self.return_sequences:
            return hidden_states[-1]
        return hidden_states if self.time_major else jnp.swapaxes(hidden_states, 0, 1)


def _symmetric_uniform(limit: float) -> Callable:
    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


def _per_gate(init: Callable) -> Callable:
    """Initialise (H, 4H) as four (H, H) blocks, like Flax's LSTM cells do per gate."""

    def block_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        hidden = shape[0]
        keys = jax.random.split(key, 4)
        return jnp.concatenate([init(k, (hidden, hidden), dtype) for k in keys], axis=1)

    return block_init


class LSTMForecaster(nn.Module):
    """The reference network: stacked LSTMs with dropout, then Dense(dense_size) -> Dense(1)."""

    hidden_size: int = 50
    num_layers: int = 2
    dense_size: int = 25
    dropout: tuple[float, ...] = (0.3, 0.2)
    n_outputs: int = 1
    orthogonal_init: bool = True
    unroll: int = 1
    init_scheme: str = "keras"

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        h = x.T[..., None]  # x (B, L); time-major (L, B, 1) through the whole stack
        for layer in range(self.num_layers):
            last = layer == self.num_layers - 1
            h = FusedLSTM(self.hidden_size, return_sequences=not last, orthogonal_init=self.orthogonal_init,
                          unroll=self.unroll, init_scheme=self.init_scheme, time_major=True)(h)
            h = _dropout(h, self.dropout, layer, deterministic, dropout_seed)
        return _head(h, self.dense_size, self.n_outputs, self.init_scheme)


class MLPForecaster(nn.Module):
    """A dense ReLU network on the lookback window: a cheap learned baseline for the LSTM."""

    hidden_size: int = 50
    num_layers: int = 2
    dense_size: int = 25
    dropout: tuple[float, ...] = (0.3, 0.2)
    n_outputs: int = 1
    orthogonal_init: bool = True  # no recurrent kernel; kept so every model takes the same fields
    unroll: int = 1
    init_scheme: str = "keras"

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        h = x
        for layer in range(self.num_layers):
            h = nn.relu(nn.Dense(self.hidden_size)(h))
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


def _head(h: jax.Array, dense_size: int, n_outputs: int, init: str = "keras") -> jax.Array:
    """Dense(dense_size) -> Dense(n_outputs), linear; Glorot kernels (Keras) or U(±1/√fan_in) (torch)."""
    if dense_size:
        h = _dense(dense_size, h.shape[-1], init)(h)
    out = _dense(n_outputs, h.shape[-1], init)(h)
    return out[..., 0] if n_outputs == 1 else out


def _dense(features: int, fan_in: int, init: str) -> nn.Dense:
    if init == "torch":
        uniform = _symmetric_uniform(1.0 / np.sqrt(fan_in))
        return nn.Dense(features, kernel_init=uniform, bias_init=uniform)
    return nn.Dense(features, kernel_init=nn.initializers.glorot_uniform())


MODELS: dict[str, type[nn.Module]] = {"lstm": LSTMForecaster, "mlp": MLPForecaster}


def build_model(config: ModelConfig, n_outputs: int, orthogonal_init: bool = True, unroll: int = 1) -> nn.Module:
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
        orthogonal_init=orthogonal_init,
        unroll=unroll,
        init_scheme=config.init,
    )


def split_outputs(out: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """(mean, variance or None) from a model's output."""
    if out.ndim == 1:
        return out, None
    return out[..., 0], jax.nn.softplus(out[..., 1]) + MIN_VARIANCE


def orthogonalize_recurrent(params: dict, on_host: bool = True) -> dict:
    """Replace every stacked (S, H, 4H) `recurrent_kernel` by per-gate orthogonal blocks.

    On the host (CPU runs) it is NumPy, one small QR per (split, gate): deterministic per split
    whatever the batch, and it avoids the batched QR that hangs inside jit(vmap) on XLA:CPU. On an
    accelerator the same QR runs batched on the device (`on_host=False`), with no round trip.
    """
    orthogonalize = _orthogonal_blocks if on_host else _orthogonal_blocks_device

    def visit(tree: dict) -> dict:
        out = {}
        for name, value in tree.items():
            if isinstance(value, dict):
                out[name] = visit(value)
            elif name == "recurrent_kernel":
                out[name] = orthogonalize(value)
            else:
                out[name] = value
        return out

    return visit(params)


def _gate_blocks(stacked, xp):
    splits, hidden, _ = stacked.shape
    return xp.transpose(stacked.reshape(splits, hidden, 4, hidden), (0, 2, 1, 3))


def _from_gate_blocks(blocks, xp):
    splits, _, hidden, _ = blocks.shape
    return xp.transpose(blocks, (0, 2, 1, 3)).reshape(splits, hidden, 4 * hidden)


def _orthogonal_blocks(gaussian) -> np.ndarray:
    q, r = np.linalg.qr(_gate_blocks(np.asarray(gaussian, np.float64), np))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return _from_gate_blocks(q, np).astype(np.float32)


@jax.jit
def _orthogonal_blocks_device(gaussian: jax.Array) -> jax.Array:
    q, r = jnp.linalg.qr(_gate_blocks(gaussian, jnp))
    q = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return _from_gate_blocks(q, jnp)
