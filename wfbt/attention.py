"""Causal self-attention and layer norm as plain functions of arrays (the Flax modules that hold
their parameters are in `wfbt.models`, as the LSTM's loop is in `wfbt.lstm`).

Shapes are for one split (the engine vmaps over splits): x (B, L, D), L the lookback.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

LAYER_NORM_EPSILON = 1e-5


def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    """Normalise the last axis to mean 0 and variance 1, then scale and shift (as `nn.LayerNorm`)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    variance = jnp.mean(centred * centred, axis=-1, keepdims=True)
    return centred * jax.lax.rsqrt(variance + LAYER_NORM_EPSILON) * scale + bias


def causal_mask(length: int) -> np.ndarray:
    """(L, L) bool: position t attends to positions <= t only."""
    return np.tril(np.ones((length, length), dtype=bool))


def causal_attention(qkv: jax.Array, heads: int) -> jax.Array:
    """Multi-head scaled dot-product attention from queries, keys and values stacked on the last
    axis, qkv (B, L, 3D) (one matmul made them), to (B, L, D); each position sees only itself
    and earlier positions."""
    batch, length, width3 = qkv.shape
    width = width3 // 3
    head = width // heads
    qkv = qkv.reshape(batch, length, 3, heads, head)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, L, heads, head)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.float32(np.sqrt(head))
    scores = jnp.where(causal_mask(length), scores, np.float32(-1e30))  # a large negative, never -inf: no NaN
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, width)
