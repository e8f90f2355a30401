"""`run_experiment(config) -> Results`: the one entry point; the CLI is a thin shell over it.

Stages flow one way: data -> split plan -> (per chunk: windows -> engine -> per-split
evaluation, saved so the run can resume) -> tables -> run directory.
"""

from __future__ import annotations

import dataclasses
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl

from wfbt import rundir, scaling, tables
from wfbt.config import Config, to_toml
from wfbt.errors import UserError
from wfbt.data import PriceSeries, load_prices
from wfbt.engine import Trainer, TrainSettings, choose_chunk_size
from wfbt.features import build_windows, next_point_windows
from wfbt.baselines import check_baseline_names
from wfbt.models import build_model
from wfbt.pnl import StrategyResult, run_strategy
from wfbt.strategy import load_strategy, parameter_values
from wfbt.summary import device_facts, run_summary
from wfbt.splits import SplitPlan, split_plan


@dataclass(frozen=True)
class Results:
    config: Config
    run_dir: Path
    prices: PriceSeries
    plan: SplitPlan
    splits: pl.DataFrame  # one row per split (splits.csv)
    predictions: pl.DataFrame  # one row per (split, validation date)
    curves: pl.DataFrame  # one row per (split, epoch)
    summary: dict[str, Any] = field(default_factory=dict)
    strategy: StrategyResult | None = None  # P&L, when the config has a [strategy] table
    test_predictions: pl.DataFrame | None = None  # forecasts of the points after each validation window


ProgressFn = Callable[[int, int], None]  # (splits done, splits in all)
NEXT_FORECAST = "next_forecast.json"  # in the run's partial/ folder: the next-point forecast, for reruns


def run_directory(config: Config, out_dir: str | Path | None = None) -> Path:
    if out_dir:
        return Path(out_dir)
    return Path(config.output.dir) if config.output.dir else Path("runs") / config.path.stem


def run_experiment(config: Config, out_dir: str | Path | None = None, overwrite: bool = False,
                   progress: ProgressFn | None = None) -> Results:
    started = time.perf_counter()
    split_cfg = config.splits
    prices = load_prices(config.data, config.base_dirs, split_cfg.train + split_cfg.gap + split_cfg.val)
    plan = split_plan(len(prices), split_cfg)
    n_outputs = 2 if config.train.loss == "gaussian_nll" else 1
    devices = jax.devices()
    if config.engine.devices > len(devices):
        raise UserError(f"{config.path}: [engine] devices is {config.engine.devices}, but this machine has "
                        f"{len(devices)} {devices[0].platform} device(s); use 0 for all of them.")
    if config.engine.devices:
        devices = devices[: config.engine.devices]
    model = _from_config(config, build_model, config.model, n_outputs, _unroll(config, devices))
    baselines = _from_config(config, check_baseline_names, config.evaluation.baselines)
    strategy = None
    if config.strategy is not None:
        strategy = _from_config(config, load_strategy, config.strategy.name, config.strategy.params, config.base_dirs)
        _check_tradable(prices)
    run_dir = run_directory(config, out_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        store = rundir.PartialStore(run_dir, experiment_fingerprint(config, prices, baselines, devices), overwrite=overwrite)
    except OSError as exc:  # a file in the way, no permission, a read-only disk
        raise UserError(f"{run_dir}: cannot use this run directory: {exc.strerror or exc}.") from None

    stages = {"load": time.perf_counter() - started}
    width = window_width(prices, config)  # one shape for every chunk; each split loops over its own samples
    settings = TrainSettings(config.train.epochs, config.train.batch_size, config.train.learning_rate,
                             config.train.patience, config.train.loss,
                             equal_windows=bool((plan.train_len == width).all()))
    trainer = Trainer(model, settings, config.train.seed, devices)
    # only every refit_every-th split trains: size chunks by those
    chunk = choose_chunk_size(len(np.unique(plan.refit_from)), devices, config.engine.chunk_size)
    trained = _train_missing(config, prices, plan, trainer, chunk, width, store, baselines, progress)
    per_split = store.load(len(plan))
    mark = time.perf_counter()

    splits_table = tables.splits_table(per_split, plan, prices)
    predictions = tables.predictions_table(per_split, plan, prices)
    test_predictions = tables.test_predictions_table(per_split, plan, prices)
    curves = tables.curves_table(per_split)
    strategy_result = None
    if strategy is not None:
        # trade only on forecasts no part of training saw: the early stopping of split s looked at
        # its validation window, so the P&L uses each split's forecasts of the points after it
        strategy_result = run_strategy(strategy, test_predictions, prices.dates, prices.values,
                                       config.strategy.cost_bps, config.strategy.slippage_bps)
    stages["tables"] = time.perf_counter() - mark
    summary = run_summary(
        config=config, prices=prices, plan=plan, splits=splits_table, predictions=predictions,
        test_predictions=test_predictions, curves=curves, baselines=baselines, device=device_facts(devices),
        trained=trained, seconds=time.perf_counter() - started,
    )
    if config.evaluation.next_forecast:
        mark = time.perf_counter()
        summary["next_forecast"] = next_point_forecast(config, prices, trainer, chunk, width, splits_table, store)
        stages["next_forecast"] = time.perf_counter() - mark
    if strategy_result is not None:
        summary["strategy"] = {"name": config.strategy.name, "params": parameter_values(strategy),
                               "cost_bps": config.strategy.cost_bps, "slippage_bps": config.strategy.slippage_bps,
                               "figures": strategy_result.figures, "buy_hold": strategy_result.buy_hold}
    summary["config"]["as_run"] = tomllib.loads(to_toml(config, data_source=prices.source, out_dir=str(run_dir)))
    summary["seconds"].update(stages)
    summary["seconds"]["total"] = time.perf_counter() - started
    results = Results(config, run_dir, prices, plan, splits_table, predictions, curves, summary,
                      strategy_result, test_predictions)
    write_run(results)
    return results


def window_width(prices: PriceSeries, config: Config) -> int:
    """The padded length of every training window: the longest the data allows, whatever
    `max_splits` keeps. With expanding windows the run's own longest would make a split's
    arrays, and so the last bits of its numbers, depend on how many splits follow it."""
    return int(split_plan(len(prices), dataclasses.replace(config.splits, max_splits=None)).train_len.max())


def _check_tradable(prices: PriceSeries) -> None:
    """A strategy's P&L compounds returns p_t / p_(t-1) - 1: a price at or below zero makes them
    infinite or meaningless. Checked before training, so no run is lost to it."""
    bad = np.flatnonzero(prices.values <= 0)
    if len(bad):
        row = int(bad[0])
        raise UserError(
            f"{prices.source}: [strategy] needs positive prices to compute returns, but {prices.target} on "
            f"{prices.date_text(row)} is {prices.values[row]:g} ({len(bad)} such rows). Trade a price series, "
            f"or leave out the [strategy] table."
        )


def _unroll(config: Config, devices: list) -> int:
    """Time steps per LSTM loop iteration: a loop on CPU (measured fastest), unrolled elsewhere."""
    if config.engine.unroll:
        return config.engine.unroll
    return 1 if devices[0].platform == "cpu" else config.model.lookback


def _from_config(config: Config, build, *args):
    """Build a registry item named in the config; its errors name the config file."""
    try:
        return build(*args)
    except UserError as exc:
        raise UserError(f"{config.path}: {exc}") from None


def experiment_fingerprint(config: Config, prices: PriceSeries, baselines: list[str], devices: list) -> str:
    """What determines every split's numbers: not the output folder, chunking, device count or
    split count; but the platform and the LSTM loop's layout (its unroll), which round differently."""
    parts = [repr(getattr(config, name)) for name in ("model", "train", "scaling")] + baselines
    unroll, platform = _unroll(config, devices), devices[0].platform
    if (platform, unroll) != ("cpu", 1):  # left out for CPU's layout, so run folders from before still resume
        parts += [platform, str(unroll)]
    splits = config.splits
    parts.append(repr((splits.mode, splits.train, splits.val, splits.step, splits.gap, splits.refit_every)))
    parts.append(config.data.target)
    parts.append(rundir.FORMAT)
    return rundir.fingerprint(*parts, prices.dates.tobytes(), prices.values.tobytes())


def _train_missing(config: Config, prices: PriceSeries, plan: SplitPlan, trainer: Trainer, chunk: int, width: int,
                   store: rundir.PartialStore, baselines: list[str], progress: ProgressFn | None) -> dict[str, Any]:
    """Train the splits that have no saved result, chunk by chunk, saving each chunk."""
    done = store.load(len(plan))
    done_ids = set() if done is None else set(done["split"].tolist())
    todo = np.array([s for s in range(len(plan)) if s not in done_ids], dtype=np.int64)
    total = len(plan)
    if progress:
        progress(total - len(todo), total)
    if len(todo) == 0:
        return {"seconds": 0.0, "trained": 0, "chunk_size": 0, "first_chunk_seconds": 0.0, "compile_seconds": 0.0}
    # with refit_every = k only every k-th split trains; its model also forecasts the k-1 after it
    to_train = np.unique(plan.refit_from[todo])
    followers = {int(r): np.flatnonzero((plan.refit_from == r) & (np.arange(len(plan)) != r)) for r in to_train}
    compiled_before = trainer.compile_seconds
    refit = config.splits.refit_every > 1
    started = time.perf_counter()
    first_chunk_seconds, finished = 0.0, total - len(todo)

    def prepare(first: int) -> tuple[np.ndarray, int, Any]:
        ids = to_train[first : first + chunk]
        padded = _pad(ids, chunk)  # one compiled shape for every chunk
        windows = build_windows(prices.values, plan, padded, config.model.lookback, config.scaling.method, width,
                                config.splits.step)
        return ids, width, windows

    # while the device trains chunk i+1, the host evaluates and saves chunk i
    starts = list(range(0, len(to_train), chunk))
    pending = prepare(starts[0])
    running = trainer.start(pending[2])
    for position in range(len(starts)):
        ids, width, windows = pending
        current = running
        if position + 1 < len(starts):
            pending = prepare(starts[position + 1])
            running = trainer.start(pending[2])
        result = trainer.collect(current, keep_params=refit)
        padded = windows.split
        evaluated = tables.evaluate_chunk(windows, result, prices.values, plan, len(ids), baselines)
        if refit:
            members = np.concatenate([followers[int(r)] for r in ids])
            if len(members):
                evaluated = _concat(evaluated, _forecast_followers(
                    trainer, result, padded, members, prices, plan, config, width, chunk, baselines))
        store.save(evaluated)
        if position == 0:
            first_chunk_seconds = time.perf_counter() - started
        finished += len(evaluated["split"]) - int(np.isin(evaluated["split"], list(done_ids)).sum())
        if progress:
            progress(min(finished, total), total)
    return {"seconds": time.perf_counter() - started, "trained": len(to_train), "chunk_size": chunk,
            "first_chunk_seconds": first_chunk_seconds, "compile_seconds": trainer.compile_seconds - compiled_before}


def _forecast_followers(trainer: Trainer, result, trained_ids: np.ndarray, members: np.ndarray,
                        prices: PriceSeries, plan: SplitPlan, config: Config, width: int, chunk: int,
                        baselines: list[str]) -> dict[str, np.ndarray]:
    """Splits between two refits: the latest trained model forecasts their validation windows."""
    # fixed for the run, so the predict program compiles once; never more than the run's splits
    size = chunk * min(config.splits.refit_every - 1, math.ceil(len(plan) / chunk))
    padded = _pad(members, size)
    source = np.searchsorted(trained_ids, plan.refit_from[padded])  # sorted; padding repeats the last
    windows = build_windows(prices.values, plan, padded, config.model.lookback, config.scaling.method, width,
                            config.splits.step)
    params = jax.tree.map(lambda leaf: leaf[source], result.params)
    follower_result = result.take(source, padded, trainer.predict(params, windows.x_val),
                                  trainer.predict(params, windows.x_test))
    return tables.evaluate_chunk(windows, follower_result, prices.values, plan, len(members), baselines)


def _pad(ids: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([ids, np.full(size - len(ids), ids[-1])])


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


def next_point_forecast(config: Config, prices: PriceSeries, trainer: Trainer, chunk: int, width: int,
                        splits_table: pl.DataFrame, store: rundir.PartialStore | None = None) -> dict[str, Any]:
    """Forecast the first date after the data: from the last window, and averaged over the last k.

    There is no validation window after the data, so these models train without early stopping
    for the median best epoch of the walk-forward splits (documented in docs/evaluation.md). They
    run through the walk-forward program itself (epochs and patience are inputs), so nothing new
    is compiled.
    """
    k = min(config.evaluation.forecast_average, len(prices) - config.splits.train + 1)
    n, train = len(prices), config.splits.train
    stops = n - np.arange(k)
    starts = np.zeros(k, dtype=np.int64) if config.splits.mode == "expanding" else stops - train
    epochs = int(max(1, round(float(np.nanmedian(splits_table["best_epoch"].to_numpy())))))
    # the store's fingerprint covers data, model, training and splits; these are what else they read
    key = {"rows": n, "k": int(k), "epochs": epochs, "width": int(width)}
    cached = store.read_json(NEXT_FORECAST) if store is not None else None
    if cached is not None and cached.get("key") == key:  # a rerun that trained nothing new: no need to retrain them
        return cached["forecast"]
    pad = _pad(np.arange(k), math.ceil(k / chunk) * chunk)  # whole chunks of the walk-forward shape
    width = max(int((stops - starts).max()), width)  # the walk-forward shape, unless expanding outgrew it
    started = []
    for first in range(0, len(pad), chunk):
        part = pad[first:first + chunk]
        windows = next_point_windows(prices.values, starts[part], stops[part], config.model.lookback,
                                     config.scaling.method, config.splits.val, width, config.splits.step)
        # the forecast models get split indices after the walk-forward ones, so their seeds differ
        windows = dataclasses.replace(windows, split=np.arange(first, first + chunk) + 10**6)
        started.append((windows.scaler, trainer.start(windows, epochs=epochs, patience=0)))
    results = [(scaler, trainer.collect(running)) for scaler, running in started]
    forecasts = np.concatenate([scaling.invert(scaler, result.val_pred[:, 0].astype(np.float64))
                                for scaler, result in results])[:k]
    ok = ~np.concatenate([result.failed for _, result in results])[:k]
    forecast = {
        "date": prices.next_date_text(),
        "last_date": str(prices.date_text(len(prices) - 1)), "last_value": float(prices.values[-1]),
        "last_window": float(forecasts[0]) if ok[0] else None,
        "average": float(forecasts[ok].mean()) if ok.any() else None,
        "windows": int(ok.sum()), "epochs": epochs, "forecasts": forecasts.tolist(),
    }
    if store is not None:
        store.write_json(NEXT_FORECAST, {"key": key, "forecast": forecast})
    return forecast


def write_run(results: Results) -> None:
    """Every file of the run directory, each written atomically."""
    out = results.run_dir
    config = results.config
    # summary.json is what `report` reads: gone while the files change, written last, so a run
    # killed halfway leaves no summary that disagrees with the CSVs beside it
    (out / "summary.json").unlink(missing_ok=True)
    rundir.write_csv_atomic(out / "splits.csv", results.splits)
    rundir.write_csv_atomic(out / "predictions.csv", results.predictions)
    rundir.write_csv_atomic(out / "curves.csv", results.curves)
    rundir.write_csv_atomic(out / "test_predictions.csv", results.test_predictions)
    if results.strategy is not None:
        rundir.write_csv_atomic(out / "equity.csv", results.strategy.equity)
        rundir.write_csv_atomic(out / "pnl_splits.csv", results.strategy.per_split)
    else:  # an earlier run in this folder may have traded
        for name in ("equity.csv", "pnl_splits.csv"):
            (out / name).unlink(missing_ok=True)
    rundir.write_text_atomic(out / "config.toml", to_toml(
        config, data_source=results.prices.source, out_dir=str(out.resolve())))
    rundir.write_json_atomic(out / "summary.json", results.summary)
