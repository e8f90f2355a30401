"""Rolling vs expanding windows: does the cost follow the real number of training samples?

    python benchmarks/expanding.py                      # 32 splits each, step 20, on this machine
    python benchmarks/expanding.py --splits 512 --step 5 --set data.start=2000-03-01

Runs the same experiment twice (rolling, expanding), each in-process after a warm-up compile,
and reports ms per 1,000 training sample-epochs (samples seen in all epochs actually run), which
is flat when padding costs nothing. Appends the table to docs/performance-log.md unless --no-append.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import tempfile
from pathlib import Path

from wfbt import runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="experiments/aapl_rolling.toml")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--splits", type=int, default=32)
    parser.add_argument("--step", type=int, default=20)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    runtime.configure_jax()

    import jax
    import polars as pl

    from wfbt.api import run_experiment
    from wfbt.config import load_config

    rows = []
    for mode in ("rolling", "expanding"):
        overrides = [*args.set, f"splits.mode='{mode}'", f"splits.step={args.step}", f"splits.max_splits={args.splits}",
                     "evaluation.next_forecast=false"]
        config = load_config(args.config, overrides)
        with tempfile.TemporaryDirectory() as warm, tempfile.TemporaryDirectory() as out:
            run_experiment(load_config(args.config, [*overrides, "splits.max_splits=1"]), out_dir=warm)  # compile
            results = run_experiment(config, out_dir=out)
        seconds = results.summary["seconds"]["training"] - results.summary["seconds"]["compile"]
        samples = (results.plan.train_len - config.model.lookback)
        sample_epochs = float((samples * results.splits["epochs_run"].to_numpy()).sum())
        rows.append({
            "mode": mode, "splits": len(results.plan),
            "mean train window": float(results.plan.train_len.mean()),
            "training s": seconds, "ms/split": 1e3 * seconds / len(results.plan),
            "ms per 1k sample-epochs": 1e6 * seconds / sample_epochs,
        })
    table = pl.DataFrame(rows)
    print(table)
    if args.no_append:
        return
    device = jax.devices()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [f"\n### {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · expanding.py · {args.splits} splits, step {args.step}\n",
             f"- command: `python benchmarks/expanding.py {' '.join(f'--set {s}' for s in args.set)} "
             f"--splits {args.splits} --step {args.step}`".replace("  ", " "),
             f"- machine: {platform.processor() or platform.machine()}, device {device.device_kind} x{len(jax.devices())}, "
             f"code {commit}\n",
             "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.iter_rows():
        lines.append("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |")
    with Path("docs/performance-log.md").open("a") as doc:
        doc.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
