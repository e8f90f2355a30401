"""The fused LSTM layer against Flax's own LSTM cell, and its hand-written backward pass."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wfbt.lstm import lstm_layer, lstm_layer_reference
from wfbt.models import FusedLSTM

B, T, F, H = 3, 7, 2, 5


def _flax_params_from_fused(fused: dict) -> dict:
    """Map (kernel, recurrent_kernel, bias) with gates i, f, g, o onto LSTMCell's dense layers."""
    kernel, recurrent, bias = (np.asarray(fused[k]) for k in ("kernel", "recurrent_kernel", "bias"))
    cell = {}
    for gate, name in enumerate("ifgo"):
        cols = slice(gate * H, (gate + 1) * H)
        cell[f"i{name}"] = {"kernel": kernel[:, cols]}
        cell[f"h{name}"] = {"kernel": recurrent[:, cols], "bias": bias[cols]}
    return {"cell": cell}


def _setup(unroll: int):
    x = jax.random.normal(jax.random.PRNGKey(0), (B, T, F))
    fused_layer = FusedLSTM(H, return_sequences=True, unroll=unroll)  # 1: projection in the loop
    fused = fused_layer.init(jax.random.PRNGKey(1), x)["params"]
    # perturb the bias so the forget-gate 1s are not the only nonzero bias
    fused = {**fused, "bias": fused["bias"] + 0.1 * jax.random.normal(jax.random.PRNGKey(2), (4 * H,))}
    flax_layer = nn.RNN(nn.LSTMCell(H))
    return x, fused_layer, fused, flax_layer, _flax_params_from_fused(fused)


@pytest.mark.parametrize("unroll", [1, T])
def test_outputs_match_flax_lstm_cell(unroll):
    x, fused_layer, fused, flax_layer, flax_params = _setup(unroll)
    ours = fused_layer.apply({"params": fused}, x)
    theirs = flax_layer.apply({"params": flax_params}, x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("unroll", [1, T])
def test_gradients_match_flax_lstm_cell(unroll):
    x, fused_layer, fused, flax_layer, flax_params = _setup(unroll)
    weights = jnp.linspace(-1.0, 1.0, B * T * H).reshape(B, T, H)  # a loss that uses every step

    g_ours = jax.grad(lambda p, x: jnp.sum(fused_layer.apply({"params": p}, x) * weights), argnums=(0, 1))(fused, x)
    g_flax = jax.grad(lambda p, x: jnp.sum(flax_layer.apply({"params": p}, x) * weights), argnums=(0, 1))(flax_params, x)
    mapped = _flax_params_from_fused(g_ours[0])
    for gate in "ifgo":
        for layer in (f"i{gate}", f"h{gate}"):
            for leaf, value in mapped["cell"][layer].items():
                np.testing.assert_allclose(value, g_flax[0]["cell"][layer][leaf], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_ours[1], g_flax[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("project_in_loop", [True, False])
def test_custom_backward_matches_autodiff_under_vmap_and_jit(project_in_loop):
    key = jax.random.PRNGKey(3)
    keys = jax.random.split(key, 4)
    inputs = jax.random.normal(keys[0], (4, T, B, F))  # 4 splits, time-major
    kernel = 0.5 * jax.random.normal(keys[1], (4, F, 4 * H))
    bias = 0.1 * jax.random.normal(keys[2], (4, 4 * H))
    recurrent = 0.3 * jax.random.normal(keys[3], (4, H, 4 * H))

    def loss(fn):
        return lambda *args: jnp.sum(jnp.sin(fn(*args)))

    args = (inputs, kernel, bias, recurrent)
    ours = jax.jit(jax.vmap(jax.grad(loss(lambda *a: lstm_layer(*a, 1, project_in_loop)), argnums=(0, 1, 2, 3))))(*args)
    ref = jax.vmap(jax.grad(loss(lambda *a: lstm_layer_reference(*a, project_in_loop)), argnums=(0, 1, 2, 3)))(*args)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
