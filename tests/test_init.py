"""Initial parameters: drawn on the host per split, by the same rules as the Flax initialisers."""

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict

from wfbt import hashrng
from wfbt.config import ModelConfig
from wfbt.models import build_model, init_params

SMALL = ModelConfig(lookback=6, hidden_size=8, dense_size=4)
SEEDS = hashrng.split_seeds(0, np.arange(3))


def test_host_draw_has_the_flax_tree_and_depends_on_its_split_alone():
    model = build_model(SMALL, n_outputs=1)
    host = init_params(model, (6,), SEEDS)
    flax_tree = model.init({"params": jax.random.PRNGKey(0)}, jnp.zeros((1, 6)), deterministic=True)["params"]
    assert jax.tree.structure(host) == jax.tree.structure(flax_tree)
    for ours, theirs in zip(jax.tree.leaves(host), jax.tree.leaves(flax_tree)):
        assert ours.shape == (3, *theirs.shape) and ours.dtype == np.float32
    alone = init_params(model, (6,), SEEDS[1:2])  # split 1 drawn in a batch of one
    for batch, one in zip(jax.tree.leaves(host), jax.tree.leaves(alone)):
        np.testing.assert_array_equal(batch[1], one[0])
        assert not np.allclose(batch[0], batch[1])


def test_torch_scheme_limits():
    model = build_model(SMALL, n_outputs=1)  # init = "torch": U(±1/√H) for LSTMs, U(±1/√fan_in) for dense
    flat = flatten_dict(init_params(model, (6,), SEEDS))
    for path, value in flat.items():
        if path[0].startswith("FusedLSTM"):
            limit = (2 if path[-1] == "bias" else 1) / np.sqrt(8)  # the bias is b_ih + b_hh
        else:
            limit = 1 / np.sqrt(flat[(*path[:-1], "kernel")].shape[1])
        assert np.abs(value).max() <= limit and np.abs(value).max() > 0.5 * limit, path


def test_keras_scheme_orthogonal_gates_forget_bias_and_zero_dense_bias():
    model = build_model(ModelConfig(lookback=6, hidden_size=8, dense_size=4, init="keras"), n_outputs=1)
    flat = flatten_dict(init_params(model, (6,), SEEDS))
    recurrent = flat[("FusedLSTM_1", "recurrent_kernel")]  # (S, H, 4H): four orthogonal (H, H) blocks
    for gate in range(4):
        block = recurrent[:, :, gate * 8:(gate + 1) * 8]
        np.testing.assert_allclose(block.transpose(0, 2, 1) @ block, np.broadcast_to(np.eye(8), (3, 8, 8)), atol=1e-5)
    np.testing.assert_array_equal(flat[("FusedLSTM_0", "bias")][0], np.repeat([0.0, 1.0, 0.0, 0.0], 8))
    np.testing.assert_array_equal(flat[("Dense_0", "bias")], 0.0)
    kernel = flat[("FusedLSTM_0", "kernel")]  # Glorot: U(±√(6 / (fan_in + fan_out)))
    assert np.abs(kernel).max() <= np.sqrt(6 / (1 + 32))


def test_device_draw_matches_the_host_draw():
    """Accelerators draw under jit with jax.numpy: the same hash, the same numbers."""
    model = build_model(SMALL, n_outputs=1)
    host = init_params(model, (6,), SEEDS)
    device = jax.jit(lambda seeds: init_params(model, (6,), seeds, jnp))(SEEDS)
    for a, b in zip(jax.tree.leaves(host), jax.tree.leaves(device)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_apply_checks_parameter_shapes():
    import pytest

    model = build_model(SMALL, n_outputs=1)
    params = jax.tree.map(lambda leaf: leaf[0], init_params(model, (6,), SEEDS))
    params["Dense_0"]["kernel"] = jnp.zeros((3, 4))  # the head's first layer takes 8 features
    with pytest.raises(ValueError, match="Dense_0/kernel has shape"):
        model.apply({"params": params}, jnp.zeros((2, 6)), deterministic=True)
