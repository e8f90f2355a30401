"""The counter-based dropout masks: right rate, independent streams, reproducible."""

import jax
import jax.numpy as jnp
import numpy as np

from wfbt import hashrng

SEED = hashrng.seed_words(jax.random.PRNGKey(7))


def test_dropout_rate_scaling_and_reproducibility():
    x = jnp.ones((200, 500))
    out = hashrng.dropout(x, 0.3, SEED, 0)
    kept = np.asarray(out > 0)
    assert abs(kept.mean() - 0.7) < 0.005  # 100,000 draws: one standard error is 0.0014
    np.testing.assert_allclose(np.asarray(out)[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(out, hashrng.dropout(x, 0.3, SEED, 0))
    assert hashrng.dropout(x, 0.0, SEED, 0) is x


def test_streams_are_independent():
    x = jnp.ones((100_000,))
    masks = [hashrng.dropout(x, 0.5, SEED, 0), hashrng.dropout(x, 0.5, SEED, 1),
             hashrng.dropout(x, 0.5, hashrng.derive(SEED, 1), 0), hashrng.dropout(x, 0.5, hashrng.derive(SEED, 2), 0),
             hashrng.dropout(x, 0.5, hashrng.seed_words(jax.random.PRNGKey(8)), 0)]
    corr = np.corrcoef(np.stack([np.asarray(m > 0, np.float64) for m in masks]))
    off_diagonal = corr[~np.eye(len(masks), dtype=bool)]
    assert np.abs(off_diagonal).max() < 0.015  # 100,000 draws: 1/sqrt(n) ≈ 0.003


def test_bits_are_balanced():
    b = np.asarray(hashrng.bits(SEED, jnp.arange(1 << 16, dtype=jnp.uint32)))
    per_bit = np.unpackbits(b.view(np.uint8)).reshape(-1, 32).mean(axis=0)
    assert np.all(np.abs(per_bit - 0.5) < 0.01)
