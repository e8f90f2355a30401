"""The causal attention model: no position sees a later one, and it learns in the engine."""

import jax
import jax.numpy as jnp
import numpy as np

from conftest import write_config
from wfbt import hashrng
from wfbt.api import run_experiment
from wfbt.attention import causal_attention
from wfbt.config import ModelConfig, load_config
from wfbt.models import build_model, init_params

SMALL = ModelConfig(name="attention", lookback=6, hidden_size=8, dense_size=4)


def test_a_later_position_never_changes_an_earlier_output():
    qkv = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 3 * 8))
    changed = qkv.at[:, 4:].add(10.0)  # perturb positions 4 and 5 (queries, keys and values)
    before, after = causal_attention(qkv, 2), causal_attention(changed, 2)
    np.testing.assert_array_equal(before[:, :4], after[:, :4])
    assert not np.allclose(before[:, 4:], after[:, 4:])


def test_the_whole_stack_is_causal_and_the_forecast_reads_every_input():
    """Per position, the last block's output depends on inputs at or before it only (both blocks,
    layer norms and the learned positions included); the forecast, read at the last position,
    depends on every input."""
    model = build_model(SMALL, n_outputs=1)
    params = jax.tree.map(lambda leaf: leaf[0], init_params(model, (6,), hashrng.split_seeds(0, np.arange(1))))
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 6))
    changed = x.at[:, 4:].set(5.0)

    def run(inputs):
        out, state = model.apply({"params": params}, inputs, deterministic=True, capture_intermediates=True,
                                 mutable=["intermediates"])
        return out, state["intermediates"]["Dense_4"]["__call__"][0]  # the last block's feed-forward, (B, L, D)

    (out, last_block), (out_changed, last_block_changed) = run(x), run(changed)
    assert last_block.shape == (3, 6, 8)
    np.testing.assert_array_equal(last_block[:, :4], last_block_changed[:, :4])
    assert not np.allclose(last_block[:, 4:], last_block_changed[:, 4:])
    assert out.shape == (3,) and jnp.isfinite(out).all() and not np.allclose(out, out_changed)


def test_attention_trains_in_the_engine(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["model.name='attention'", "train.epochs=3",
                                                             "train.patience=0"])
    results = run_experiment(config)
    assert (results.splits["status"] == "ok").all()
    curves = results.curves.pivot(on="epoch", index="split", values="train_loss").drop("split").to_numpy()
    assert (curves[:, -1] < curves[:, 0]).mean() >= 0.75, curves  # the training loss falls in most splits
