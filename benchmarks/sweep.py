"""Time `wfbt sweep` (trials batched into one program) against one `wfbt run` per trial.

    python benchmarks/sweep.py                      # 4 learning rates x 4 seeds on 256 splits
    python benchmarks/sweep.py --splits 32 --rates 2 --seeds 2    # a quick check

Both paths train the same trials on the first N splits of the reference experiment
(experiments/aapl_rolling.toml; next-point forecast off): the sweep in one process (`wfbt sweep`
on a generated config with a [sweep] table), the sequential path as one fresh `wfbt run` process
per trial's config.toml, as a user would run them. A warm-up run first fills the JAX compilation
cache, so neither path pays a cold compile the other does not. Each path is timed by wall clock,
everything included; the script checks that every trial's splits.csv is byte-identical between
the two paths, and prints splits per second and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "aapl_rolling.toml"
RATES = (0.0005, 0.001, 0.002, 0.004)


def wfbt(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "wfbt.cli", *args], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=256)
    parser.add_argument("--rates", type=int, default=4, help="learning rates (at most 4)")
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    rates, seeds = list(RATES[: args.rates]), list(range(args.seeds))
    trials = len(rates) * len(seeds)
    work = Path(tempfile.mkdtemp(prefix="wfbt-sweep-bench-"))
    config = work / "sweep.toml"
    config.write_text(CONFIG.read_text().replace('dir = "runs/aapl_rolling"', f'dir = "{work / "sweep"}"')
                      + f"\n[sweep]\ntrain.learning_rate = {rates}\ntrain.seed = {seeds}\n")
    common = ["--max-splits", str(args.splits), "--set", "evaluation.next_forecast=false"]
    wfbt("run", str(config), "--out", str(work / "warmup"), "--quiet", "--max-splits", "8",
         "--set", "evaluation.next_forecast=false")

    started = time.perf_counter()
    wfbt("sweep", str(config), "--out", str(work / "sweep"), "--quiet", *common)
    batched = time.perf_counter() - started

    started = time.perf_counter()
    for trial in sorted((work / "sweep" / "trials").iterdir()):
        wfbt("run", str(trial / "config.toml"), "--out", str(work / "alone" / trial.name), "--quiet")
    sequential = time.perf_counter() - started

    same = all((trial / "splits.csv").read_bytes() == (work / "alone" / trial.name / "splits.csv").read_bytes()
               for trial in (work / "sweep" / "trials").iterdir())
    total = trials * args.splits
    print(f"{trials} trials ({len(rates)} learning rates x {len(seeds)} seeds) x {args.splits} splits = {total:,} trainings")
    print(f"sweep (one process, one program):  {batched:8.1f} s  {total / batched:7.1f} splits/s")
    print(f"{trials} sequential wfbt runs:          {sequential:8.1f} s  {total / sequential:7.1f} splits/s")
    print(f"sweep vs sequential: {sequential / batched:.2f}x; every trial's splits.csv identical: {same}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
