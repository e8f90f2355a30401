"""Where does the time go? Trace one chunk of the reference experiment and rank the XLA ops.

    python benchmarks/profile_chunk.py --splits 8 --epochs 2           # CPU (2 host devices)
    python benchmarks/profile_chunk.py --splits 1024 --unroll 20       # GPU
    python benchmarks/profile_chunk.py --compare-chunks 8,16 --repeat 5   # chunk sizes, one process
    python benchmarks/profile_chunk.py --epochs 10 --repeat 12 \
        --compare-options '{}' '{"xla_cpu_scheduler_type": 1}'           # XLA options, one process

Trains one chunk once to compile, then again under `jax.profiler.trace`, and prints the ops
(XLA thunks on CPU, kernels on GPU) that took the most time, with their call counts.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import tempfile
import time

from wfbt import runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="experiments/aapl_rolling.toml")
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. data.start=2000-03-01")
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--unroll", type=int, default=0, help="0: the engine's default for the device")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=1, help="time the trained chunk N times, report the fastest")
    parser.add_argument("--compare-chunks", default="", metavar="A,B,...",
                        help="time these chunk sizes against each other (alternating, best of --repeat) and stop")
    parser.add_argument("--compare-options", nargs="+", default=[], metavar="JSON",
                        help="XLA compile options of the training program (JSON objects, '{}' for the defaults): "
                             "compile one program per object, time them alternately --repeat times, and stop")
    args = parser.parse_args()
    runtime.configure_jax(compilation_cache=False)

    import jax
    import numpy as np

    from wfbt.api import _unroll
    from wfbt.config import load_config
    from wfbt.data import load_prices
    from wfbt.engine import Trainer, TrainSettings
    from wfbt.features import build_windows
    from wfbt.models import build_model
    from wfbt.splits import split_plan

    config = load_config(args.config, [*args.set, f"train.epochs={args.epochs}", f"engine.unroll={args.unroll}"])
    prices = load_prices(config.data, config.base_dirs, config.splits.train + config.splits.val)
    plan = split_plan(len(prices), config.splits)
    devices = jax.devices()
    unroll = _unroll(config, devices)
    settings = TrainSettings(args.epochs, config.train.batch_size, config.train.learning_rate,
                             config.train.patience, config.train.loss)
    # one call of exactly --splits splits (the engine's calls on CPU are 4 per device)
    trainer = Trainer(build_model(config.model, 1, unroll=unroll), settings, config.train.seed, devices,
                      splits_per_device=max(1, args.splits // len(devices)))
    if args.compare_options:
        windows = build_windows(prices.values, plan, np.arange(args.splits) % len(plan), config.model.lookback, "minmax")
        model = build_model(config.model, 1, unroll=unroll)
        try:  # numbered, so the same options may be given twice (a control: the spread of noise)
            variants = {f"{i}: {text}": json.loads(text) for i, text in enumerate(args.compare_options, 1)}
        except json.JSONDecodeError as exc:
            parser.error(f"--compare-options: not JSON: {exc}")
        _compare_options({name: Trainer(model, settings, config.train.seed, devices, options,
                                        splits_per_device=max(1, args.splits // len(devices)))
                          for name, options in variants.items()}, windows, args.repeat)
        return
    if args.compare_chunks:
        sizes = [int(n) for n in args.compare_chunks.split(",")]
        if any(n < 1 or n % len(devices) for n in sizes):
            parser.error(f"--compare-chunks: every size must be a positive multiple of the {len(devices)} devices")
        trainers = {n: Trainer(trainer.model, settings, config.train.seed, devices, splits_per_device=n // len(devices))
                    for n in sizes}  # a chunk of n is one call of n / devices splits per device
        _compare_chunks(trainers, prices, plan, config, sizes, args.repeat)
        return
    windows = build_windows(prices.values, plan, np.arange(args.splits) % len(plan), config.model.lookback, "minmax")
    started = time.perf_counter()
    trainer.train(windows)
    compile_seconds = time.perf_counter() - started
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        trainer.train(windows)
        runs.append(time.perf_counter() - started)
    run_seconds = min(runs)
    if args.top == 0:
        print(f"{run_seconds / args.splits * 1e3:.2f} ms/split (best of {args.repeat})")
        return
    folder = tempfile.mkdtemp(prefix="wfbt-trace-")
    with jax.profiler.trace(folder):
        trainer.train(windows)
    events = json.load(gzip.open(sorted(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True))[-1]))["traceEvents"]
    total, count = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("ph") == "X" and not event["name"].startswith(("$", "end:")):
            total[event["name"]] += event["dur"]
            count[event["name"]] += 1
    steps = args.epochs * -(-(config.splits.train - config.model.lookback) // config.train.batch_size)
    print(f"device {devices[0].device_kind} x{len(devices)}, unroll {unroll}, {args.splits} splits, {steps} steps: "
          f"first call {compile_seconds:.2f} s, then {run_seconds:.3f} s = {run_seconds / args.splits * 1e3:.2f} ms/split "
          f"({run_seconds / args.splits / steps * 1e6:.1f} us per split-step)")
    for name, micros in total.most_common(args.top):
        print(f"{micros / 1e3:10.2f} ms {count[name]:8d} calls {micros / count[name]:9.1f} us  {name[:90]}")


def _compare_options(trainers: dict, windows, repeat: int) -> None:
    """ms per split of the same chunk under each set of XLA options, timed alternately in one
    process, so machine noise hits every variant alike; the ratios are to the first variant."""
    import statistics

    for trainer in trainers.values():  # compile each first
        trainer.train(windows)
    times = {name: [] for name in trainers}
    for _ in range(repeat):
        for name, trainer in trainers.items():
            started = time.perf_counter()
            trainer.train(windows)
            times[name].append((time.perf_counter() - started) / len(windows.split) * 1e3)
    first = next(iter(times))
    for name, runs in times.items():
        ratios = [run / base for run, base in zip(runs, times[first])]
        print(f"{name}: min {min(runs):.2f}, median {statistics.median(runs):.2f} ms/split; "
              f"median ratio to the first {statistics.median(ratios):.3f}, faster in {sum(r < 1 for r in ratios)}/{repeat}")


def _compare_chunks(trainers: dict, prices, plan, config, sizes: list[int], repeat: int) -> None:
    """ms per split for each chunk size, timed alternately in one process over the same splits
    (a multiple of every size), so machine noise hits every size alike."""
    import numpy as np

    from wfbt.features import build_windows

    total = int(np.lcm.reduce(sizes))
    chunks = {n: [build_windows(prices.values, plan, np.arange(first, first + n) % len(plan), config.model.lookback,
                                "minmax") for first in range(0, total, n)] for n in sizes}
    for n in sizes:  # compile each shape first
        trainers[n].train(chunks[n][0])
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(repeat):
        for n in sizes:
            started = time.perf_counter()
            for windows in chunks[n]:
                trainers[n].train(windows)
            best[n] = min(best[n], (time.perf_counter() - started) / total * 1e3)
    print(f"{total} splits, {config.train.epochs} epochs, best of {repeat}: "
          + ", ".join(f"chunk {n}: {best[n]:.2f} ms/split" for n in sizes))


if __name__ == "__main__":
    main()
