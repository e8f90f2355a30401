"""The LSTM layer with a hand-written backward pass.

Autodiff through `lax.scan` replays each time step as many tiny XLA ops and computes the
recurrent weight gradient one small matmul per step. Here the forward saves the local
derivatives, the backward walks time in reverse for the state gradients only, and the input and
recurrent weight gradients are each ONE matmul over all time steps (see docs/performance-log.md for the
measurements). `lstm_layer_reference` is the plain autodiff version the tests compare against.

Shapes (for one split; the engine vmaps over splits) are time-major, so no (B, T) <-> (T, B)
transpose is needed between layers or in the backward: inputs (T, B, F), kernel (F, 4H),
bias (4H), recurrent (H, 4H); gates are ordered i, f, g, o; the result is every hidden state (T, B, H).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax


def _forward(inputs: jax.Array, kernel: jax.Array, bias: jax.Array, recurrent: jax.Array, keep_derivatives: bool,
             unroll: int = 1, project_in_loop: bool = True):
    """Run the recurrence over time-major inputs (T, B, F); optionally keep, per step, the local
    derivatives the backward needs.

    `project_in_loop`: each step computes its gates as ONE matmul [x_t, h_{t-1}] · [kernel;
    recurrent] (best on CPU: ~12 % faster per split than a separate input-projection matmul over
    all steps, whose K = F shape runs at half the speed); otherwise the input projection x · kernel is one
    matmul before the loop and each step adds h_{t-1} · recurrent (what the accelerator path was
    measured with).

    Keeping `(g·i(1-i), c_prev·f(1-f), i(1-g²), o(1-tanh²c), tanh c·o(1-o), f)` instead of the raw
    gates makes the backward step a few multiplies: no transcendental is recomputed there. They are
    six separate (T, B, H) outputs: concatenating them per step and splitting them again in the
    backward cost ~10 % more (extra copies and strided slices on XLA:CPU).
    """
    batch, hidden = inputs.shape[1], recurrent.shape[0]
    zeros = jnp.zeros((batch, hidden), inputs.dtype)
    half = jnp.full((hidden,), 0.5, inputs.dtype)
    gate_scale = jnp.concatenate([half, half, 2 * half, half])  # 1/2 on sigmoid gates, 1 on g
    gate_shift = jnp.concatenate([half, half, 0 * half, half])
    if project_in_loop:
        weights = jnp.concatenate([kernel, recurrent])
        pre_activation = lambda x_t, h_prev: jnp.concatenate([x_t, h_prev], axis=-1) @ weights + bias  # noqa: E731
        xs = inputs
    else:
        pre_activation = lambda gx_t, h_prev: gx_t + h_prev @ recurrent  # noqa: E731
        xs = inputs @ kernel + bias  # one matmul for every time step and gate

    def step(carry, x_t):
        h_prev, c_prev = carry
        # one tanh for all four gates: sigmoid(z) = (1 + tanh(z / 2)) / 2 on i, f, o
        t = jnp.tanh(pre_activation(x_t, h_prev) * gate_scale)
        i, f, g, o = jnp.split(t * gate_scale + gate_shift, 4, axis=-1)
        c = f * c_prev + i * g
        tanh_c = jnp.tanh(c)
        h = o * tanh_c
        if not keep_derivatives:
            return (h, c), h
        local = (g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), o * (1 - tanh_c * tanh_c),
                 tanh_c * o * (1 - o), f)
        return (h, c), (h, local)

    _, out = time_loop(step, (zeros, zeros), xs, unroll=unroll)
    return out  # hs (T, B, H) [, six local derivatives (T, B, H)]


def time_loop(step, carry, xs, reverse: bool = False, unroll: int = 1):
    """`lax.scan(step, carry, xs, reverse=reverse)`, with each step's outputs written into buffers
    the loop carries: the same values in another layout. Under `vmap` a scan's stacked outputs are
    (T, S, ...), so the weight-gradient matmuls (batched over splits S, contracting time and
    batch) first transpose them; carried buffers are batched on axis 0, (S, T, ...), and need not.
    """
    length = jax.tree.leaves(xs)[0].shape[0]
    out_shapes = jax.eval_shape(step, carry, jax.tree.map(lambda x: x[0], xs))[1]
    outs = jax.tree.map(lambda o: jnp.zeros((length, *o.shape), o.dtype), out_shapes)

    def body(i, state):
        carry, outs = state
        t = length - 1 - i if reverse else i
        carry, y = step(carry, jax.tree.map(lambda x: lax.dynamic_index_in_dim(x, t, keepdims=False), xs))
        return carry, jax.tree.map(lambda o, v: lax.dynamic_update_index_in_dim(o, v, t, 0), outs, y)

    return lax.fori_loop(0, length, body, (carry, outs), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def lstm_layer(inputs: jax.Array, kernel: jax.Array, bias: jax.Array, recurrent: jax.Array,
               unroll: int = 1, project_in_loop: bool = True) -> jax.Array:
    """Every hidden state (T, B, H) of inputs (T, B, F); `unroll` time steps per loop iteration
    (1 on CPU, T on GPU); `project_in_loop` as in `_forward` (True on CPU)."""
    return _forward(inputs, kernel, bias, recurrent, False, unroll, project_in_loop)


def _lstm_fwd(inputs, kernel, bias, recurrent, unroll, project_in_loop):
    hs, local = _forward(inputs, kernel, bias, recurrent, True, unroll, project_in_loop)
    return hs, (inputs, hs, local, kernel, recurrent)


def _lstm_bwd(unroll, project_in_loop, residuals, d_hs):
    inputs, hs, local, kernel, recurrent = residuals
    zeros = jnp.zeros_like(hs[0])
    features = inputs.shape[-1]
    # the gradient w.r.t. [x_t, h_{t-1}] in one matmul per step, or only w.r.t. h_{t-1}
    back_weights = jnp.concatenate([kernel, recurrent]).T if project_in_loop else recurrent.T

    def step(carry, xs):
        dh_next, dc_next = carry
        dh_out, (di, df, dg, dc_from_h, do, forget) = xs
        dh = dh_out + dh_next
        dc = dc_next + dh * dc_from_h
        d_gate = jnp.concatenate([dc * di, dc * df, dc * dg, dh * do], axis=-1)
        d_in = d_gate @ back_weights
        if project_in_loop:
            return (d_in[:, features:], dc * forget), (d_gate, d_in[:, :features])
        return (d_in, dc * forget), d_gate

    _, out = time_loop(step, (zeros, zeros), (d_hs, local), reverse=True, unroll=unroll)
    d_gates, d_inputs = out if project_in_loop else (out, out @ kernel.T)
    # each weight gradient is one matmul over all steps (x_tᵀ · d_gates_t, h_{t-1}ᵀ · d_gates_t)
    h_prev = jnp.concatenate([zeros[None], hs[:-1]])  # not d_gates[1:]: one layout of d_gates serves both
    rows = hs.shape[0] * hs.shape[1]
    d_gates_rows = d_gates.reshape(rows, -1)
    # the small operands transposed into (features, rows) behind a barrier, so XLA neither folds
    # the transpose into the dot nor transposes the four times larger d_gates instead
    h_prev_t, inputs_t = lax.optimization_barrier((h_prev.reshape(rows, -1).T, inputs.reshape(rows, -1).T))
    d_recurrent = h_prev_t @ d_gates_rows
    d_kernel = inputs_t @ d_gates_rows
    return d_inputs, d_kernel, jnp.sum(d_gates_rows, axis=0), d_recurrent


lstm_layer.defvjp(_lstm_fwd, _lstm_bwd)


def lstm_layer_reference(inputs: jax.Array, kernel: jax.Array, bias: jax.Array, recurrent: jax.Array,
                         project_in_loop: bool = True) -> jax.Array:
    """The same function, differentiated by JAX's autodiff (for tests and benchmarks)."""
    return _forward(inputs, kernel, bias, recurrent, False, 1, project_in_loop)
