"""The run summary (`summary.json`): facts, per-split distributions, baselines, tests, curves.

Pure functions of the run's tables; `report.py` renders the result and computes nothing.
"""

from __future__ import annotations

import dataclasses
import platform
from importlib import metadata
from typing import Any

import polars as pl

from wfbt.config import Config
from wfbt.data import PriceSeries
from wfbt.diagnostics import residual_summary
from wfbt.evaluation import describe, dm_test, interval_coverage, share_better
from wfbt.horizons import step_summary
from wfbt.metrics import PRICE, SCALED, price_metrics, regression_metrics
from wfbt.pnl import StrategyResult, one_forecast_per_date
from wfbt.splits import SplitPlan
from wfbt.store import Session
from wfbt.strategy import Strategy, parameter_values

LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy", "polars", "rich")
COMPARED = ("val_rmse_price", "val_mae_price", "val_r2", "val_dir_acc")


def run_summary(*, config: Config, prices: PriceSeries, plan: SplitPlan, splits: pl.DataFrame,
                predictions: pl.DataFrame, test_predictions: pl.DataFrame, curves: pl.DataFrame,
                baselines: list[str], device: dict[str, Any], session: Session, sessions: list[Session],
                stages: dict[str, float], strategy: Strategy | None, strategy_result: StrategyResult | None,
                next_forecast: dict[str, Any] | None, as_run: dict[str, Any], seconds: float,
                importance: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole summary.json, built here and nowhere else.

    Training figures (seconds, compile, splits per second) add up every session that trained the
    saved splits, so a rerun that trains nothing keeps the original figures; `seconds.total`
    and `splits.trained_now` are this run's. With `[model] horizon` h > 1 every figure below is of
    step 1 (the one-step forecasts), and `horizons` holds the per-step comparison."""
    steps = None
    if config.model.horizon > 1:
        steps = step_summary(splits, predictions, test_predictions, baselines, config.model.horizon)
        predictions, test_predictions = (frame.filter(pl.col("horizon") == 1) for frame in (predictions, test_predictions))
    trained = [s for s in sessions if s.trained]
    train_seconds = sum(s.seconds for s in trained)
    compile_seconds = sum(s.compile_seconds for s in trained)
    splits_trained = sum(s.trained for s in trained)
    summary = {
        "config": {"file": str(config.path), "as_run": as_run},
        "data": {"source": prices.source, "target": prices.target, "rows": len(prices),
                 "first_date": str(prices.date_text(0)), "last_date": str(prices.date_text(len(prices) - 1)),
                 "inputs": list(prices.input_names) or [prices.target], "warmup_rows": prices.warmup,
                 "quality": prices.verdict},
        "splits": {"count": len(plan), "trained_now": session.trained,
                   "failed": int((splits["status"] == "failed").sum()), "mode": config.splits.mode,
                   "train": config.splits.train, "val": config.splits.val, "step": config.splits.step,
                   "gap": config.splits.gap, "refit_every": config.splits.refit_every},
        "model": {"name": config.model.name, "loss": config.train.loss, "epochs": config.train.epochs},
        "device": device,
        "versions": {name: _version(name) for name in LIBRARIES},
        "seconds": {"total": seconds, "training": train_seconds,
                    "first_chunk": trained[0].first_chunk_seconds if trained else 0.0,
                    "compile": compile_seconds, **stages},
        "training_sessions": [dataclasses.asdict(s) for s in trained],
        "chunk_size": trained[-1].chunk_size if trained else 0,
        # trained splits per second of training, compilation excluded (it is reported on its own)
        "splits_per_second": (splits_trained / (train_seconds - compile_seconds)
                              if train_seconds > compile_seconds else None),
        "describe": {
            "train": {m: describe(splits[f"train_{m}"].to_numpy()) for m in SCALED},
            "val": {m: describe(splits[f"val_{m}"].to_numpy()) for m in SCALED + PRICE + ("dir_acc",)},
        },
        "pooled": pooled(predictions),
        "epochs": {"run": describe(splits["epochs_run"].to_numpy()), "best": describe(splits["best_epoch"].to_numpy())},
        "curves": curve_bands(curves),
    }
    summary.update(comparison(splits, predictions, baselines))
    if steps is not None:
        summary["horizons"] = steps
    summary["dm_test_after_validation"] = after_validation_dm(test_predictions, baselines)
    summary["residuals"] = residual_summary(test_predictions)  # Ljung-Box of the out-of-sample residuals
    if "forecast_std" in predictions.columns:
        summary["coverage"] = coverage(predictions)
    if next_forecast is not None:
        summary["next_forecast"] = next_forecast
    if importance is not None:  # wfbt.importance.importance_summary: per input, over splits
        summary["importance"] = importance
    if config.data.target_transform != "none":  # scaled metrics are in the learned series' units
        summary["data"]["target_transform"] = config.data.target_transform
    if strategy is not None and strategy_result is not None:
        summary["strategy"] = {"name": config.strategy.name, "params": parameter_values(strategy),
                               "cost_bps": config.strategy.cost_bps, "slippage_bps": config.strategy.slippage_bps,
                               "figures": strategy_result.figures, "buy_hold": strategy_result.buy_hold,
                               "periods_per_year": strategy_result.periods_per_year,
                               "periods_per_year_source": strategy_result.periods_per_year_source}
    return summary


def pooled(predictions: pl.DataFrame) -> dict[str, float]:
    """Price-unit metrics over every validation point of every successful split. R^2 and
    explained variance are of the forecast move (forecast - last) against the actual move
    (actual - last): on price levels pooled over years they come out near 1 for any forecast
    that stays near the last price, the naive one included."""
    ok = predictions.filter(pl.col("forecast").is_finite())
    actual, forecast, last = (ok[c].to_numpy()[None] for c in ("actual", "forecast", "last"))
    moves = regression_metrics(actual - last, forecast - last)
    price = price_metrics(actual, forecast)
    return {"points": ok.height, **{k: float(v[0]) for k, v in price.items()},
            "r2_moves": float(moves["r2"][0]), "ev_moves": float(moves["ev"][0])}


def comparison(splits: pl.DataFrame, predictions: pl.DataFrame, baselines: list[str]) -> dict[str, Any]:
    """Model vs baselines on the same splits: distributions, share of wins, Diebold-Mariano."""
    forecasters = {"model": ""} | {name: f"{name}_" for name in baselines}
    distributions = {
        metric: {who: describe(splits[f"{prefix}{metric}"].to_numpy()) for who, prefix in forecasters.items()}
        for metric in COMPARED
    }
    model_mse = splits["val_mse"].to_numpy()
    share = {name: share_better(model_mse, splits[f"{name}_val_mse"].to_numpy()) for name in baselines}
    stitched = one_step_series(predictions)
    actual = stitched["actual"].to_numpy()
    dm = {name: dm_test(actual, stitched["forecast"].to_numpy(), stitched[f"{name}_forecast"].to_numpy())
          for name in baselines}
    return {"baselines": baselines, "compare": distributions, "model_beats_share": share, "dm_test": dm,
            "dm_points": {"first_date": stitched["date"][0] if stitched.height else None,
                          "last_date": stitched["date"][-1] if stitched.height else None}}


def after_validation_dm(test_predictions: pl.DataFrame, baselines: list[str]) -> dict[str, Any]:
    """DM tests on the forecasts of the points after each validation window (one per date by
    `one_forecast_per_date`): no early-stopping choice saw them, unlike the validation forecasts."""
    stitched = one_forecast_per_date(test_predictions)
    actual = stitched["actual"].to_numpy()
    return {name: dm_test(actual, stitched["forecast"].to_numpy(), stitched[f"{name}_forecast"].to_numpy())
            for name in baselines}


def one_step_series(predictions: pl.DataFrame) -> pl.DataFrame:
    """The one-step-ahead validation forecasts (each split's first validation point), one per date
    by `one_forecast_per_date`; of step 1 for a table with a `horizon` column."""
    if "horizon" in predictions.columns:
        predictions = predictions.filter(pl.col("horizon") == 1)
    return one_forecast_per_date(predictions.group_by("split", maintain_order=True).first())


def curve_bands(curves: pl.DataFrame) -> dict[str, list[float]]:
    """Median and quartile band of the train and validation loss per epoch, over splits."""
    bands = (
        curves.group_by("epoch").agg(
            *(pl.col(c).quantile(q, interpolation="linear").alias(f"{c}_{name}")
              for c in ("train_loss", "val_loss") for q, name in ((0.25, "q25"), (0.5, "median"), (0.75, "q75"))),
            pl.len().alias("splits"),
        ).sort("epoch")
    )
    return {name: bands[name].to_list() for name in bands.columns}


def coverage(predictions: pl.DataFrame) -> dict[str, float]:
    """Share of validation points inside the central 80% and 95% Gaussian intervals."""
    ok = predictions.filter(pl.col("forecast").is_finite())
    std = ok["forecast_std"].to_numpy()
    shares = interval_coverage(ok["actual"].to_numpy(), ok["forecast"].to_numpy(), std**2, levels=(0.8, 0.95))
    return {f"{int(level * 100)}%": float(share) for level, share in shares.items()}


def device_facts(devices: list) -> dict[str, Any]:
    return {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices),
            "host": platform.node(), "python": platform.python_version()}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
