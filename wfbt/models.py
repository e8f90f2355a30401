"""Forecasting models: Flax modules written for ONE split; the engine vmaps them.

`lstm` is the reference network (LSTM 50 with sequences -> dropout 0.3 -> LSTM 50 -> dropout 0.2
-> Dense 25 -> Dense 1, as Keras builds it: Glorot kernels, orthogonal recurrent kernels, forget
bias 1). `mlp` is a small dense network on the same lookback window, a cheap learned baseline.
With `loss = "gaussian_nll"` the head has two outputs: the mean and a softplus variance; with
`[model] horizon` h > 1 it has h (means of the next h points), or 2h with Gaussian NLL.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flax.linen as nn
from flax.traverse_util import flatten_dict, unflatten_dict
import jax
import jax.numpy as jnp
import numpy as np

from wfbt import hashrng
from wfbt.attention import causal_attention, layer_norm
from wfbt.config import BUILTIN_MODELS, ModelConfig
from wfbt.errors import UserError
from wfbt.gru import gru_layer, gru_layer_reference
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


class FusedGRU(nn.Module):
    """A GRU layer (Flax's `nn.GRUCell`) with one fused gate matmul; the time loop is `gru.gru_layer`.

    Parameters: `kernel` (F, 3H), `recurrent_kernel` (H, 3H), `bias` (3H), `recurrent_bias` (H,
    the bias of h·U_n inside the reset gate), gates r, z, n. Inputs as `FusedLSTM`'s.
    `custom_backward=False` differentiates the loop by autodiff instead (measured slower,
    docs/performance.md).
    """

    features: int
    return_sequences: bool = False
    unroll: int = 1
    init_scheme: str = "keras"
    time_major: bool = False
    custom_backward: bool = True

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        hidden = self.features
        shape = (inputs.shape[-1], 3 * hidden)
        rule = functools.partial(init_rule, self.init_scheme, "gru", kernel_shape=shape)
        kernel = _param(self, "kernel", rule("kernel"), shape)
        recurrent = _param(self, "recurrent_kernel", rule("recurrent_kernel"), (hidden, 3 * hidden))
        bias = _param(self, "bias", rule("bias"), (3 * hidden,))
        recurrent_bias = _param(self, "recurrent_bias", rule("recurrent_bias"), (hidden,))
        sequence = inputs if self.time_major else jnp.swapaxes(inputs, 0, 1)
        unroll = min(self.unroll, sequence.shape[0])
        layer = gru_layer if self.custom_backward else gru_layer_reference
        hidden_states = layer(sequence, kernel, bias, recurrent, recurrent_bias, unroll, unroll == 1)
        if not self.return_sequences:
            return hidden_states[-1]
        return hidden_states if self.time_major else jnp.swapaxes(hidden_states, 0, 1)


def _time_major(x: jax.Array) -> jax.Array:
    """Model inputs (B, L), or (B, L, F) with features, as (L, B, F) for a recurrent stack."""
    return x.T[..., None] if x.ndim == 2 else jnp.swapaxes(x, 0, 1)


class Forecaster(nn.Module):
    """What every built-in network takes from `[model]` (`build_model`): sizes, dropout rates
    between layers, outputs (h, or 2h with a variance head), the recurrent loop's unroll and the
    initialisation scheme."""

    hidden_size: int = 50
    num_layers: int = 2
    dense_size: int = 25
    dropout: tuple[float, ...] = (0.3, 0.2)
    n_outputs: int = 1
    unroll: int = 1
    init_scheme: str = "keras"


def _recurrent_stack(model: Forecaster, layer: Callable[[bool], nn.Module], x: jax.Array, deterministic: bool,
                     dropout_seed: jax.Array | None) -> jax.Array:
    """`num_layers` recurrent layers with dropout between them, then the dense head; `layer(sequences)`
    makes one layer (returning every step's state, or the last one only for the top layer)."""
    h = _time_major(x)
    for index in range(model.num_layers):
        h = layer(index < model.num_layers - 1)(h)
        h = _dropout(h, model.dropout, index, deterministic, dropout_seed)
    return _head(h, model.dense_size, model.n_outputs, model.init_scheme)


class LSTMForecaster(Forecaster):
    """The reference network: stacked LSTMs with dropout, then Dense(dense_size) -> Dense(1)."""

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        return _recurrent_stack(self, lambda sequences: FusedLSTM(
            self.hidden_size, return_sequences=sequences, unroll=self.unroll, init_scheme=self.init_scheme,
            time_major=True), x, deterministic, dropout_seed)


class GRUForecaster(Forecaster):
    """Stacked GRUs with dropout, then Dense(dense_size) -> Dense(1): the reference shape, GRU cells."""

    custom_backward: bool = True  # False: autodiff through the loop (benchmarks/model_speed.py)

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        return _recurrent_stack(self, lambda sequences: FusedGRU(
            self.hidden_size, return_sequences=sequences, unroll=self.unroll, init_scheme=self.init_scheme,
            time_major=True, custom_backward=self.custom_backward), x, deterministic, dropout_seed)


class MLPForecaster(Forecaster):
    """A dense ReLU network on the lookback window: a cheap learned baseline for the LSTM."""

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        h = x if x.ndim == 2 else x.reshape(x.shape[0], -1)  # (B, L) or (B, L, F): lags x features
        for layer in range(self.num_layers):
            h = nn.relu(Dense(self.hidden_size, self.init_scheme)(h))
            h = _dropout(h, self.dropout, layer, deterministic, dropout_seed)
        return _head(h, self.dense_size, self.n_outputs, self.init_scheme)


class AttentionForecaster(Forecaster):
    """Causal self-attention over the lookback window (pre-LN blocks), last position -> Dense head.

    `hidden_size` is the width D of every position; `unroll` is unused (no time loop)."""

    heads: int = 2

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        width = self.hidden_size
        x = x[..., None] if x.ndim == 2 else x  # (B, L, F): one value, or one row of features, per step
        h = Dense(width, self.init_scheme)(x)  # (B, L, D): each step's inputs embedded
        position = _param(self, "position", InitRule("uniform", float(1.0 / np.sqrt(width))), (x.shape[1], width))
        h = h + position  # learned positional embedding
        for layer in range(self.num_layers):
            # pre-LN residual blocks; dropout on each branch (salted apart), rates as between LSTM layers
            attended = CausalSelfAttention(width, self.heads, self.init_scheme)(LayerNorm()(h))
            h = h + _dropout(attended, self.dropout, layer, deterministic, dropout_seed)
            hidden = nn.relu(Dense(2 * width, self.init_scheme)(LayerNorm()(h)))
            feed = Dense(width, self.init_scheme)(hidden)
            h = h + _dropout(feed, self.dropout, layer, deterministic, dropout_seed, salt=layer + self.num_layers)
        return _head(LayerNorm()(h[:, -1]), self.dense_size, self.n_outputs, self.init_scheme)


class CausalSelfAttention(nn.Module):
    """`attention.causal_attention` with its parameters: queries, keys, values `Dense_0` (D, 3D),
    the output projection `Dense_1` (D, D)."""

    width: int
    heads: int
    init_scheme: str = "keras"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        qkv = Dense(3 * self.width, self.init_scheme)(x)
        return Dense(self.width, self.init_scheme)(causal_attention(qkv, self.heads))


class LayerNorm(nn.Module):
    """`attention.layer_norm` with `scale` (ones) and `bias` (zeros) over the last axis."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (x.shape[-1],)
        return layer_norm(x, _param(self, "scale", InitRule("ones"), shape), _param(self, "bias", InitRule("zeros"), shape))


def _dropout(h: jax.Array, rates: tuple[float, ...], layer: int, deterministic: bool,
             seed: jax.Array | None, salt: int | None = None) -> jax.Array:
    """Dropout after `layer` (rate 0 past the configured ones), from a counter-based hash of
    `seed` (uint32[2], see `wfbt.hashrng`): one fused op, unlike `nn.Dropout`'s threefry loop."""
    rate = rates[layer] if layer < len(rates) else 0.0
    if deterministic or rate == 0.0:
        return h
    if seed is None:
        raise ValueError("training with dropout needs a dropout_seed")
    return hashrng.dropout(h, rate, seed, layer if salt is None else salt)


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


MODELS: dict[str, type[nn.Module]] = {"lstm": LSTMForecaster, "mlp": MLPForecaster, "gru": GRUForecaster,
                                      "attention": AttentionForecaster}
assert tuple(MODELS) == BUILTIN_MODELS  # config.py reads a plugin's own keys by these names


def build_model(config: ModelConfig, n_outputs: int, unroll: int = 1, search_dirs: tuple[Path, ...] = ()) -> nn.Module:
    """The `[model]` network: a built-in, or a plugin (`models/x.py:Class` looked up in
    `search_dirs`, or an entry point in the group `wfbt.models`; see `wfbt.model_plugins`)."""
    if config.name not in MODELS:
        from wfbt.model_plugins import build_plugin  # it builds on this module's initialisation

        return build_plugin(config, n_outputs, search_dirs)
    extra = {}
    if config.name == "attention":
        if config.heads < 1 or config.hidden_size % config.heads:
            raise UserError(f"[model] heads: {config.heads} must divide hidden_size {config.hidden_size} "
                            f"(each head gets hidden_size / heads features).")
        extra["heads"] = config.heads
    return MODELS[config.name](
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dense_size=config.dense_size,
        dropout=tuple(config.dropout),
        n_outputs=n_outputs,
        unroll=unroll,
        init_scheme=config.init,
        **extra,
    )


def split_outputs(out: jax.Array, horizon: int = 1) -> tuple[jax.Array, jax.Array | None]:
    """(mean, variance or None) from a model's output: (B,) or (B, 2) (mean, raw variance), or
    with `horizon` h > 1, (B, h) means or (B, 2h): the h means, then the h raw variances."""
    if horizon > 1:
        if out.shape[-1] == horizon:
            return out, None
        return out[..., :horizon], jax.nn.softplus(out[..., horizon:]) + MIN_VARIANCE
    if out.ndim == 1:
        return out, None
    return out[..., 0], jax.nn.softplus(out[..., 1]) + MIN_VARIANCE


# ================================================================ initial parameters
# One rule per parameter decides how it is drawn, for the Flax initialisers (`model.init`, one
# split) and for `init_params` (every split of a chunk at once, on the host, no compiled program).


@dataclass(frozen=True)
class InitRule:
    """How one parameter is drawn: U(±limit) (`uniform`), the sum of two such (`uniform_pair`:
    PyTorch's b_ih + b_hh; `gru_bias`: on the first two thirds only), per-gate orthogonal (H, H)
    blocks (`orthogonal`, Keras' recurrent kernels), zeros with ones on the forget gate (`forget`,
    Keras' unit_forget_bias), `ones` or `zeros`."""

    kind: str
    limit: float = 0.0

    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        """A Flax initialiser: one split's draw from `key` (a jax.random key or seed words)."""
        return draw(self, tuple(shape), hashrng.seed_words(key)[None], jnp)[0].astype(dtype)


def init_rule(scheme: str, layer: str, leaf: str, kernel_shape: tuple[int, int]) -> InitRule:
    """The rule for parameter `leaf` of a `layer` ("lstm", "gru" or "dense") whose input kernel is
    (fan_in, fan_out): "torch" is U(±1/√H) for recurrent layers (PyTorch's b_ih + b_hh summed where
    the fused layer has one bias) and U(±1/√fan_in) for dense layers; "keras" is Glorot-uniform
    kernels, orthogonal recurrent kernels, forget bias 1 (LSTM), zero biases."""
    fan_in, fan_out = kernel_shape
    gates = {"lstm": 4, "gru": 3}.get(layer)
    if scheme == "torch":
        limit = 1.0 / np.sqrt(fan_out // gates if gates else fan_in)
        kind = {("lstm", "bias"): "uniform_pair", ("gru", "bias"): "gru_bias"}.get((layer, leaf), "uniform")
        return InitRule(kind, float(limit))
    if leaf == "kernel":
        return InitRule("uniform", float(np.sqrt(6.0 / (fan_in + fan_out))))
    if leaf == "recurrent_kernel":
        return InitRule("orthogonal")
    return InitRule("forget" if (layer, leaf) == ("lstm", "bias") else "zeros")


RECURRENT_LAYERS = {"FusedLSTM": "lstm", "FusedGRU": "gru"}  # module name prefix -> layer kind


def parameter_rule(scheme: str, path: tuple[str, ...], shapes: dict) -> InitRule:
    """How every parameter of a model is drawn (built-ins and plugins alike), from its path and the
    shapes of its siblings (`shapes`: path -> shape):

    - in a `FusedLSTM_*` / `FusedGRU_*` module: `init_rule` for that layer;
    - `kernel` (2 dimensions or more), and `bias` beside such a kernel: `init_rule`'s dense rule with
      fan_in = the product of the kernel's leading dimensions, fan_out = its last;
    - `scale` (layer norms): ones; a `bias` without a kernel beside it: zeros;
    - anything else (embeddings, ...): U(±1/√d), d its last dimension.
    """
    module, leaf = (path[-2] if len(path) > 1 else ""), path[-1]
    layer = next((kind for prefix, kind in RECURRENT_LAYERS.items() if module.startswith(prefix)), "dense")
    kernel = shapes.get((*path[:-1], "kernel"))
    if layer != "dense" or (leaf in ("kernel", "bias") and kernel is not None and len(kernel) >= 2):
        return init_rule(scheme, layer, leaf, (math.prod(kernel[:-1]), kernel[-1]))
    if leaf == "scale":
        return InitRule("ones")
    if leaf == "bias":
        return InitRule("zeros")
    return InitRule("uniform", float(1.0 / np.sqrt(shapes[path][-1] if shapes[path] else 1)))


def draw(rule: InitRule, shape: tuple[int, ...], seeds, xp):
    """One parameter for every split: seed words (S, 2) -> (S, *shape) float32."""
    size, splits = math.prod(shape), seeds.shape[0]
    if rule.kind == "uniform":
        values = (2.0 * hashrng.uniform(seeds, size, xp) - 1.0) * np.float32(rule.limit)
    elif rule.kind == "uniform_pair":
        values = sum((2.0 * hashrng.uniform(hashrng.derive(seeds, i, xp), size, xp) - 1.0) * np.float32(rule.limit)
                     for i in (0, 1))
    elif rule.kind == "gru_bias":  # b_ih + b_hh on the r and z gates; b_in alone on n (b_hn is apart)
        first = (2.0 * hashrng.uniform(hashrng.derive(seeds, 0, xp), size, xp) - 1.0) * np.float32(rule.limit)
        second = (2.0 * hashrng.uniform(hashrng.derive(seeds, 1, xp), size, xp) - 1.0) * np.float32(rule.limit)
        values = first + xp.where(xp.arange(size) < 2 * (size // 3), second, np.float32(0.0))
    elif rule.kind == "orthogonal":
        gaussian = hashrng.normal(seeds, size, xp).reshape(splits, *shape)
        values = _orthogonal_blocks(gaussian, xp)
    elif rule.kind == "forget":
        hidden = shape[0] // 4
        gate = xp.arange(size) // hidden
        values = xp.broadcast_to((gate == 1).astype(xp.float32), (splits, size))
    elif rule.kind == "ones":
        values = xp.ones((splits, size), xp.float32)
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
    shapes = {path: tuple(leaf.shape) for path, leaf in flat.items()}
    params = {}
    for index, path in enumerate(sorted(flat)):
        rule = parameter_rule(model.init_scheme, path, shapes)
        params[path] = draw(rule, flat[path].shape, hashrng.derive(seeds, index, xp), xp)
    return unflatten_dict(params)


@functools.lru_cache(maxsize=8)
def param_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """The parameter tree of `model` for one input row of `input_shape`, as shapes (traced, not run)."""
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    return jax.eval_shape(lambda x: model.init({"params": jnp.zeros(2, jnp.uint32)}, x, deterministic=True)["params"], x)


def _gate_blocks(stacked, xp):
    splits, hidden, width = stacked.shape
    return xp.transpose(stacked.reshape(splits, hidden, width // hidden, hidden), (0, 2, 1, 3))


def _from_gate_blocks(blocks, xp):
    splits, gates, hidden, _ = blocks.shape
    return xp.transpose(blocks, (0, 2, 1, 3)).reshape(splits, hidden, gates * hidden)


def _orthogonal_blocks(gaussian, xp):
    """Per (split, gate) the Q of a QR of Gaussian (H, H) blocks, signs fixed by R's diagonal.
    NumPy (the host, in float64) runs one small QR each, avoiding the batched QR that hangs
    inside jit(vmap) on XLA:CPU; jax.numpy runs them batched on an accelerator."""
    blocks = _gate_blocks(gaussian.astype(np.float64) if xp is np else gaussian, xp)
    q, r = xp.linalg.qr(blocks)
    q = q * xp.sign(xp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return _from_gate_blocks(q, xp).astype(np.float32)
