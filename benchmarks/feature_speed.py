"""Input features against each other in the engine: ms per split of one chunk of the reference
experiment, with the target alone and with F input columns (`[[features]]`).

    python benchmarks/feature_speed.py --inputs 0,1,8,11 --splits 8 --epochs 2 --repeat 5

`0` is the target's own window (S, N, L), as without a `[[features]]` table; F >= 1 takes the first
F inputs of `experiments/aapl_features.toml` (Adj Close, Open, High, Low, log volume, relative
range, log return, RSI, MACD line, signal, histogram) as (S, N, L, F) windows, each column with its
own scaler. Each variant compiles once, then trains the same splits alternately with the others
(so machine noise hits every variant alike); prints min and median ms/split and the ratio to the
target alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

from wfbt import runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="experiments/aapl_features.toml")
    parser.add_argument("--inputs", default="0,1,8,11", help="input columns per variant; 0: the target alone")
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runtime.configure_jax(compilation_cache=False)

    import jax
    import numpy as np

    from wfbt.api import _unroll, train_settings
    from wfbt.config import load_config
    from wfbt.data import load_prices
    from wfbt.engine import Trainer
    from wfbt.features import build_windows
    from wfbt.models import build_model
    from wfbt.splits import split_plan

    config = load_config(args.config, [f"train.epochs={args.epochs}"])
    prices = load_prices(config.data, config.base_dirs, config.splits.train + config.splits.val, features=config.features)
    plan = split_plan(len(prices), config.splits)
    devices = jax.devices()
    ids = np.arange(args.splits) % len(plan)
    model = build_model(config.model, 1, unroll=_unroll(config, devices))
    variants = {}
    for count in (int(c) for c in args.inputs.split(",")):
        inputs = None if count == 0 else prices.inputs[:, :count]
        windows = build_windows(prices.values, plan, ids, config.model.lookback, config.scaling.method,
                                test_len=config.splits.step, inputs=inputs)
        trainer = Trainer(model, train_settings(config), config.train.seed, devices)
        started = time.perf_counter()
        trainer.train(windows)
        label = "target alone" if count == 0 else f"{count} input{'s' if count > 1 else ''}"
        print(f"{label}: first call (compile + train) {time.perf_counter() - started:.1f} s", flush=True)
        variants[label] = (trainer, windows)
    times = {label: [] for label in variants}
    for _ in range(args.repeat):
        for label, (trainer, windows) in variants.items():
            started = time.perf_counter()
            trainer.train(windows)
            times[label].append((time.perf_counter() - started) / args.splits * 1e3)
    base = statistics.median(next(iter(times.values())))
    for label, runs in times.items():
        median = statistics.median(runs)
        print(f"{label}: min {min(runs):.1f}, median {median:.1f} ms/split, x{median / base:.2f} "
              f"({args.splits} splits, {args.epochs} epochs, {args.repeat} rounds)")


if __name__ == "__main__":
    main()
