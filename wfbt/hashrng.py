"""Counter-based random numbers as plain integer arithmetic, the same in NumPy and in JAX.

Every random number wfbt draws comes from here: each split's seed words (from the config's seed
and the split index alone, so a split's numbers never depend on its chunk or device), its initial
parameters (drawn on the host, no compiled program), the shuffle of each epoch, and the dropout
masks of each minibatch step. `jax.random` (threefry) lowers on XLA:CPU to a rolled loop of small
ops: drawn per step it took ~8 % of a training step, and its programs took seconds to compile
(docs/performance-log.md). Here the bits of element i are two rounds of murmur3's 32-bit finaliser
(full avalanche) over i mixed with a 2-word seed: one fused elementwise op.

Seeds are uint32 arrays whose last axis holds the two words; functions take `xp` (numpy or
jax.numpy) and broadcast leading seed axes against the counters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_GOLDEN = np.uint32(0x9E3779B9)
_LAYER = 0x632BE5AB
_HIGH_WORD = np.uint32(0x5EED5EED)  # mixed into the seed's high word, so seed 0 is not all zeros


def _fmix32(x: Any) -> Any:
    x = x ^ (x >> 16)
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def seed_words(key: jax.Array) -> jax.Array:
    """The two uint32 words of seed words (returned as they are) or of a `jax.random` key."""
    return key if key.dtype == jnp.uint32 else jax.random.key_data(key)


def bits(seed: Any, counter: Any, xp: Any = jnp) -> Any:
    """32 random bits per element of `counter` (uint32) from `seed` (uint32[..., 2])."""
    x = _fmix32(xp.asarray(counter).astype(xp.uint32) * _GOLDEN + seed[..., 0])
    return _fmix32(x ^ seed[..., 1])


def derive(seed: Any, stream: Any, xp: Any = jnp) -> Any:
    """New seed words for sub-stream `stream` (a split, a parameter, an epoch, a minibatch step)
    of `seed`: (..., 2) -> (..., 2), with `stream` broadcast against the leading axes."""
    seed = xp.asarray(seed)
    stream = xp.asarray(stream).astype(xp.uint32)
    counter = stream[..., None] * np.uint32(2) + xp.arange(2, dtype=xp.uint32)
    return bits(seed[..., None, :], counter, xp)


def split_seeds(seed: int, splits: np.ndarray) -> np.ndarray:
    """Seed words (S, 2) of each split, from the config's seed and the split index alone."""
    seed %= 2**64
    base = np.array([seed & 0xFFFFFFFF, (seed >> 32) ^ int(_HIGH_WORD)], dtype=np.uint32)
    return derive(base, np.asarray(splits, np.uint32), np)


def uniform(seed: Any, size: int, xp: Any = jnp) -> Any:
    """`size` float32 numbers in [0, 1) per seed: (..., 2) -> (..., size), 24 random bits each."""
    raw = bits(seed[..., None, :], xp.arange(size, dtype=xp.uint32), xp)
    return (raw >> 8).astype(xp.float32) * np.float32(2.0**-24)


def normal(seed: Any, size: int, xp: Any = jnp) -> Any:
    """`size` standard normal float32 numbers per seed (Box–Muller): (..., 2) -> (..., size)."""
    u1 = 1.0 - uniform(derive(seed, 0, xp), size, xp)  # in (0, 1]: the log is finite
    u2 = uniform(derive(seed, 1, xp), size, xp)
    return (xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(np.float32(2.0 * np.pi) * u2)).astype(xp.float32)


def dropout(x: jax.Array, rate: float, seed: jax.Array, layer: int) -> jax.Array:
    """Inverted dropout of `x`: each element kept with probability 1 - rate, scaled by 1/(1 - rate)."""
    if rate <= 0.0:
        return x
    keep = 1.0 - rate
    counter = jnp.arange(x.size, dtype=jnp.uint32).reshape(x.shape) + np.uint32(layer * _LAYER % 2**32)
    threshold = np.uint32(min(int(round(keep * 2.0**32)), 2**32 - 1))
    return jnp.where(bits(seed, counter) < threshold, x / keep, 0.0).astype(x.dtype)
