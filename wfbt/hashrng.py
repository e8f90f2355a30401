"""Counter-based random bits for dropout and per-step seeds, as plain integer arithmetic.

`jax.random` (threefry) lowers on XLA:CPU to a rolled loop of 5 iterations of small ops; drawn
per minibatch step for two dropout masks and a step key, it took ~8 % of a training step (see
docs/performance.md). Here a mask is one fused elementwise op: the bits of element i are two
rounds of murmur3's 32-bit finaliser (full avalanche) over i mixed with the 2-word seed. The
seed itself comes from the split's `jax.random` key, so streams stay independent per split and
reproducible whatever the chunk.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_GOLDEN = np.uint32(0x9E3779B9)
_LAYER = 0x632BE5AB


def _fmix32(x: jax.Array) -> jax.Array:
    x = x ^ (x >> 16)
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def seed_words(key: jax.Array) -> jax.Array:
    """The two uint32 words of a (legacy uint32 or typed) `jax.random` key."""
    return key if key.dtype == jnp.uint32 else jax.random.key_data(key)


def bits(seed: jax.Array, counter: jax.Array) -> jax.Array:
    """32 random bits per element of `counter` (uint32) from `seed` (uint32[2])."""
    x = _fmix32(counter.astype(jnp.uint32) * _GOLDEN + seed[0])
    return _fmix32(x ^ seed[1])


def derive(seed: jax.Array, stream: jax.Array | int) -> jax.Array:
    """A new 2-word seed for sub-stream `stream` (e.g. a minibatch step) of `seed`."""
    counter = jnp.asarray(stream, jnp.uint32) * np.uint32(2) + jnp.arange(2, dtype=jnp.uint32)
    return bits(seed, counter)


def dropout(x: jax.Array, rate: float, seed: jax.Array, layer: int) -> jax.Array:
    """Inverted dropout of `x`: each element kept with probability 1 - rate, scaled by 1/(1 - rate)."""
    if rate <= 0.0:
        return x
    keep = 1.0 - rate
    counter = jnp.arange(x.size, dtype=jnp.uint32).reshape(x.shape) + np.uint32(layer * _LAYER % 2**32)
    threshold = np.uint32(min(int(round(keep * 2.0**32)), 2**32 - 1))
    return jnp.where(bits(seed, counter) < threshold, x / keep, 0.0).astype(x.dtype)
