"""From engine output to the run's tables: per-split metrics, predictions, curves, summary.

`evaluate_chunk` runs right after a chunk trains and keeps only per-split arrays (what the
partial store saves); the table functions below turn all of them into the contract's CSVs.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import jax
import numpy as np
import polars as pl

from wfbt import scaling
from wfbt.config import Config
from wfbt.data import PriceSeries
from wfbt.engine import ChunkResult
from wfbt.evaluation import describe
from wfbt.features import WindowArrays
from wfbt.metrics import PRICE, SCALED, price_metrics, regression_metrics
from wfbt.splits import SplitPlan

METRIC_COLUMNS = ([f"train_{m}" for m in SCALED] + [f"val_{m}" for m in SCALED]
                  + ["val_mse_price", "val_rmse_price", "val_mae_price", "val_mape"])
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy", "polars", "rich")


def evaluate_chunk(windows: WindowArrays, result: ChunkResult, values: np.ndarray, plan: SplitPlan,
                   n_real: int) -> dict[str, np.ndarray]:
    """Per-split metrics and price-unit forecasts for the first `n_real` splits of a chunk."""
    keep = slice(0, n_real)
    splits = windows.split[keep]
    scaler = scaling.ScalerParams(windows.scaler.offset[keep], windows.scaler.scale[keep])
    failed = result.failed[keep]
    out: dict[str, np.ndarray] = {"split": splits}

    n_samples = windows.y_train.shape[1]
    train_weight = np.arange(n_samples)[None, :] < windows.n_train[keep, None]
    for name, value in regression_metrics(windows.y_train[keep], result.train_pred[keep], train_weight).items():
        out[f"train_{name}"] = value
    for name, value in regression_metrics(windows.y_val[keep], result.val_pred[keep]).items():
        out[f"val_{name}"] = value

    val_rows = plan.val_start[splits, None] + np.arange(windows.y_val.shape[1])
    actual = values[val_rows]
    forecast = scaling.invert(scaler, result.val_pred[keep].astype(np.float64))
    for name, value in price_metrics(actual, forecast).items():
        out[f"val_{name}"] = value
    for name in METRIC_COLUMNS:
        out[name] = np.where(failed, np.nan, out[name])
    out["val_actual"], out["val_last"] = actual, values[val_rows - 1]
    out["val_forecast"] = np.where(failed[:, None], np.nan, forecast)
    if result.val_var is not None:
        out["val_std"] = np.sqrt(result.val_var[keep].astype(np.float64)) * scaler.scale[:, None]
    out["epochs_run"], out["best_epoch"], out["failed"] = result.epochs_run[keep], result.best_epoch[keep], failed
    out["train_curve"], out["val_curve"] = result.train_curve[keep], result.val_curve[keep]
    return out


def splits_table(per_split: dict[str, np.ndarray], plan: SplitPlan, prices: PriceSeries) -> pl.DataFrame:
    s = per_split["split"]
    columns: dict[str, Any] = {
        "split": s,
        "train_start": prices.date_text(plan.train_start[plan.refit_from[s]]),
        "train_end": prices.date_text(plan.train_stop[plan.refit_from[s]] - 1),
        "val_start": prices.date_text(plan.val_start[s]),
        "val_end": prices.date_text(plan.val_stop[s] - 1),
        "epochs_run": per_split["epochs_run"],
        "best_epoch": per_split["best_epoch"],
        "status": np.where(per_split["failed"], "failed", "ok"),
    }
    columns.update({name: per_split[name] for name in METRIC_COLUMNS})
    return pl.DataFrame(columns)


def predictions_table(per_split: dict[str, np.ndarray], plan: SplitPlan, prices: PriceSeries) -> pl.DataFrame:
    s = per_split["split"]
    n_val = per_split["val_actual"].shape[1]
    rows = plan.val_start[s, None] + np.arange(n_val)
    columns = {
        "split": np.repeat(s, n_val),
        "date": prices.date_text(rows.ravel()),
        "actual": per_split["val_actual"].ravel(),
        "forecast": per_split["val_forecast"].ravel(),
        "last": per_split["val_last"].ravel(),
    }
    if "val_std" in per_split:
        columns["forecast_std"] = per_split["val_std"].ravel()
    return pl.DataFrame(columns)


def curves_table(per_split: dict[str, np.ndarray]) -> pl.DataFrame:
    s, train, val = per_split["split"], per_split["train_curve"], per_split["val_curve"]
    epochs = train.shape[1]
    frame = pl.DataFrame({
        "split": np.repeat(s, epochs),
        "epoch": np.tile(np.arange(1, epochs + 1), len(s)),
        "train_loss": train.ravel().astype(np.float64),
        "val_loss": val.ravel().astype(np.float64),
    })
    return frame.filter(pl.col("epoch") <= pl.lit(np.repeat(per_split["epochs_run"], epochs)))


def pooled(predictions: pl.DataFrame) -> dict[str, float]:
    """Price-unit metrics over every validation point of every successful split."""
    ok = predictions.filter(pl.col("forecast").is_finite())
    actual, forecast = ok["actual"].to_numpy()[None], ok["forecast"].to_numpy()[None]
    scaled = regression_metrics(actual, forecast)
    price = price_metrics(actual, forecast)
    return {"points": ok.height, **{k: float(v[0]) for k, v in price.items()},
            "r2_price": float(scaled["r2"][0]), "ev_price": float(scaled["ev"][0])}


def summary(*, config: Config, prices: PriceSeries, plan: SplitPlan, splits: pl.DataFrame,
            predictions: pl.DataFrame, curves: pl.DataFrame, devices: list, trained: dict[str, Any],
            seconds: float) -> dict[str, Any]:
    n_failed = int((splits["status"] == "failed").sum())
    train_seconds = trained["seconds"]
    return {
        "config": {"file": str(config.path)},
        "data": {"source": prices.source, "target": prices.target, "rows": len(prices),
                 "first_date": str(prices.date_text(0)), "last_date": str(prices.date_text(len(prices) - 1))},
        "splits": {"count": len(plan), "trained_now": trained["trained"], "failed": n_failed,
                   "mode": config.splits.mode, "train": config.splits.train, "val": config.splits.val,
                   "step": config.splits.step, "gap": config.splits.gap},
        "device": {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices),
                   "host": platform.node(), "python": platform.python_version()},
        "versions": {name: _version(name) for name in LIBRARIES},
        "seconds": {"total": seconds, "training": train_seconds, "first_chunk": trained["first_chunk_seconds"]},
        "chunk_size": trained["chunk_size"],
        "splits_per_second": trained["trained"] / train_seconds if train_seconds > 0 else None,
        "describe": {
            "train": {m: describe(splits[f"train_{m}"].to_numpy()) for m in SCALED},
            "val": {m: describe(splits[f"val_{m}"].to_numpy()) for m in SCALED + PRICE},
        },
        "pooled": pooled(predictions),
        "epochs": {"run": describe(splits["epochs_run"].to_numpy()), "best": describe(splits["best_epoch"].to_numpy())},
        "jax_backend": jax.default_backend(),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
