"""The LSTM time loop with a hand-written backward pass.

Autodiff through `lax.scan` replays each time step as many tiny XLA ops and computes the
recurrent weight gradient one small matmul per step. Here the forward saves the gate
activations, the backward walks time in reverse for the state gradients only, and the recurrent
weight gradient is ONE matmul over all time steps (see docs/performance.md for the measurements).
`lstm_sequence_reference` is the plain autodiff version the tests compare against.

Shapes (for one split; the engine vmaps over splits): gate_inputs (B, T, 4H) = x @ W + b,
recurrent (H, 4H); gates are ordered i, f, g, o; the result is every hidden state (B, T, H).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _cell(gate_pre: jax.Array, c_prev: jax.Array) -> tuple[jax.Array, ...]:
    i, f, g, o = jnp.split(gate_pre, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c = f * c_prev + i * g
    h = o * jnp.tanh(c)
    return h, c, i, f, g, o


def _forward(gate_inputs: jax.Array, recurrent: jax.Array):
    batch, hidden = gate_inputs.shape[0], recurrent.shape[0]
    zeros = jnp.zeros((batch, hidden), gate_inputs.dtype)

    def step(carry, gx_t):
        h_prev, c_prev = carry
        h, c, i, f, g, o = _cell(gx_t + h_prev @ recurrent, c_prev)
        return (h, c), (h, c, jnp.concatenate([i, f, g, o], axis=-1))

    _, (hs, cs, gates) = lax.scan(step, (zeros, zeros), jnp.swapaxes(gate_inputs, 0, 1), unroll=1)
    return hs, cs, gates  # time-major: (T, B, H), (T, B, H), (T, B, 4H)


@jax.custom_vjp
def lstm_sequence(gate_inputs: jax.Array, recurrent: jax.Array) -> jax.Array:
    hs, _, _ = _forward(gate_inputs, recurrent)
    return jnp.swapaxes(hs, 0, 1)


def _lstm_fwd(gate_inputs, recurrent):
    hs, cs, gates = _forward(gate_inputs, recurrent)
    return jnp.swapaxes(hs, 0, 1), (hs, cs, gates, recurrent)


def _lstm_bwd(residuals, d_hs):
    hs, cs, gates, recurrent = residuals
    zeros = jnp.zeros_like(hs[0])
    c_prev = jnp.concatenate([zeros[None], cs[:-1]], axis=0)
    h_prev = jnp.concatenate([zeros[None], hs[:-1]], axis=0)
    recurrent_t = recurrent.T

    def step(carry, xs):
        dh_next, dc_next = carry
        dh_out, c, cp, gate = xs
        i, f, g, o = jnp.split(gate, 4, axis=-1)
        dh = dh_out + dh_next
        tanh_c = jnp.tanh(c)
        dc = dc_next + dh * o * (1.0 - tanh_c**2)
        d_gate = jnp.concatenate(
            [dc * g * i * (1.0 - i), dc * cp * f * (1.0 - f), dc * i * (1.0 - g**2), dh * tanh_c * o * (1.0 - o)],
            axis=-1,
        )
        return (d_gate @ recurrent_t, dc * f), d_gate

    _, d_gates = lax.scan(step, (zeros, zeros), (jnp.swapaxes(d_hs, 0, 1), cs, c_prev, gates), reverse=True)
    d_recurrent = jnp.einsum("tbh,tbk->hk", h_prev, d_gates)  # one matmul over all steps
    return jnp.swapaxes(d_gates, 0, 1), d_recurrent


lstm_sequence.defvjp(_lstm_fwd, _lstm_bwd)


def lstm_sequence_reference(gate_inputs: jax.Array, recurrent: jax.Array) -> jax.Array:
    """The same function, differentiated by JAX's autodiff (for tests and benchmarks)."""
    hs, _, _ = _forward(gate_inputs, recurrent)
    return jnp.swapaxes(hs, 0, 1)
