"""`run_experiment(config) -> Results`: the one entry point; the CLI is a thin shell over it.

Stages flow one way: data -> split plan -> training (chunk by chunk, raw outputs kept in a store
so a run can resume) -> tables and baselines (recomputed from the raw outputs) -> P&L -> summary.
Computing writes nothing; `rundir.write_run` persists a `Results` when a run has a folder.
"""

from __future__ import annotations

import dataclasses
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl

from wfbt import importance, rundir, saved, scaling, tables
from wfbt.baselines import check_baseline_names
from wfbt.config import Config, to_toml
from wfbt.data import PriceSeries, load_prices, prices_from_frame
from wfbt.engine import ChunkResult, Hyper, Trainer, TrainSettings, choose_chunk_size
from wfbt.errors import UserError
from wfbt.features import WindowArrays, build_windows, fit_input_scalers, next_point_windows
from wfbt.models import build_model
from wfbt.pnl import StrategyResult, check_strategy, run_strategy
from wfbt.rundata import PlotMethods
from wfbt.schema import RAW_NAMES
from wfbt.splits import SplitPlan, split_plan
from wfbt.store import FolderStore, MemoryStore, Session, identity
from wfbt.strategy import Strategy
from wfbt.strategy_plugins import load_strategy
from wfbt.summary import device_facts, run_summary
from wfbt.transform import to_price


@dataclass(frozen=True)
class Results(PlotMethods):  # plot_*() and .equity for notebooks: wfbt.rundata.PlotMethods
    config: Config
    run_dir: Path | None  # None: computed in memory, nothing written
    prices: PriceSeries
    plan: SplitPlan
    splits: pl.DataFrame  # one row per split (splits.csv)
    predictions: pl.DataFrame  # one row per (split, validation date)
    curves: pl.DataFrame  # one row per (split, epoch)
    summary: dict[str, Any]
    strategy: StrategyResult | None = None  # P&L, when the config has a [strategy] table
    test_predictions: pl.DataFrame | None = None  # forecasts of the points after each validation window
    importance: pl.DataFrame | None = None  # permutation importance per (split, input), when computed
    models: saved.NextPointModels | None = None  # the next-point models (None without next_forecast)

    def predict(self, frame: Any = None) -> dict[str, Any]:
        """The next-point forecast of this run's models for `frame` (a pandas or Polars DataFrame
        with the run's date and value columns; its whole span is used), or for the run's own data.

        The same numbers as `wfbt predict RUN_DIR --data FILE`: each window's model forecasts from
        the last `lookback` rows scaled with its saved scalers, averaged over the windows."""
        models = self.models
        if models is None and self.run_dir is not None and saved.has_next_point(self.run_dir / saved.FOLDER):
            models = saved.load_next_point(self.run_dir)
        if models is None:
            raise UserError("this run has no next-point models: run it with [evaluation] next_forecast = true "
                            "(the default).")
        if frame is None:
            if self.prices is None:
                raise UserError(f"{self.run_dir}: the run's data source cannot be read any more; pass a DataFrame.")
            return models.predict(self.prices)
        config = models.config
        data_config = dataclasses.replace(config.data, start=None, end=None)
        return models.predict(prices_from_frame(frame, data_config, models.info["lookback"], features=config.features))


ProgressFn = Callable[[int, int, str], None]  # (splits done, splits in all, phase: "compiling" | "training")
NEXT_FORECAST = "next_forecast.json"  # beside the saved chunks: the next-point forecast, for reruns


@dataclass(frozen=True)
class Experiment:
    """Everything checked before anything trains: data, plan, model, baselines, strategy."""

    config: Config
    prices: PriceSeries
    plan: SplitPlan
    devices: list
    trainer: Trainer  # may serve several experiments of the same structure (a sweep)
    settings: TrainSettings  # this experiment's own numbers (learning rate, epochs, ...)
    baselines: list[str]
    strategy: Strategy | None
    width: int  # the padded training window of every chunk

    def hyper(self, count: int):
        """This experiment's per-split hyper-parameter inputs for `count` splits."""
        return self.settings.hyper(count)


def run_directory(config: Config, out_dir: str | Path | None = None) -> Path:
    """Where the CLI writes a run: --out, else [output] dir, else runs/<config file stem>."""
    if out_dir:
        return Path(out_dir)
    return Path(config.output.dir) if config.output.dir else Path("runs") / config.path.stem


def run_experiment(config: Config, out_dir: str | Path | None = None, overwrite: bool = False,
                   progress: ProgressFn | None = None, log: Callable[[str], None] | None = None,
                   data: Any = None) -> Results:
    """Train and evaluate every split of `config`; with `out_dir`, resume from and write into it.

    Without `out_dir` nothing is written: the run is computed in memory (a notebook's way).
    `data`: a pandas or Polars DataFrame used instead of `[data] source` (`wfbt.data.prices_from_frame`).

    >>> from wfbt.config import config_from_dict
    >>> config = config_from_dict({"splits": {"max_splits": 2}, "train": {"epochs": 1},
    ...                            "model": {"name": "mlp", "lookback": 5}}, Path("example.toml"))
    >>> results = run_experiment(config)
    >>> results.splits.height, results.run_dir
    (2, None)
    """
    started = time.perf_counter()
    experiment = prepare(config, data=data)
    out = Path(out_dir) if out_dir is not None else None
    store = open_store(experiment, out, overwrite) if out is not None else MemoryStore()
    store.tell(log)
    results = compute(experiment, store, progress, started, run_dir=out)
    if out is not None:
        rundir.write_run(results, out, to_toml(config, data_source=experiment.prices.source,
                                               out_dir=str(out.resolve())))
    return results


def prepare(config: Config, trainer: Trainer | None = None, data: Any = None) -> Experiment:
    """Load and check everything a run needs, so a mistake stops it before training starts.

    `trainer`: a compiled program to share (a sweep's configs of the same structure); by default
    the experiment gets its own. `data`: a DataFrame used instead of `[data] source`, checked as
    a file would be."""
    split_cfg = config.splits
    # with [[features]]: the inputs computed, their warm-up rows dropped
    if data is not None:
        prices = prices_from_frame(data, config.data, split_cfg.train + split_cfg.gap + split_cfg.val,
                                   features=config.features)
    else:
        prices = load_prices(config.data, config.base_dirs, split_cfg.train + split_cfg.gap + split_cfg.val,
                             separator=config.data.separator or None, decimal=config.data.decimal,
                             features=config.features)
    plan = split_plan(len(prices), split_cfg)
    n_outputs = output_count(config)
    devices = jax.devices()
    if config.engine.devices > len(devices):
        raise UserError(f"{config.path}: [engine] devices is {config.engine.devices}, but this machine has "
                        f"{len(devices)} {devices[0].platform} device(s); use 0 for all of them.")
    if config.engine.devices:
        devices = devices[: config.engine.devices]
    model = _from_config(config, build_model, config.model, n_outputs, _unroll(config, devices), config.base_dirs)
    baselines = _from_config(config, check_baseline_names, config.evaluation.baselines)
    strategy = None
    if config.strategy is not None:
        strategy = _from_config(config, load_strategy, config.strategy.name, config.strategy.params, config.base_dirs)
        _check_tradable(prices)
        _from_config(config, check_strategy, strategy, prices.dates, prices.values, config.strategy.periods_per_year,
                     config.model.horizon)
    width = window_width(prices, config)  # one shape for every chunk; each split loops over its own samples
    settings = train_settings(config, equal_windows=bool((plan.train_len == width).all()))
    trainer = trainer or make_trainer(config, model, settings, devices)
    return Experiment(config, prices, plan, devices, trainer, settings, baselines, strategy, width)


def make_trainer(config: Config, model: Any, settings: TrainSettings, devices: list) -> Trainer:
    """The engine's trainer for `settings`, or with `[engine] ray` the same over Ray actors."""
    if config.engine.ray:
        from wfbt.distributed import RayTrainer

        return RayTrainer(model, settings, config.train.seed, devices, config.engine.ray)
    return Trainer(model, settings, config.train.seed, devices)


def train_settings(config: Config, equal_windows: bool = True) -> TrainSettings:
    """The engine's settings from `[train]`: the structure compiled in, the numbers as defaults."""
    t = config.train
    return TrainSettings(t.epochs, t.batch_size, t.learning_rate, t.patience, t.loss, equal_windows=equal_windows,
                         optimizer=t.optimizer, weight_decay=t.weight_decay, clip_norm=t.clip_norm,
                         momentum=t.momentum, schedule=t.schedule, warmup_steps=t.warmup_steps,
                         horizon=config.model.horizon)


def output_count(config: Config) -> int:
    """Outputs per row of the model's last layer: one per forecast step ([model] horizon), twice
    that with a variance head (loss = "gaussian_nll")."""
    return config.model.horizon * (2 if config.train.loss == "gaussian_nll" else 1)


def open_store(experiment: Experiment, out: Path, overwrite: bool) -> FolderStore:
    prices, config = experiment.prices, experiment.config
    # the platform and the LSTM loop's layout round differently: part of what a chunk's numbers depend on
    resolved = {"layout.unroll": _unroll(config, experiment.devices), "layout.platform": experiment.devices[0].platform}
    values = prices.values if prices.inputs is None else np.concatenate([prices.values, prices.inputs.ravel()])
    if prices.learned is not None:  # its first row reads the row before [data] start
        values = np.concatenate([values, prices.learned])
    current = identity(config, prices.dates, values, resolved)  # with features, their values too
    # importance is not in the fingerprint: chunks saved without it are trained again (wfbt.store)
    required = ("importance",) if importance.wanted(config, prices) else ()
    try:
        out.mkdir(parents=True, exist_ok=True)
        return FolderStore(out, current, overwrite=overwrite, required=required)
    except OSError as exc:  # a file in the way, no permission, a read-only disk
        raise UserError(f"{out}: cannot use this run directory: {exc.strerror or exc}.") from None


def compute(experiment: Experiment, store: MemoryStore, progress: ProgressFn | None = None,
            started: float | None = None, run_dir: Path | None = None, session: Session | None = None) -> Results:
    """Train what the store lacks, then make every table, the P&L and the summary from raw outputs.

    `session`: the training already done for this store elsewhere (a sweep's shared loop)."""
    started = time.perf_counter() if started is None else started
    config, prices, plan = experiment.config, experiment.prices, experiment.plan
    stages = {"load": time.perf_counter() - started}
    # only every refit_every-th split trains: size chunks by those
    chunk = choose_chunk_size(len(np.unique(plan.refit_from)), experiment.devices, config.engine.chunk_size)
    if session is None:
        (session,) = train_missing([Member(experiment, (store,))], chunk, progress)
    raw = store.load(len(plan))
    mark = time.perf_counter()

    transform = config.data.target_transform
    evaluated = tables.evaluate(raw, lambda ids: split_windows(experiment, ids), prices.values, plan,
                                experiment.baselines, window_bytes(experiment), transform,
                                None if transform == "none" else lambda ids: price_windows(experiment, ids))
    splits_table = tables.splits_table(evaluated, plan, prices, experiment.baselines)
    predictions = tables.predictions_table(evaluated, plan, prices, experiment.baselines)
    test_predictions = tables.test_predictions_table(evaluated, plan, prices, experiment.baselines)
    curves = tables.curves_table(evaluated)
    importance_table = None
    if importance.wanted(config, prices):
        if "importance" not in raw:  # a bug: train_missing computes it for every split it saves
            raise RuntimeError("importance is on but the store's splits lack it")
        importance_table = importance.importance_table(raw, prices, config.data.tickers)
    strategy_result = None
    if experiment.strategy is not None:
        # trade only on forecasts no part of training saw: the early stopping of split s looked at
        # its validation window, so the P&L uses each split's forecasts of the points after it
        strategy_result = run_strategy(experiment.strategy, test_predictions, prices.dates, prices.values,
                                       config.strategy.cost_bps, config.strategy.slippage_bps,
                                       config.strategy.periods_per_year)
    stages["tables"] = time.perf_counter() - mark
    next_forecast = models = None
    if config.evaluation.next_forecast:
        mark = time.perf_counter()
        next_forecast, models = next_point_forecast(experiment, chunk, splits_table, store,
                                                    save_to=run_dir / saved.FOLDER if run_dir is not None else None)
        stages["next_forecast"] = time.perf_counter() - mark
    summary = run_summary(
        config=config, prices=prices, plan=plan, splits=splits_table, predictions=predictions,
        test_predictions=test_predictions, curves=curves, baselines=experiment.baselines,
        device=device_facts(experiment.devices), session=session, sessions=store.sessions, stages=stages,
        strategy=experiment.strategy, strategy_result=strategy_result, next_forecast=next_forecast,
        importance=None if importance_table is None else importance.importance_summary(
            importance_table, config.evaluation.importance_repeats),
        as_run=tomllib.loads(to_toml(config, data_source=prices.source, out_dir=str(run_dir) if run_dir else None)),
        seconds=time.perf_counter() - started,
    )
    return Results(config, run_dir, prices, plan, splits_table, predictions, curves, summary,
                   strategy_result, test_predictions, importance_table, models)


def window_width(prices: PriceSeries, config: Config) -> int:
    """The padded length of every training window: the longest the data allows, whatever
    `max_splits` keeps. With expanding windows the run's own longest would make a split's
    arrays, and so the last bits of its numbers, depend on how many splits follow it."""
    return int(split_plan(len(prices), dataclasses.replace(config.splits, max_splits=None)).train_len.max())


def split_windows(experiment: Experiment, ids: np.ndarray) -> WindowArrays:
    """The scaled windows of `ids` exactly as they train (padded to the experiment's width)."""
    config, prices = experiment.config, experiment.prices
    series = prices.values if prices.learned is None else prices.learned  # what the model learns
    return build_windows(series, experiment.plan, ids, config.model.lookback,
                         config.scaling.method, experiment.width, config.splits.step, prices.inputs,
                         config.model.horizon)


def price_windows(experiment: Experiment, ids: np.ndarray) -> WindowArrays:
    """The price windows of `ids`, without features: what the price-space baselines read in a run
    with a target transform (`wfbt.tables.transformed_baselines`)."""
    config = experiment.config
    return build_windows(experiment.prices.values, experiment.plan, ids, config.model.lookback,
                         config.scaling.method, experiment.width, config.splits.step)


def window_bytes(experiment: Experiment) -> int:
    """About the bytes one split's windows take while they are built (float64 samples)."""
    inputs = experiment.prices.inputs
    columns = 1 if inputs is None else 1 + inputs.shape[1]  # the target's windows, and the features'
    columns += experiment.prices.learned is not None  # the price windows of the baselines
    return 8 * experiment.width * (experiment.config.model.lookback + 1) * 2 * columns


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


def raw_outputs(result: ChunkResult, count: int, epochs: int) -> dict[str, np.ndarray]:
    """The raw outputs (`wfbt.schema.RAW`) of a chunk's first `count` splits, as the store saves
    them: loss curves cut to the experiment's `epochs` (a shared program may loop longer)."""
    raw = {name: np.asarray(getattr(result, name))[:count] for name in RAW_NAMES if getattr(result, name) is not None}
    return raw | {name: raw[name][:, :epochs] for name in ("train_curve", "val_curve")}


@dataclass(frozen=True)
class Member:
    """An experiment whose splits train in a shared loop, and the stores that take its results
    (trials of a sweep that differ only in settings that change no saved number share them)."""

    experiment: Experiment
    stores: tuple[MemoryStore, ...]


def train_missing(members: list[Member], chunk: int, progress: ProgressFn | None) -> list[Session]:
    """Train the splits the members' stores have no result for, chunk by chunk, saving each chunk.

    Every member shares the first member's compiled program: each chunk trains `chunk` splits of
    every member that has any left, side by side, each split with its own hyper-parameters and
    seed. A split's numbers do not depend on what trains beside it (the engine's contract), so a
    member's results equal those of a run of its own.
    """
    trainer = members[0].experiment.trainer
    done = [m.stores[0].load(len(m.experiment.plan)) for m in members]
    done_ids = [set() if d is None else set(d["split"].tolist()) for d in done]
    todo = [np.array([s for s in range(len(m.experiment.plan)) if s not in ids], dtype=np.int64)
            for m, ids in zip(members, done_ids)]
    total = sum(len(m.experiment.plan) for m in members)
    finished = total - sum(len(t) for t in todo)
    if not any(len(t) for t in todo):
        if progress:
            progress(total, total, "training")
        return [Session() for _ in members]
    # with refit_every = k only every k-th split trains; its model also forecasts the k-1 after it
    to_train = [np.unique(m.experiment.plan.refit_from[t]) if len(t) else t for m, t in zip(members, todo)]
    compiled_before = trainer.compile_seconds
    started = time.perf_counter()
    first_chunk_seconds = 0.0

    def prepare_chunk(first: int) -> list[tuple[int, np.ndarray, Any]]:
        """(member, its splits, their windows padded to a whole chunk) for each member with splits left."""
        parts = [(i, ids[first : first + chunk]) for i, ids in enumerate(to_train)]
        return [(i, ids, split_windows(members[i].experiment, _pad(ids, chunk))) for i, ids in parts if len(ids)]

    def start(parts: list[tuple[int, np.ndarray, Any]]):
        windows = WindowArrays.concatenate([w for _, _, w in parts])
        hyper = Hyper(*(np.concatenate(h) for h in zip(*(members[i].experiment.hyper(chunk) for i, _, _ in parts))))
        seeds = np.concatenate([np.full(chunk, members[i].experiment.config.train.seed) for i, _, _ in parts])
        return trainer.start(windows, hyper=hyper, seed=seeds)

    # while the device trains chunk i+1, the host saves chunk i
    starts = list(range(0, max(len(ids) for ids in to_train), chunk))
    if progress:
        progress(finished, total, "compiling")
    pending = prepare_chunk(starts[0])
    running = start(pending)
    if progress:
        progress(finished, total, "training")
    for position in range(len(starts)):
        parts, current = pending, running
        if position + 1 < len(starts):
            pending = prepare_chunk(starts[position + 1])
            running = start(pending)
        refit = any(members[i].experiment.config.splits.refit_every > 1 for i, _, _ in parts)
        save_params = any(members[i].experiment.config.output.save_params for i, _, _ in parts)
        ranked = any(_wants_importance(members[i]) for i, _, _ in parts)
        result = trainer.collect(current, keep_params=refit or save_params or ranked)
        for offset, (i, ids, windows) in enumerate(parts):
            member = members[i]
            own = result.rows(slice(offset * chunk, (offset + 1) * chunk))
            if _wants_importance(member):  # with the final parameters, on the validation windows
                own = dataclasses.replace(own, importance=importance.split_deltas(
                    trainer, member.experiment.config, own.params, windows))
            raw = raw_outputs(own, len(ids), member.experiment.settings.epochs)
            plan = member.experiment.plan
            if member.experiment.config.splits.refit_every > 1:
                followers = np.concatenate([np.flatnonzero((plan.refit_from == r) & (np.arange(len(plan)) != r))
                                            for r in ids])
                if len(followers):
                    follower = _forecast_followers(member.experiment, own, windows.split, followers, chunk,
                                                   _wants_importance(member))
                    raw = {name: np.concatenate([raw[name], part]) for name, part in
                           raw_outputs(follower, len(followers), member.experiment.settings.epochs).items()}
            for store in member.stores:
                store.save(raw)
                if member.experiment.config.output.save_params and isinstance(store, FolderStore):
                    saved.save_split_params(store.folder.parent / saved.FOLDER, ids, own.params)  # every split's
            finished += len(raw["split"]) - int(np.isin(raw["split"], list(done_ids[i])).sum())
        if position == 0:
            first_chunk_seconds = time.perf_counter() - started
        if progress:
            progress(min(finished, total), total, "training")
    seconds, compiled = time.perf_counter() - started, trainer.compile_seconds - compiled_before
    rows = sum(len(ids) for ids in to_train)
    sessions = []
    for member, ids in zip(members, to_train):
        share = len(ids) / rows  # the shared loop's time, split by the splits each member trained
        session = Session(trained=len(ids), seconds=seconds * share, compile_seconds=compiled * share,
                          first_chunk_seconds=first_chunk_seconds, chunk_size=chunk)
        if len(ids):
            for store in member.stores:
                store.log_session(session)
        sessions.append(session)
    return sessions


def _wants_importance(member: Member) -> bool:
    """Whether a member's splits get permutation importance: its config asks for it, or a store
    that takes its results does (a sweep's trials that share training)."""
    experiment = member.experiment
    return importance.wanted(experiment.config, experiment.prices) or any(
        "importance" in store.required for store in member.stores)


def _forecast_followers(experiment: Experiment, result: ChunkResult, trained_ids: np.ndarray, members: np.ndarray,
                        chunk: int, with_importance: bool = False) -> ChunkResult:
    """Splits between two refits: the latest trained model forecasts their validation windows
    (and, `with_importance`, ranks its inputs on them)."""
    config, plan, trainer = experiment.config, experiment.plan, experiment.trainer
    # fixed for the run, so the predict program compiles once; never more than the run's splits
    size = chunk * min(config.splits.refit_every - 1, math.ceil(len(plan) / chunk))
    padded = _pad(members, size)
    source = np.searchsorted(trained_ids, plan.refit_from[padded])  # sorted; padding repeats the last
    windows = split_windows(experiment, padded)
    params = jax.tree.map(lambda leaf: leaf[source], result.params)
    followers = result.take(source, padded, trainer.predict(params, windows.x_val), trainer.predict(params, windows.x_test))
    if with_importance:
        followers = dataclasses.replace(followers, importance=importance.split_deltas(trainer, config, params, windows))
    return followers


def _pad(ids: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([ids, np.full(size - len(ids), ids[-1])])


def next_point_forecast(experiment: Experiment, chunk: int, splits_table: pl.DataFrame,
                        store: MemoryStore | None = None, save_to: Path | None = None) -> dict[str, Any]:
    """Forecast the first date after the data: from the last window, and averaged over the last k.

    There is no validation window after the data, so these models train without early stopping
    for the median best epoch of the walk-forward splits (documented in docs/evaluation.md). They
    run through the walk-forward program itself (epochs and patience are inputs), so nothing new
    is compiled.
    """
    config, prices, trainer, width = experiment.config, experiment.prices, experiment.trainer, experiment.width
    k = min(config.evaluation.forecast_average, len(prices) - config.splits.train + 1)
    n, train = len(prices), config.splits.train
    stops = n - np.arange(k)
    starts = np.zeros(k, dtype=np.int64) if config.splits.mode == "expanding" else stops - train
    epochs = int(max(1, round(float(np.nanmedian(splits_table["best_epoch"].to_numpy())))))
    # the store's fingerprint covers data, model, training and splits; these are what else they read
    key = {"rows": n, "k": int(k), "epochs": epochs, "width": int(width)}
    cached = store.read_json(NEXT_FORECAST) if store is not None else None
    # a rerun that trained nothing new: no need to retrain them (unless their saved models are gone)
    if cached is not None and cached.get("key") == key and (save_to is None or saved.has_next_point(save_to)):
        return cached["forecast"], saved.load_next_point(save_to.parent) if save_to is not None else None
    pad = _pad(np.arange(k), math.ceil(k / chunk) * chunk)  # whole chunks of the walk-forward shape
    width = max(width, int((stops - starts).max()))  # the walk-forward width, unless expanding outgrew it
    started = []
    for first in range(0, len(pad), chunk):
        part = pad[first:first + chunk]
        series = prices.values if prices.learned is None else prices.learned  # what the model learns
        windows = next_point_windows(series, starts[part], stops[part], config.model.lookback,
                                     config.scaling.method, config.splits.val, width, config.splits.step,
                                     prices.inputs, config.model.horizon)
        # the forecast models get split indices after the walk-forward ones, so their seeds differ
        windows = dataclasses.replace(windows, split=np.arange(first, first + chunk) + 10**6)
        started.append((windows.scaler, trainer.start(windows, epochs=epochs, patience=0, hyper=experiment.hyper(chunk),
                                                      seed=config.train.seed)))
    results = [(scaler, trainer.collect(running, keep_params=True)) for scaler, running in started]
    forecasts = np.concatenate([scaling.invert(scaler, result.val_pred[:, 0].astype(np.float64))
                                for scaler, result in results])[:k]
    forecasts = to_price(config.data.target_transform, forecasts, prices.values[-1])  # from the last price
    ok = ~np.concatenate([result.failed for _, result in results])[:k]
    forecast = saved.forecast_record(prices, forecasts, ok, config.model.horizon, epochs)
    # issue 16: the trained models leave the run (wfbt.saved, docs/models.md), and serve Results.predict
    models = _next_point_models(experiment, results, k, starts, stops, width, windows, ok, forecast)
    if save_to is not None:
        saved.save_next_point(save_to, models.tensors, models.info, models.info["config"])
    if store is not None:
        store.write_json(NEXT_FORECAST, {"key": key, "forecast": forecast})
    return forecast, models


def _next_point_models(experiment: Experiment, results: list, k: int, starts: np.ndarray, stops: np.ndarray,
                       width: int, windows: Any, ok: np.ndarray, forecast: dict[str, Any]) -> saved.NextPointModels:
    """The next-point models, their scalers and what `predict` needs."""
    config, prices = experiment.config, experiment.prices
    params = jax.tree.map(lambda *parts: np.concatenate([np.asarray(p) for p in parts])[:k], *[r.params for _, r in results])
    offset = np.concatenate([scaler.offset for scaler, _ in results])[:k]
    scale = np.concatenate([scaler.scale for scaler, _ in results])[:k]
    columns = None
    if prices.inputs is not None:  # the input features' scalers, fit as the windows fit them
        columns = fit_input_scalers(config.scaling.method, prices.inputs, starts, stops - starts, width)
    rows = windows.x_val.shape[1] + windows.x_train.shape[1] + windows.x_test.shape[1]  # the final forward pass
    config_toml = to_toml(config, data_source=prices.source)
    info = saved.next_point_info(config.base_dirs, config.model.lookback, rows, _unroll(config, experiment.devices),
                                 output_count(config), starts, stops, forecast, config.model.horizon)
    return saved.NextPointModels(saved.next_point_tensors(params, offset, scale, ok, columns),
                                 info | {"config": config_toml})
