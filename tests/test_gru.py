"""The fused GRU layer against Flax's own GRU cell, and its hand-written backward pass."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wfbt.config import ModelConfig
from wfbt.gru import gru_layer, gru_layer_reference
from wfbt.models import FusedGRU, build_model, init_params
from wfbt import hashrng

B, T, F, H = 3, 7, 2, 5


def _flax_params_from_fused(fused: dict) -> dict:
    """Map (kernel, recurrent_kernel, bias, recurrent_bias) with gates r, z, n onto GRUCell's dense layers."""
    kernel, recurrent, bias, recurrent_bias = (np.asarray(fused[k]) for k in
                                               ("kernel", "recurrent_kernel", "bias", "recurrent_bias"))
    cell = {}
    for gate, name in enumerate("rzn"):
        cols = slice(gate * H, (gate + 1) * H)
        cell[f"i{name}"] = {"kernel": kernel[:, cols], "bias": bias[cols]}
        cell[f"h{name}"] = {"kernel": recurrent[:, cols]}
    cell["hn"]["bias"] = recurrent_bias
    return {"cell": cell}


def _setup(unroll: int):
    x = jax.random.normal(jax.random.PRNGKey(0), (B, T, F))
    fused_layer = FusedGRU(H, return_sequences=True, unroll=unroll)  # 1: projection in the loop
    fused = fused_layer.init(jax.random.PRNGKey(1), x)["params"]
    keys = jax.random.split(jax.random.PRNGKey(2), 2)  # nonzero biases, so each has a gradient to check
    fused = {**fused, "bias": 0.1 * jax.random.normal(keys[0], (3 * H,)),
             "recurrent_bias": 0.1 * jax.random.normal(keys[1], (H,))}
    return x, fused_layer, fused, nn.RNN(nn.GRUCell(H)), _flax_params_from_fused(fused)


@pytest.mark.parametrize("unroll", [1, T])
def test_outputs_match_flax_gru_cell(unroll):
    x, fused_layer, fused, flax_layer, flax_params = _setup(unroll)
    ours = fused_layer.apply({"params": fused}, x)
    theirs = flax_layer.apply({"params": flax_params}, x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("unroll", [1, T])
def test_gradients_match_flax_gru_cell(unroll):
    x, fused_layer, fused, flax_layer, flax_params = _setup(unroll)
    weights = jnp.linspace(-1.0, 1.0, B * T * H).reshape(B, T, H)  # a loss that uses every step

    g_ours = jax.grad(lambda p, x: jnp.sum(fused_layer.apply({"params": p}, x) * weights), argnums=(0, 1))(fused, x)
    g_flax = jax.grad(lambda p, x: jnp.sum(flax_layer.apply({"params": p}, x) * weights), argnums=(0, 1))(flax_params, x)
    mapped = _flax_params_from_fused(g_ours[0])
    for layer, leaves in mapped["cell"].items():
        for leaf, value in leaves.items():
            np.testing.assert_allclose(value, g_flax[0]["cell"][layer][leaf], rtol=1e-4, atol=1e-6, err_msg=layer)
    np.testing.assert_allclose(g_ours[1], g_flax[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("project_in_loop", [True, False])
def test_custom_backward_matches_autodiff_under_vmap_and_jit(project_in_loop):
    keys = jax.random.split(jax.random.PRNGKey(3), 5)
    args = (jax.random.normal(keys[0], (4, T, B, F)),  # 4 splits, time-major
            0.5 * jax.random.normal(keys[1], (4, F, 3 * H)), 0.1 * jax.random.normal(keys[2], (4, 3 * H)),
            0.3 * jax.random.normal(keys[3], (4, H, 3 * H)), 0.1 * jax.random.normal(keys[4], (4, H)))

    def grads(layer):
        loss = lambda *a: jnp.sum(jnp.sin(layer(*a, 1, project_in_loop)))  # noqa: E731
        return jax.vmap(jax.grad(loss, argnums=(0, 1, 2, 3, 4)))

    for a, b in zip(jax.jit(grads(gru_layer))(*args), grads(gru_layer_reference)(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("scheme", ["torch", "keras"])
def test_gru_parameters_drawn_on_the_host_by_the_rules(scheme):
    model = build_model(ModelConfig(name="gru", lookback=6, hidden_size=8, dense_size=4, init=scheme), n_outputs=1)
    params = init_params(model, (6,), hashrng.split_seeds(0, np.arange(2)))
    layer = params["FusedGRU_1"]
    assert layer["kernel"].shape == (2, 8, 24) and layer["recurrent_bias"].shape == (2, 8)
    if scheme == "torch":  # U(±1/√H); the r, z biases are b_ih + b_hh, the n bias b_in alone
        assert np.abs(layer["recurrent_kernel"]).max() <= 1 / np.sqrt(8)
        assert np.abs(layer["bias"][:, :16]).max() > 1 / np.sqrt(8) >= np.abs(layer["bias"][:, 16:]).max()
    else:  # three orthogonal (H, H) blocks, zero biases
        block = layer["recurrent_kernel"][:, :, 16:]
        np.testing.assert_allclose(block.transpose(0, 2, 1) @ block, np.broadcast_to(np.eye(8), (2, 8, 8)), atol=1e-5)
        np.testing.assert_array_equal(layer["bias"], 0.0)
