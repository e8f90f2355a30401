"""Models against each other in the engine: ms per split of one chunk of the reference experiment.

    python benchmarks/model_speed.py --models lstm,gru,gru-autodiff --splits 8 --epochs 2 --repeat 5

Each variant compiles once, then trains the same chunk alternately with the others (so machine
noise hits every variant alike); prints min and median ms/split. `gru-autodiff` is the GRU with
JAX's autodiff through the time loop instead of the hand-written backward.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from wfbt import runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="experiments/aapl_rolling.toml")
    parser.add_argument("--models", default="lstm,gru,gru-autodiff")
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
    prices = load_prices(config.data, config.base_dirs, config.splits.train + config.splits.val)
    plan = split_plan(len(prices), config.splits)
    devices = jax.devices()
    windows = build_windows(prices.values, plan, np.arange(args.splits) % len(plan), config.model.lookback, "minmax")
    trainers = {}
    for name in args.models.split(","):
        model = build_model(dataclasses.replace(config.model, name=name.removesuffix("-autodiff")), 1,
                            unroll=_unroll(config, devices))
        if name.endswith("-autodiff"):
            model = model.clone(custom_backward=False)
        trainers[name] = Trainer(model, train_settings(config), config.train.seed, devices)
        started = time.perf_counter()
        trainers[name].train(windows)
        print(f"{name}: first call (compile + train) {time.perf_counter() - started:.1f} s", flush=True)
    times = {name: [] for name in trainers}
    for _ in range(args.repeat):
        for name, trainer in trainers.items():
            started = time.perf_counter()
            trainer.train(windows)
            times[name].append((time.perf_counter() - started) / args.splits * 1e3)
    for name, runs in times.items():
        print(f"{name}: min {min(runs):.1f}, median {statistics.median(runs):.1f} ms/split "
              f"({args.splits} splits, {args.epochs} epochs, best of {args.repeat})")


if __name__ == "__main__":
    main()
