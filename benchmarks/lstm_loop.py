"""What one LSTM time step costs on CPU, piece by piece: a microbenchmark steady enough to compare
code variants (±1 %, where whole training runs on these machines vary by ±5 %).

    taskset -c 1 python benchmarks/lstm_loop.py            # pinned to one core: steadiest
    python benchmarks/lstm_loop.py --splits 4 --reps 300

One host device, the engine's per-core shapes (4 splits, batch 10, lookback 20, 50 units), each
program compiled as the engine compiles it (LLVM -O2) and timed `--reps` times; the fastest run
is reported, per loop iteration where it is a loop. From the bare loop up to the model's
two-layer forward and backward, each row adds one piece, so the differences are what each
piece costs (docs/performance-log.md, "What bounds the speed on CPU").
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=4, help="splits vmapped on the one device (the engine: 4 per core)")
    parser.add_argument("--reps", type=int, default=300)
    args = parser.parse_args()

    from wfbt import runtime

    runtime.configure_jax(cpu_devices=1, compilation_cache=False)
    import jax
    import jax.numpy as jnp
    from jax import lax

    from wfbt.lstm import _forward, lstm_layer

    S, T, B, H = args.splits, 20, 10, 50
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    x1 = jax.random.normal(keys[0], (S, T, B, 1))  # layer 1's input: one feature
    xh = jax.random.normal(keys[1], (S, T, B, H))  # layer 2's input
    k1 = 0.1 * jax.random.normal(keys[2], (S, 1, 4 * H))
    k2 = 0.1 * jax.random.normal(keys[3], (S, H, 4 * H))
    rec = 0.1 * jax.random.normal(keys[4], (S, H, 4 * H))
    bias = jnp.zeros((S, 4 * H))
    mask = (jax.random.uniform(keys[5], (S, T, B, H)) > 0.3) / 0.7
    w = jnp.concatenate([k2, rec], axis=1)  # (S, 2H, 4H)
    carry = jnp.zeros((B, 4 * H))

    def timed(name: str, fn, *inputs, per_iteration: bool = True) -> None:
        compiled = jax.jit(jax.vmap(fn)).lower(*inputs).compile(
            compiler_options={"xla_backend_optimization_level": 2})
        jax.block_until_ready(compiled(*inputs))
        best = float("inf")
        for _ in range(args.reps):
            started = time.perf_counter()
            jax.block_until_ready(compiled(*inputs))
            best = min(best, time.perf_counter() - started)
        unit = f"{best * 1e6 / T:8.2f} us per iteration" if per_iteration else f"{best * 1e6:8.1f} us"
        print(f"{name:72s} {unit}", flush=True)

    def loop(body):
        return lambda *a: lax.fori_loop(0, T, lambda i, c: body(i, c, *a), carry)

    print(f"{S} splits on one device, batch {B}, {T} time steps, {H} units; fastest of {args.reps}")
    timed("empty loop", loop(lambda i, c, x, w: c + 1.0), xh, w)
    timed("gate matmul [x_t, h] (B, 2H) . (2H, 4H)", loop(
        lambda i, c, x, w: jnp.concatenate([x[i], c[:, :H]], -1) @ w), xh, w)
    timed("  + one tanh over the four gates", loop(
        lambda i, c, x, w: jnp.tanh(jnp.concatenate([x[i], c[:, :H]], -1) @ w)), xh, w)
    timed("layer 2 forward (+ bias, cell, tanh c, h)", lambda x, k, b, r: _forward(x, k, b, r, False), xh, k2, bias, rec)
    timed("  + writing h and the six derivatives per step", lambda x, k, b, r: _forward(x, k, b, r, True),
          xh, k2, bias, rec)

    def two_layers(x, k1, b, r, k2, mask):
        def loss(k1, b, r, k2):
            return jnp.sum(lstm_layer(lstm_layer(x, k1, b, r) * mask, k2, b, r)[-1] ** 2)
        return jax.grad(loss, argnums=(0, 1, 2, 3))(k1, b, r, k2)

    timed("the model's two layers: forward, backward and weight gradients (one step)", two_layers,
          x1, k1, bias, rec, k2, mask, per_iteration=False)


if __name__ == "__main__":
    main()
