"""Time the wfbt engine against plain per-split training loops, on the same walk-forward splits.

    python benchmarks/walk_forward.py                  # 256 engine splits, loops on 32 of them
    python benchmarks/walk_forward.py --splits 32 --loop-splits 4 --no-append   # a quick check
    python benchmarks/walk_forward.py --memory         # also: peak RSS for 300 vs 3,000 splits

Every path runs in its own fresh Python process, so each figure includes interpreter start-up,
imports, data loading, window building, compilation and training, and its peak RSS is its own:

- engine: `wfbt.api.run_experiment` on the first N splits of the reference experiment
  (experiments/aapl_rolling.toml), as the CLI runs it (`runtime.configure_jax()` first), with a
  fresh, empty JAX compilation cache (cold), then again with the cache it filled (warm). It
  trains the same splits as the loops and nothing more: the next-point forecast (ten more
  models, trained after the walk-forward) is off unless `--with-next-forecast`; baselines,
  metrics, Diebold-Mariano tests, the strategy's P&L and every file of the run stay in;
- jax loop: the same Flax model and jitted Adam step (`wfbt.engine.make_loss_and_step`) trained one
  split at a time by a plain Python loop over epochs and minibatches, early stopping in Python;
- torch loop: the same architecture and hyper-parameters in PyTorch (CPU, 2 threads), the same
  windows (`wfbt.features.build_windows`), one split at a time.

The loops are slow, so by default they train K (`--loop-splits`) splits spread evenly over the
same N and their N-split figure is extrapolated: start-up + compile (their wall time minus K
steady splits) + N x the mean time of a split after the first. Steady state for the engine is
(training - first chunk) / (N - chunk size). Ratios compare totals for N splits (everything
included) and steady-state ms/split. PyTorch's speed drifts from run to run on shared machines,
so its loop runs `--torch-runs` times (default 2: first and last) and each ratio is taken against
its fastest run in that figure (total, steady), the ratio least flattering to wfbt. Results are
appended to docs/performance-log.md under "## Measurements" unless `--no-append`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "aapl_rolling.toml"
PERFORMANCE_DOC = ROOT / "docs" / "performance-log.md"
MEMORY_START = "2000-03-01"  # 3,270 AAPL rows -> 3,061 splits at step 1
MEMORY_SPLITS = (300, 3000)
MEMORY_TARGET = 1.3
CONTENDED = 0.2  # cores busy with other work during a measurement: above this, timings are flagged
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy", "torch")


# ================================================================ workers (one per process)


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load_plan(spec: dict):
    """Prices and split plan of the experiment, as the engine sees them."""
    from wfbt.config import load_config
    from wfbt.data import load_prices
    from wfbt.splits import split_plan

    config = load_config(spec["config"], spec["overrides"] + [f"splits.max_splits={spec['n']}"])
    s = config.splits
    prices = load_prices(config.data, config.base_dirs, s.train + s.gap + s.val)
    return config, prices, split_plan(len(prices), s)


def worker_engine(spec: dict) -> dict:
    started = time.perf_counter()
    from wfbt import runtime

    runtime.configure_jax()
    from wfbt import api
    from wfbt.config import load_config

    extra = [] if spec.get("next_forecast") else ["evaluation.next_forecast=false"]  # only the loops' splits
    config = load_config(spec["config"], spec["overrides"] + [f"splits.max_splits={spec['n']}", *extra])
    imported = time.perf_counter() - started
    call_started = time.perf_counter()
    results = api.run_experiment(config, out_dir=spec["out"])
    call = time.perf_counter() - call_started
    summary = results.summary
    frame = results.splits
    wanted = set(spec["shared"])
    val_mse = {int(s): float(v) for s, v in zip(frame["split"].to_list(), frame["val_mse"].to_list())
               if int(s) in wanted}
    epochs = {int(s): int(v) for s, v in zip(frame["split"].to_list(), frame["epochs_run"].to_list())
              if int(s) in wanted}
    return {
        "n": int(summary["splits"]["trained_now"]),
        "seconds": summary["seconds"],
        "chunk_size": int(summary["chunk_size"]),
        "failed": int(summary["splits"]["failed"]),
        "device": "{} x{} ({})".format(*(summary.get("device", {}).get(k, "?")
                                          for k in ("platform", "count", "kind"))),
        "val_mse": val_mse,
        "val_mse_all_median": float(frame["val_mse"].median()),
        "epochs_run": epochs,
        "imports_s": imported,
        "run_experiment_s": call,
        "in_process_s": time.perf_counter() - started,
        "peak_rss_mb": _peak_rss_mb(),
        "cpu_s": _cpu_seconds(),
    }


def worker_jax_loop(spec: dict) -> dict:
    """The reference model trained one split at a time, as a user would write it with JAX."""
    started = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import numpy as np

    from wfbt.engine import TrainSettings, make_loss_and_step
    from wfbt.features import build_windows
    from wfbt.models import build_model

    config, prices, plan = _load_plan(spec)
    t = config.train
    model = build_model(config.model, n_outputs=1)  # orthogonal recurrent init: fine un-vmapped
    tx, loss_fn, train_step = make_loss_and_step(
        model, TrainSettings(t.epochs, t.batch_size, t.learning_rate, t.patience, "mse"))
    train_step = jax.jit(train_step)  # compiled once, reused by every split (same shapes)
    init = jax.jit(lambda key, x: model.init({"params": key}, x, deterministic=True)["params"])
    no_dropout = jax.random.PRNGKey(0)
    val_loss = jax.jit(lambda p, x, y: loss_fn(p, x, y, jnp.ones(y.shape, jnp.float32), no_dropout, True))
    batch = t.batch_size

    ready = time.perf_counter() - started
    per_split, val_mse, epochs_run = [], {}, {}
    for s in spec["shared"]:
        t0 = time.perf_counter()
        w = build_windows(prices.values, plan, np.array([s]), config.model.lookback, config.scaling.method)
        n = int(w.n_train[0])
        x, y, x_val, y_val = w.x_train[0, :n], w.y_train[0, :n], w.x_val[0], w.y_val[0]
        key = jax.random.fold_in(jax.random.PRNGKey(t.seed), s)
        params = init(jax.random.fold_in(key, 0), x[:1])
        opt_state = tx.init(params)
        step_key = jax.random.fold_in(key, 1)
        rng = np.random.default_rng([t.seed, s])
        best_params, best_loss, wait, step, epoch = params, np.inf, 0, 0, 0
        for epoch in range(1, t.epochs + 1):
            order = rng.permutation(n)
            for first in range(0, n, batch):
                idx = order[first : first + batch]
                weight = np.ones(batch, np.float32)
                if len(idx) < batch:  # pad the last minibatch (weight 0) to keep one compiled shape
                    weight[len(idx):] = 0.0
                    idx = np.concatenate([idx, np.full(batch - len(idx), idx[0])])
                params, opt_state, _ = train_step(params, opt_state, x[idx], y[idx], weight,
                                                  jax.random.fold_in(step_key, step))
                step += 1
            loss = float(val_loss(params, x_val, y_val))
            if loss < best_loss:
                best_params, best_loss, wait = params, loss, 0
            else:
                wait += 1
                if t.patience and wait >= t.patience:
                    break
        params = best_params if t.patience else params
        val_mse[s] = float(val_loss(params, x_val, y_val))
        epochs_run[s] = epoch
        per_split.append(time.perf_counter() - t0)
    return _loop_result(started, ready, per_split, val_mse, epochs_run,
                        f"{jax.devices()[0].platform} x1 ({jax.devices()[0].device_kind})")


def _loop_result(started: float, ready: float, per_split: list, val_mse: dict, epochs_run: dict,
                 device: str) -> dict:
    """What a plain per-split loop worker reports back (JAX or PyTorch alike)."""
    return {
        "ready_s": ready, "per_split_s": per_split, "val_mse": val_mse, "epochs_run": epochs_run,
        "in_process_s": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb(), "cpu_s": _cpu_seconds(),
        "device": device,
    }


def worker_torch_loop(spec: dict) -> dict:
    """The same network and training in PyTorch, one split at a time, on the same windows."""
    started = time.perf_counter()
    import numpy as np
    import torch
    from torch import nn

    from wfbt.features import build_windows

    torch.set_num_threads(2)
    config, prices, plan = _load_plan(spec)
    t, m = config.train, config.model
    rates = tuple(m.dropout) + (0.0,) * 2

    class Forecaster(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm1 = nn.LSTM(1, m.hidden_size, batch_first=True)
            self.drop1 = nn.Dropout(rates[0])
            self.lstm2 = nn.LSTM(m.hidden_size, m.hidden_size, batch_first=True)
            self.drop2 = nn.Dropout(rates[1])
            self.dense = nn.Linear(m.hidden_size, m.dense_size)
            self.out = nn.Linear(m.dense_size, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, L)
            h, _ = self.lstm1(x.unsqueeze(-1))
            h, _ = self.lstm2(self.drop1(h))
            return self.out(self.dense(self.drop2(h[:, -1]))).squeeze(-1)

    mse = nn.MSELoss()
    ready = time.perf_counter() - started
    per_split, val_mse, epochs_run = [], {}, {}
    for s in spec["shared"]:
        t0 = time.perf_counter()
        w = build_windows(prices.values, plan, np.array([s]), m.lookback, config.scaling.method)
        n = int(w.n_train[0])
        x, y = torch.from_numpy(w.x_train[0, :n]), torch.from_numpy(w.y_train[0, :n])
        x_val, y_val = torch.from_numpy(w.x_val[0]), torch.from_numpy(w.y_val[0])
        torch.manual_seed(t.seed * 1_000_003 + s)
        net = Forecaster()
        opt = torch.optim.Adam(net.parameters(), lr=t.learning_rate, eps=1e-7)
        best_state, best_loss, wait, epoch = None, float("inf"), 0, 0
        for epoch in range(1, t.epochs + 1):
            net.train()
            order = torch.randperm(n)
            for first in range(0, n, t.batch_size):
                idx = order[first : first + t.batch_size]
                opt.zero_grad()
                loss = mse(net(x[idx]), y[idx])
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                loss = mse(net(x_val), y_val).item()
            if loss < best_loss:
                best_loss, wait = loss, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                wait += 1
                if t.patience and wait >= t.patience:
                    break
        if t.patience and best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        with torch.no_grad():
            val_mse[s] = mse(net(x_val), y_val).item()
        epochs_run[s] = epoch
        per_split.append(time.perf_counter() - t0)
    return _loop_result(started, ready, per_split, val_mse, epochs_run, f"cpu ({torch.get_num_threads()} threads)")


WORKERS = {"engine": worker_engine, "jax_loop": worker_jax_loop, "torch_loop": worker_torch_loop}


# ================================================================ orchestration


def _busy_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine has used (user, system, irq, steal), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # all but idle and iowait (guest is inside user)
    return busy / os.sysconf("SC_CLK_TCK")


def wait_for_idle(limit_s: float, console) -> float | None:
    """Wait (at most `limit_s`) until other work uses under CONTENDED cores for 3 s; that load, or None."""
    deadline = time.perf_counter() + limit_s
    said = False
    while True:
        before, own_before, t0 = _busy_cpu_seconds(), _children_cpu_seconds(), time.perf_counter()
        if before is None:
            return None
        time.sleep(3.0)
        load = (_busy_cpu_seconds() - before - (_children_cpu_seconds() - own_before)) / (time.perf_counter() - t0)
        if load < CONTENDED or time.perf_counter() > deadline:
            if load >= CONTENDED:
                console.print(f"  [yellow]machine still busy ({load:.2f} cores of other work); "
                              "measuring anyway[/]")
            return load
        if not said:
            console.print(f"  waiting up to {limit_s:.0f} s for the machine to go idle "
                          f"({load:.2f} cores busy with other work) …", highlight=False)
            said = True


def _children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_worker(kind: str, spec: dict, env: dict | None = None) -> dict:
    """Run one measurement in a fresh interpreter; wall time includes start-up and imports.

    Also measures how busy the machine was with OTHER work meanwhile (machine-wide CPU time from
    /proc/stat minus the worker's own), in cores: on 2 cores anything above ~0.2 skews timings.
    """
    with tempfile.TemporaryDirectory(prefix="wfbt-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        spec = {**spec, "out": str(Path(tmp) / "run")}
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind,
                   "--spec", json.dumps(spec), "--result", str(result_path)]
        load = os.getloadavg()[0]
        busy_before, own_before = _busy_cpu_seconds(), _children_cpu_seconds()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        busy_after, own = _busy_cpu_seconds(), _children_cpu_seconds() - own_before
        if done.returncode != 0 or not result_path.is_file():
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
            raise RuntimeError(f"the {kind} measurement failed (exit code {done.returncode})")
        result = json.loads(result_path.read_text())
    other = None
    if busy_before is not None and busy_after is not None:
        other = max(0.0, (busy_after - busy_before - own) / wall)
    result.update(kind=kind, wall_s=wall, load_before=load, other_cores=other)
    for key in ("val_mse", "epochs_run"):
        result[key] = {int(k): v for k, v in result.get(key, {}).items()}
    return result


def _cores(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f} cores"


def engine_row(name: str, r: dict) -> dict:
    n, chunk, sec = r["n"], r["chunk_size"], r["seconds"]
    if n > chunk:
        steady = (sec["training"] - sec["first_chunk"]) / (n - chunk)
    else:  # one chunk: no steady state to separate from compilation
        steady = sec["training"] / n
    return {"path": name, "measured": n, "n": n, "total": r["wall_s"], "extrapolated": False,
            "startup": r["wall_s"] - steady * n, "steady": steady, "rss": r["peak_rss_mb"],
            "device": r["device"], "cpu_s": r["cpu_s"], "load": r["load_before"], "other": r["other_cores"]}


def loop_row(name: str, r: dict, n: int) -> dict:
    times = r["per_split_s"]
    k = len(times)
    steady = sum(times[1:]) / (k - 1) if k > 1 else times[0]  # the first split pays compilation
    startup = r["wall_s"] - steady * k
    return {"path": name, "measured": k, "n": n, "total": startup + steady * n, "extrapolated": k < n,
            "startup": startup, "steady": steady, "rss": r["peak_rss_mb"], "device": r["device"],
            "cpu_s": r["cpu_s"], "load": r["load_before"], "other": r["other_cores"]}


def fastest_torch(rows: list[dict], figure: str) -> dict | None:
    """The PyTorch run with the lowest `figure` ("total" or "steady"): ratios against it are the
    ones least flattering to wfbt."""
    return min((row for row in rows if row["path"].startswith("torch loop")), key=lambda row: row[figure],
               default=None)


def add_ratios(rows: list[dict]) -> None:
    by_total, by_steady = fastest_torch(rows, "total"), fastest_torch(rows, "steady")
    for row in rows:
        row["x_total"] = None if by_total is None else by_total["total"] / row["total"]
        row["x_steady"] = None if by_steady is None else by_steady["steady"] / row["steady"]


def table_cells(row: dict) -> list[str]:
    mark = "~" if row["extrapolated"] else ""
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    return [
        row["path"],
        f"{row['n']}" + (f" ({row['measured']} run)" if row["extrapolated"] else ""),
        f"{mark}{row['total']:.1f}",
        f"{row['startup']:.1f}",
        f"{1e3 * row['steady']:.1f}",
        f"{mark}{1e3 * row['total'] / row['n']:.1f}",
        f"{mark}{row['n'] / row['total']:.2f}",
        f"{row['rss']:.0f}",
        fmt(row["x_total"], ".1f") + ("×" if row["x_total"] is not None else ""),
        fmt(row["x_steady"], ".1f") + ("×" if row["x_steady"] is not None else ""),
    ]


HEADERS = ["path", "splits", "total s", "start-up+compile s", "steady ms/split", "all-in ms/split",
           "splits/s", "peak RSS MB", "× torch (total)", "× torch (steady)"]


def mse_stats(results: dict[str, dict], shared: list[int]) -> list[tuple[str, int, float, float, float, float]]:
    """(path, splits, median, p25, p75, mean epochs run) of val MSE on the splits every path ran."""
    import statistics

    out = []
    for name, r in results.items():
        values = sorted(r["val_mse"][s] for s in shared if s in r["val_mse"])
        if not values:
            continue
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        epochs = [r["epochs_run"][s] for s in shared if s in r["epochs_run"]]
        out.append((name, len(values), q[1], q[0], q[2], sum(epochs) / len(epochs)))
    return out


def machine_info() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from wfbt.runtime import usable_cores

    usable = usable_cores()
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": model, "cores": usable, "os": platform.platform(), "python": platform.python_version(),
            "versions": versions, "git": _git_state()}


def _git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "wfbt"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not dirty:
        return head
    diff = subprocess.run(["git", "diff", "HEAD", "--", "wfbt"], cwd=ROOT, capture_output=True).stdout
    return f"{head} + uncommitted changes in wfbt/ (diff {hashlib.sha1(diff).hexdigest()[:8]})"


def markdown_section(args, command: str, info: dict, rows: list[dict], mse: list, memory: dict | None,
                     notes: list[str]) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    what = f"{args.splits} splits" if rows else "memory " + " vs ".join(str(c) for c in args.memory_splits)
    lines = [f"### {now} · walk_forward.py · {what} · {info['cpu']}", "",
             f"- command: `{command}`",
             f"- machine: {info['cpu']}, {info['cores']} cores, {info['os']}, Python {info['python']}",
             f"- versions: {versions}",
             f"- code: git {info['git']}"]
    devices = sorted({f"{row['path']}: {row['device']}" for row in rows})
    if devices:
        lines.append(f"- device: {'; '.join(devices)}")
    lines.append("")
    if rows:
        lines += ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        lines += ["| " + " | ".join(table_cells(row)) + " |" for row in rows]
        lines.append("")
    if mse:
        lines += ["Validation MSE (scaled units) on the splits every path trained:", "",
                  "| path | splits | median | p25 | p75 | mean epochs run |", "|---|---|---|---|---|---|"]
        lines += [f"| {p} | {k} | {med:.5f} | {lo:.5f} | {hi:.5f} | {ep:.1f} |" for p, k, med, lo, hi, ep in mse]
        lines.append("")
    if memory:
        (n_small, small), (n_large, large) = memory["runs"]
        ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
        lines += [f"Memory (engine, `data.start={MEMORY_START}`, fresh compilation cache each): peak RSS "
                  f"{small['peak_rss_mb']:.0f} MB for {n_small} splits ({small['wall_s']:.0f} s), "
                  f"{large['peak_rss_mb']:.0f} MB for {n_large} splits ({large['wall_s']:.0f} s): "
                  f"ratio {ratio:.2f} (target ≤ {MEMORY_TARGET}).", ""]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def append_to_doc(section: str, path: Path | None = None) -> None:
    """Append under "## Measurements" (created if missing), before any later "## " section."""
    path = path or PERFORMANCE_DOC
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Performance\n"
    lines = text.rstrip("\n").split("\n")
    if "## Measurements" not in (line.strip() for line in lines):
        lines += ["", "## Measurements"]
    start = next(i for i, line in enumerate(lines) if line.strip() == "## Measurements")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    head, tail = lines[:end], lines[end:]
    while len(head) > start + 1 and not head[-1].strip():
        head.pop()
    new = head + [""] + section.rstrip("\n").split("\n") + ([""] + tail if tail else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(new) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=256, help="engine splits N (default 256)")
    parser.add_argument("--loop-splits", type=int, default=32,
                        help="splits K the plain loops train, spread evenly over the N (default 32)")
    parser.add_argument("--config", default=str(CONFIG), help="experiment (default: the reference)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="config override for every path, e.g. --set train.epochs=2")
    parser.add_argument("--skip-torch", action="store_true", help="no PyTorch loop")
    parser.add_argument("--torch-runs", type=int, default=2, metavar="R",
                        help="run the PyTorch loop R times, first and last (default 2); ratios use its fastest run")
    parser.add_argument("--skip-jax-loop", action="store_true", help="no plain JAX loop")
    parser.add_argument("--no-warm", action="store_true", help="no second engine run on a warm compile cache")
    parser.add_argument("--with-next-forecast", action="store_true",
                        help="the engine also trains the next-point models (work the loops do not do)")
    parser.add_argument("--memory", action="store_true",
                        help=f"also run the engine on {MEMORY_SPLITS[0]} and {MEMORY_SPLITS[1]} splits "
                             f"(data from {MEMORY_START}) and compare peak RSS")
    parser.add_argument("--memory-only", action="store_true", help="only the --memory measurement")
    parser.add_argument("--memory-splits", type=int, nargs=2, default=list(MEMORY_SPLITS),
                        metavar=("SMALL", "LARGE"),
                        help=f"split counts --memory compares (default {MEMORY_SPLITS[0]} {MEMORY_SPLITS[1]})")
    parser.add_argument("--wait-idle", type=float, default=60.0, metavar="SECONDS",
                        help="before each measurement wait up to this long for other work on the machine "
                             "to stop (default 60; 0: do not wait)")
    parser.add_argument("--no-append", action="store_true", help="do not append to docs/performance-log.md")
    parser.add_argument("--json", metavar="PATH", help="also write every raw figure to this JSON file")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is None:
        if args.splits < 1 or args.loop_splits < 1 or args.torch_runs < 1:
            parser.error("--splits, --loop-splits and --torch-runs must be at least 1")
        args.loop_splits = min(args.loop_splits, args.splits)
        args.memory = args.memory or args.memory_only
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        result = WORKERS[args.worker](json.loads(args.spec))
        Path(args.result).write_text(json.dumps(result))
        return 0

    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    command = "python benchmarks/walk_forward.py" + "".join(" " + shlex.quote(a) for a in sys.argv[1:])
    info = machine_info()
    n, k = args.splits, args.loop_splits
    shared = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]
    base = {"config": str(Path(args.config).resolve()), "overrides": list(args.set), "n": n, "shared": shared,
            "next_forecast": args.with_next_forecast}
    console.print(f"[bold]wfbt walk-forward benchmark[/] · {info['cpu']} · {info['cores']} cores · "
                  f"git {info['git']}")
    if info["cores"] and info["cores"] > 2:
        console.print("[yellow]note:[/] the CPU targets are stated for 2 cores; this machine has more.")

    raw: dict = {"command": command, "machine": info, "splits": n, "loop_splits": shared}
    rows: list[dict] = []
    results: dict[str, dict] = {}
    notes: list[str] = []
    cache_root = tempfile.TemporaryDirectory(prefix="wfbt-bench-cache-")
    try:
        cold_cache = {"WFBT_CACHE_DIR": str(Path(cache_root.name) / "main")}
        if not args.memory_only:
            # PyTorch's speed drifts on shared machines (by 1.5x between runs, seen here): its loop
            # runs first, last and (with more runs) between, and ratios use its fastest run
            torch_runs = 0 if args.skip_torch else args.torch_runs
            torch = [(f"torch loop (run {i + 1})" if torch_runs > 1 else "torch loop", "torch_loop", None, k)
                     for i in range(torch_runs)]
            first, middle, last = torch[:1], torch[1:-1], torch[1:][-1:]
            plan = [*first, ("engine (cold cache)", "engine", cold_cache, n)]
            if not args.skip_jax_loop:
                plan.append(("jax loop", "jax_loop", None, k))
            plan += middle
            if not args.no_warm:
                plan.append(("engine (warm cache)", "engine", cold_cache, n))
            plan += last
            for name, kind, env, count in plan:
                console.print(f"running [bold]{name}[/] on {count} splits …", highlight=False)
                wait_for_idle(args.wait_idle, console)
                r = run_worker(kind, base, env)
                raw[name] = r
                results[name] = r
                row = engine_row(name, r) if kind == "engine" else loop_row(name, r, n)
                rows.append(row)
                console.print(f"  {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, peak RSS "
                              f"{r['peak_rss_mb']:.0f} MB, other work meanwhile {_cores(r['other_cores'])}",
                              highlight=False)
            add_ratios(rows)

        memory = None
        if args.memory:
            runs = []
            for count in args.memory_splits:
                console.print(f"running [bold]engine memory[/] on {count} splits (data from {MEMORY_START}) …",
                              highlight=False)
                wait_for_idle(args.wait_idle, console)
                spec = {**base, "n": count, "shared": [],
                        "overrides": list(args.set) + [f"data.start={MEMORY_START}"]}
                r = run_worker("engine", spec, {"WFBT_CACHE_DIR": str(Path(cache_root.name) / f"memory{count}")})
                if r["n"] != count:
                    raise RuntimeError(f"asked for {count} splits, the engine trained {r['n']}")
                console.print(f"  {r['wall_s']:.1f} s wall, peak RSS {r['peak_rss_mb']:.0f} MB", highlight=False)
                runs.append((count, r))
            memory = {"runs": runs}
            raw["memory"] = {str(c): r for c, r in runs}
    finally:
        cache_root.cleanup()

    if rows:
        table = Table(title=f"walk-forward: reference experiment, {n} splits", title_justify="left")
        for header in HEADERS:
            table.add_column(header, justify="left" if header in ("path", "splits") else "right",
                             no_wrap=header in ("path", "splits"))
        for row in rows:
            table.add_row(*table_cells(row))
        console.print(table)
    mse = mse_stats(results, shared)
    if mse:
        mse_table = Table(title=f"validation MSE (scaled) on the {len(shared)} shared splits",
                          title_justify="left")
        for header in ("path", "splits", "median", "p25", "p75", "mean epochs run"):
            mse_table.add_column(header, justify="left" if header == "path" else "right")
        for p, count, med, lo, hi, ep in mse:
            mse_table.add_row(p, str(count), f"{med:.5f}", f"{lo:.5f}", f"{hi:.5f}", f"{ep:.1f}")
        console.print(mse_table)

    if rows and any(row["extrapolated"] for row in rows):
        notes.append(f"loops trained {len(shared)} of the {n} splits (evenly spaced); their {n}-split totals "
                     f"(~) are start-up + compile + {n} × their mean steady split time.")
    if rows:
        notes.append("start-up + compile = wall time of the whole process (interpreter, imports, data, "
                     "compilation, I/O) minus splits × steady ms/split; engine steady = "
                     "(training − first chunk) / (N − chunk size)"
                     + "".join(f", chunk size {r['chunk_size']}"
                               for r in [r for r in results.values() if r["kind"] == "engine"][:1])
                     + ".")
        others = ", ".join(f"{row['path']} {_cores(row['other'])}" for row in rows)
        notes.append(f"other work on the machine during each path (CPU cores busy outside it, from /proc/stat; "
                     f"on 2 cores more than ~0.2 skews timings): {others}.")
        busy = [row["path"] for row in rows if row["other"] is not None and row["other"] > CONTENDED]
        if busy:
            notes.append(f"**CONTENDED**: {', '.join(busy)} ran while other work used more than {CONTENDED} "
                         "core; those timings (and ratios) are not clean: rerun on an idle machine.")
        notes.append("the engine trains the loops' splits and nothing more: " + (
            "with the next-point forecast (--with-next-forecast: ten more models)." if args.with_next_forecast else
            "no next-point forecast (ten more models; --with-next-forecast adds them); baselines, metrics, "
            "Diebold-Mariano tests, the P&L and the run's files are in."))
        for name, r in results.items():
            if r["kind"] != "engine":
                continue
            sec = r["seconds"]
            notes.append(
                f"{name} breakdown: process wall {r['wall_s']:.1f} s = interpreter + imports + "
                f"config {r['wall_s'] - r['run_experiment_s']:.1f} s + "
                f"run_experiment {r['run_experiment_s']:.1f} s; "
                f"in run_experiment: training {sec['training']:.1f} s (first chunk, compile + {r['chunk_size']} "
                f"splits, {sec['first_chunk']:.1f} s), up to the summary {sec['total']:.1f} s, after it "
                f"(next-point forecast, strategy, files) {r['run_experiment_s'] - sec['total']:.1f} s.")
    if any(r["kind"] == "engine" and r["n"] <= r["chunk_size"] for r in results.values()):
        notes.append("the engine ran a single chunk: its steady ms/split includes compilation; use more splits.")
    git_end = _git_state()
    if git_end != info["git"]:
        notes.append(f"**the code changed during the run**: git {info['git']} at the start, {git_end} at the end; "
                     "paths may have run different code.")
    for name, r in results.items():
        if r.get("failed"):
            notes.append(f"{name}: {r['failed']} split(s) failed (NaN/inf loss).")
    torch_rows = [row for row in rows if row["path"].startswith("torch loop")]
    if len(torch_rows) > 1:
        runs = ", ".join(f"{1e3 * row['steady']:.1f}" for row in torch_rows)
        notes.append(f"the PyTorch loop ran {len(torch_rows)} times (steady ms/split: {runs}); each × column is "
                     f"against its fastest run in that figure: total {fastest_torch(rows, 'total')['path']}, "
                     f"steady {fastest_torch(rows, 'steady')['path']}.")
    for line in notes:
        console.print(f"[dim]- {line}[/]", highlight=False)
    for label, path in (("cold", "engine (cold cache)"), ("warm", "engine (warm cache)")):
        engine = next((row for row in rows if row["path"] == path and row["x_total"]), None)
        if engine:
            console.print(f"engine ({label} compile cache) vs the fastest torch loop on {n} splits, everything "
                          f"included: [bold]{engine['x_total']:.2f}×[/] (target ≥ 5×, aim 8×); "
                          f"steady state {engine['x_steady']:.2f}×", highlight=False)  # 2 decimals: 4.96 is not 5
    if memory:
        (n_small, small), (n_large, large) = memory["runs"]
        ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
        console.print(f"peak RSS {n_large} / {n_small} splits: [bold]{ratio:.2f}[/] "
                      f"({large['peak_rss_mb']:.0f} / {small['peak_rss_mb']:.0f} MB; target ≤ {MEMORY_TARGET})",
                      highlight=False)

    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2, default=str))
    if not args.no_append:
        append_to_doc(markdown_section(args, command, info, rows, mse, memory, notes))
        console.print(f"appended to {PERFORMANCE_DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
