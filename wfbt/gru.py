"""The GRU layer with one gate matmul per step and a hand-written backward pass (as `wfbt.lstm`).

The cell is Flax's `nn.GRUCell` (PyTorch's and Keras' `reset_after` GRU):

    r = σ(x W_r + b_r + h U_r)        z = σ(x W_z + b_z + h U_z)
    n = tanh(x W_n + b_n + r ⊙ (h U_n + b_hn))        h' = (1 - z) ⊙ n + z ⊙ h

Parameters (gates ordered r, z, n): kernel (F, 3H), recurrent (H, 3H), bias (3H), recurrent_bias
(H, the b_hn inside the reset gate). Each step computes its four pre-activations
`[x W_r + h U_r, x W_z + h U_z, x W_n, h U_n]` (+ biases) as ONE matmul of `[x_t, h_{t-1}]` with
a block matrix `[[W_r W_z W_n 0], [U_r U_z 0 U_n]]` (F + H, 4H); the zero blocks cost little
beside the many tiny ops a second matmul would add on CPU. The backward walks time in reverse for
the state gradients only; the weight gradients are one matmul each over all time steps.
`gru_layer_reference` is the same forward differentiated by JAX (tests, and the measured
alternative: docs/performance.md).

Shapes are time-major for one split (the engine vmaps over splits): inputs (T, B, F) -> every
hidden state (T, B, H).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from wfbt.lstm import time_loop


def _blocks(kernel: jax.Array, bias: jax.Array, recurrent: jax.Array, recurrent_bias: jax.Array):
    """The (F, 4H) and (H, 4H) block matrices and the 4H bias of the fused step."""
    hidden = recurrent.shape[0]
    kernel4 = jnp.concatenate([kernel, jnp.zeros((kernel.shape[0], hidden), kernel.dtype)], axis=1)
    recurrent4 = jnp.concatenate([recurrent[:, :2 * hidden], jnp.zeros((hidden, hidden), recurrent.dtype),
                                  recurrent[:, 2 * hidden:]], axis=1)
    return kernel4, recurrent4, jnp.concatenate([bias, recurrent_bias])


def _forward(inputs, kernel, bias, recurrent, recurrent_bias, keep_derivatives: bool, unroll: int = 1,
             project_in_loop: bool = True):
    """The recurrence over inputs (T, B, F); optionally keep per step the five local derivatives
    the backward needs: `(1-z)(1-n²)`, `(h-n)·z(1-z)`, `(h U_n + b_hn)·r(1-r)`, `r`, `z`.

    `project_in_loop`: [x_t, h] times the stacked block matrix in each step (CPU); otherwise
    x · kernel is one matmul before the loop and each step adds h · recurrent (accelerators)."""
    batch, hidden = inputs.shape[1], recurrent.shape[0]
    kernel4, recurrent4, bias4 = _blocks(kernel, bias, recurrent, recurrent_bias)
    if project_in_loop:
        weights = jnp.concatenate([kernel4, recurrent4])
        pre_activation = lambda x_t, h_prev: jnp.concatenate([x_t, h_prev], axis=-1) @ weights + bias4  # noqa: E731
        xs = inputs
    else:
        pre_activation = lambda gx_t, h_prev: gx_t + h_prev @ recurrent4  # noqa: E731
        xs = inputs @ kernel4 + bias4

    def step(h_prev, x_t):
        pre = pre_activation(x_t, h_prev)
        rz = 0.5 * jnp.tanh(0.5 * pre[:, :2 * hidden]) + 0.5  # sigmoid as one tanh over both gates
        r, z = rz[:, :hidden], rz[:, hidden:]
        hn = pre[:, 3 * hidden:]
        n = jnp.tanh(pre[:, 2 * hidden:3 * hidden] + r * hn)
        h = n + z * (h_prev - n)
        if not keep_derivatives:
            return h, h
        local = ((1 - z) * (1 - n * n), (h_prev - n) * z * (1 - z), hn * r * (1 - r), r, z)
        return h, (h, local)

    _, out = time_loop(step, jnp.zeros((batch, hidden), inputs.dtype), xs, unroll=unroll)
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def gru_layer(inputs: jax.Array, kernel: jax.Array, bias: jax.Array, recurrent: jax.Array,
              recurrent_bias: jax.Array, unroll: int = 1, project_in_loop: bool = True) -> jax.Array:
    """Every hidden state (T, B, H) of inputs (T, B, F)."""
    return _forward(inputs, kernel, bias, recurrent, recurrent_bias, False, unroll, project_in_loop)


def _gru_fwd(inputs, kernel, bias, recurrent, recurrent_bias, unroll, project_in_loop):
    hs, local = _forward(inputs, kernel, bias, recurrent, recurrent_bias, True, unroll, project_in_loop)
    return hs, (inputs, hs, local, kernel, recurrent, recurrent_bias)


def _gru_bwd(unroll, project_in_loop, residuals, d_hs):
    inputs, hs, local, kernel, recurrent, recurrent_bias = residuals
    kernel4, recurrent4, _ = _blocks(kernel, jnp.zeros(kernel.shape[1], kernel.dtype), recurrent, recurrent_bias)
    features, hidden = inputs.shape[-1], recurrent.shape[0]
    back_weights = jnp.concatenate([kernel4, recurrent4]).T if project_in_loop else recurrent4.T

    def step(dh_next, xs):
        dh_out, (dn_pre, dz_pre, dr_from_n, r, z) = xs
        dh = dh_out + dh_next
        da_n = dh * dn_pre
        d_pre = jnp.concatenate([da_n * dr_from_n, dh * dz_pre, da_n, da_n * r], axis=-1)  # (B, 4H)
        d_in = d_pre @ back_weights
        if project_in_loop:
            return dh * z + d_in[:, features:], (d_pre, d_in[:, :features])
        return dh * z + d_in, d_pre

    _, out = time_loop(step, jnp.zeros_like(hs[0]), (d_hs, local), reverse=True, unroll=unroll)
    d_pre, d_inputs = out if project_in_loop else (out, out @ kernel4.T)
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]])
    rows = hs.shape[0] * hs.shape[1]
    d_pre_rows = d_pre.reshape(rows, -1)
    # the small operands transposed behind a barrier, as in wfbt.lstm's backward
    h_prev_t, inputs_t = lax.optimization_barrier((h_prev.reshape(rows, -1).T, inputs.reshape(rows, -1).T))
    d_kernel = inputs_t @ d_pre_rows[:, :3 * hidden]
    d_recurrent4 = h_prev_t @ d_pre_rows
    d_recurrent = jnp.concatenate([d_recurrent4[:, :2 * hidden], d_recurrent4[:, 3 * hidden:]], axis=1)
    d_bias4 = jnp.sum(d_pre_rows, axis=0)
    return d_inputs, d_kernel, d_bias4[:3 * hidden], d_recurrent, d_bias4[3 * hidden:]


gru_layer.defvjp(_gru_fwd, _gru_bwd)


def gru_layer_reference(inputs: jax.Array, kernel: jax.Array, bias: jax.Array, recurrent: jax.Array,
                        recurrent_bias: jax.Array, unroll: int = 1, project_in_loop: bool = True) -> jax.Array:
    """The same function, differentiated by JAX's autodiff through the loop."""
    return _forward(inputs, kernel, bias, recurrent, recurrent_bias, False, unroll, project_in_loop)
