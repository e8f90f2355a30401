"""From raw training outputs to the run's tables: per-split metrics, predictions, curves.

The store keeps raw outputs only (`wfbt.schema.RAW`); `evaluate` recomputes every metric and
every baseline from them and the data each time tables are made, block by block, so a metric or
baseline added later appears in a resumed run without retraining anything. The table functions
turn the evaluated arrays into the CSVs whose columns `wfbt.schema` declares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from wfbt import horizons, schema, scaling
from wfbt.data import PriceSeries
from wfbt.engine import ChunkResult
from wfbt.baselines import BASELINES, baseline_forecasts, side_by_side
from wfbt.evaluation import dir_acc, up_scores
from wfbt.features import WindowArrays
from wfbt.metrics import SCALED, price_metrics, regression_metrics
from wfbt.splits import SplitPlan
from wfbt.transform import from_price, std_to_price, to_price

METRIC_COLUMNS = ([f"train_{m}" for m in SCALED] + [f"val_{m}" for m in SCALED]
                  + ["val_mse_price", "val_rmse_price", "val_mae_price", "val_mape"])
BASELINE_INPUTS = ("train_series", "train_len", "x_train", "y_train", "n_train", "x_val", "y_val", "last_val")
BLOCK_BYTES = 64 * 2**20  # windows rebuilt per evaluation block: memory stays flat for long windows


def evaluate(raw: dict[str, np.ndarray], windows_for: Callable[[np.ndarray], WindowArrays], values: np.ndarray,
             plan: SplitPlan, baselines: Sequence[str], window_bytes: int, target_transform: str = "none",
             price_windows_for: Callable[[np.ndarray], WindowArrays] | None = None) -> dict[str, np.ndarray]:
    """Every per-split metric and price-unit forecast, from the saved raw outputs.

    `windows_for(splits)` rebuilds the splits' scaled windows (a pure function of the data and the
    config: the very arrays they trained on); `window_bytes` is about what one split's windows take,
    to size the blocks. With a `target_transform` the model's windows hold the learned series and
    `price_windows_for` gives the price windows the price-space baselines read (`PRICE_BASELINES`)."""
    splits = raw["split"]
    block = max(1, BLOCK_BYTES // max(window_bytes, 1))
    parts = []
    for first in range(0, len(splits), block):
        rows = slice(first, first + block)
        result = ChunkResult(**{name: raw[name][rows] if name in raw else None for name in schema.RAW_NAMES})
        prices = price_windows_for(splits[rows]) if price_windows_for is not None else None
        parts.append(evaluate_chunk(windows_for(splits[rows]), result, values, plan, len(result.split), baselines,
                                    target_transform, prices))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def evaluate_chunk(windows: WindowArrays, result: ChunkResult, values: np.ndarray, plan: SplitPlan,
                   n_real: int, baselines: Sequence[str] = (), target_transform: str = "none",
                   price_windows: WindowArrays | None = None) -> dict[str, np.ndarray]:
    """Per-split metrics and price-unit forecasts for the first `n_real` splits of a chunk.

    The baselines forecast the same validation targets from the same scaled windows, so every
    forecaster is scored on identical splits, scaling and points. With a `target_transform` the
    model's forecasts are turned into prices at their origin (`wfbt.transform.to_price`). With
    `[model] horizon` h > 1 this scores step 1 and `horizons.evaluate_steps` adds the other steps.
    """
    if horizons.horizon_of(windows) > 1:
        return horizons.evaluate_steps(windows, result, values, plan, n_real, baselines, evaluate_chunk)
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
    forecast = to_price(target_transform, scaling.invert(scaler, result.val_pred[keep].astype(np.float64)),
                        values[val_rows - 1])
    for name, value in price_metrics(actual, forecast).items():
        out[f"val_{name}"] = value
    for name in METRIC_COLUMNS:
        out[name] = np.where(failed, np.nan, out[name])
    out["val_actual"], out["val_last"] = actual, values[val_rows - 1]
    out["val_forecast"] = np.where(failed[:, None], np.nan, forecast)
    if result.val_var is not None:
        out["val_std"] = std_to_price(target_transform,
                                      np.sqrt(result.val_var[keep].astype(np.float64)) * scaler.scale[:, None], forecast)
    test_rows = windows.test_rows[keep]
    past_data = test_rows >= len(values)
    out["test_last"] = values[np.minimum(test_rows, len(values)) - 1]
    test_forecast = to_price(target_transform, scaling.invert(scaler, result.test_pred[keep].astype(np.float64)),
                             out["test_last"])
    out["test_forecast"] = np.where(failed[:, None] | past_data, np.nan, test_forecast)
    out["test_actual"] = np.where(past_data, np.nan, values[np.minimum(test_rows, len(values) - 1)])
    last = out["val_last"]
    out["val_dir_acc"] = dir_acc(actual, out["val_forecast"], last)
    for name, value in up_scores(actual, out["val_forecast"], last).items():
        out[f"val_up_{name}"] = value
    if price_windows is None:
        val, after = baselines_on_val_and_after(baselines, windows, keep)
        for name, scaled_forecast in after.items():  # the same baselines on the points after the window
            out[f"{name}_test_forecast"] = np.where(past_data, np.nan,
                                                    scaling.invert(scaler, scaled_forecast.astype(np.float64)))
        on_val = {name: (scaled_forecast, scaling.invert(scaler, scaled_forecast.astype(np.float64)))
                  for name, scaled_forecast in val.items()}
    else:
        on_val, after = transformed_baselines(baselines, windows, price_windows, keep, target_transform,
                                              last, out["test_last"])
        for name, price_forecast in after.items():
            out[f"{name}_test_forecast"] = np.where(past_data, np.nan, price_forecast)
    for name, (scaled_forecast, base_forecast) in on_val.items():
        scaled_metrics = regression_metrics(windows.y_val[keep], scaled_forecast)
        price = price_metrics(actual, base_forecast)
        out[f"{name}_val_mse"], out[f"{name}_val_r2"] = scaled_metrics["mse"], scaled_metrics["r2"]
        out[f"{name}_val_rmse_price"], out[f"{name}_val_mae_price"] = price["rmse_price"], price["mae_price"]
        out[f"{name}_val_dir_acc"] = dir_acc(actual, base_forecast, last)
        out[f"{name}_forecast"] = base_forecast
    out["epochs_run"], out["best_epoch"], out["failed"] = result.epochs_run[keep], result.best_epoch[keep], failed
    out["train_curve"], out["val_curve"] = result.train_curve[keep], result.val_curve[keep]
    return out


def baselines_on_val_and_after(names: Sequence[str], windows: WindowArrays, keep: slice
                               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The baselines' scaled forecasts of the validation points and of the points after them,
    each baseline fit once (`baselines.side_by_side`)."""
    arrays = {k: getattr(windows, k)[keep] for k in BASELINE_INPUTS if k not in ("x_val", "last_val")}
    val, after = side_by_side(functools.partial(baseline_forecasts, names),
                              [(windows.x_val[keep], windows.last_val[keep]),
                               (windows.x_test[keep], windows.last_test[keep])], **arrays)
    return val, after


PRICE_BASELINES = ("naive", "drift", "mean")  # with a target transform they forecast prices, as without one


def transformed_baselines(baselines: Sequence[str], windows: WindowArrays, price_windows: WindowArrays, keep: slice,
                          target_transform: str, val_origin: np.ndarray, test_origin: np.ndarray
                          ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """The baselines of a run with a target transform: ({name: (validation forecast in the model's
    scaled units, in prices)}, {name: after-validation forecast in prices}).

    naive, drift and mean forecast the price from the price windows, exactly as in a run without
    the transform (naive: the last price, i.e. a zero return), so their price figures are the same
    in both runs; linear regresses the learned series on the model's own inputs (lags of the log
    return, or the features): a linear model on the same information. Each is scored in the model's
    scaled units through `from_price`, so `{baseline}_val_mse` compares with `val_mse`."""
    scaler = scaling.ScalerParams(windows.scaler.offset[keep], windows.scaler.scale[keep])
    price_scaler = scaling.ScalerParams(price_windows.scaler.offset[keep], price_windows.scaler.scale[keep])
    on_val, after = {}, {}
    for source, names in ((price_windows, [b for b in baselines if b in PRICE_BASELINES]),
                          (windows, [b for b in baselines if b not in PRICE_BASELINES])):
        if not names:
            continue
        val, test = baselines_on_val_and_after(names, source, keep)
        for name in names:
            if source is price_windows:
                price = scaling.invert(price_scaler, val[name].astype(np.float64))
                scaled = scaling.apply(scaler, from_price(target_transform, price, val_origin))
                after[name] = scaling.invert(price_scaler, test[name].astype(np.float64))
            else:
                scaled = val[name]
                price = to_price(target_transform, scaling.invert(scaler, scaled.astype(np.float64)), val_origin)
                after[name] = to_price(target_transform, scaling.invert(scaler, test[name].astype(np.float64)),
                                       test_origin)
            on_val[name] = (scaled, price)
    return {name: on_val[name] for name in baselines}, {name: after[name] for name in baselines}


def splits_table(per_split: dict[str, np.ndarray], plan: SplitPlan, prices: PriceSeries,
                 baselines: Sequence[str]) -> pl.DataFrame:
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
    names = schema.column_names(schema.SPLITS, table_baselines(baselines), horizon=_horizon(per_split))
    return pl.DataFrame({name: columns[name] if name in columns else per_split[name] for name in names})


def _horizon(per_split: dict[str, np.ndarray]) -> int:
    """The forecast steps of evaluated arrays: forecasts have a last axis of h steps when h > 1."""
    forecast = per_split["val_forecast"]
    return 1 if forecast.ndim == 2 else forecast.shape[2]


def table_baselines(baselines: Sequence[str]) -> list[str]:
    """The baselines of a run in the tables' order: the registry's."""
    return [name for name in BASELINES if name in baselines]


def predictions_table(per_split: dict[str, np.ndarray], plan: SplitPlan, prices: PriceSeries,
                      baselines: Sequence[str]) -> pl.DataFrame:
    s = per_split["split"]
    n_val = per_split["val_actual"].shape[1]
    rows = plan.val_start[s, None] + np.arange(n_val)
    horizon = _horizon(per_split)
    if horizon > 1:  # one row per (split, step, origin) whose target lies in the validation window
        names = schema.column_names(schema.PREDICTIONS, table_baselines(baselines), "val_std" in per_split, horizon)
        target_rows = rows[..., None] + np.arange(horizon)
        inside = np.broadcast_to(horizons.horizon_mask(n_val, horizon), target_rows.shape)
        columns = horizons.step_rows(per_split, {
            "target": target_rows, "actual": per_split["val_actual"], "forecast": per_split["val_forecast"],
            "last": per_split["val_last"], **({"forecast_std": per_split["val_std"]} if "val_std" in per_split else {}),
            **{f"{name}_forecast": per_split[f"{name}_forecast"] for name in table_baselines(baselines)}},
            target_rows.shape, inside)
        columns["date"] = prices.date_text(columns.pop("target"))
        return pl.DataFrame({name: columns[name] for name in names})
    columns = {
        "split": np.repeat(s, n_val),
        "date": prices.date_text(rows.ravel()),
        "actual": per_split["val_actual"].ravel(),
        "forecast": per_split["val_forecast"].ravel(),
        "last": per_split["val_last"].ravel(),
    }
    if "val_std" in per_split:
        columns["forecast_std"] = per_split["val_std"].ravel()
    for name in table_baselines(baselines):
        columns[f"{name}_forecast"] = per_split[f"{name}_forecast"].ravel()
    names = schema.column_names(schema.PREDICTIONS, table_baselines(baselines), variance="val_std" in per_split)
    return pl.DataFrame({name: columns[name] for name in names})


def test_predictions_table(per_split: dict[str, np.ndarray], plan: SplitPlan, prices: PriceSeries,
                           baselines: Sequence[str]) -> pl.DataFrame:
    """Forecasts of the points after each validation window (`test_predictions.csv`, the P&L's input).

    The model of split s was trained on its training window and early-stopped on its validation
    window; it never saw these points, so trading on them involves no look-ahead at all.
    """
    s = per_split["split"]
    width = per_split["test_forecast"].shape[1]
    rows = plan.val_stop[s, None] + np.arange(width)
    horizon = _horizon(per_split)
    if horizon > 1:  # one row per (split, step, origin) whose target lies inside the data
        target_rows = rows[..., None] + np.arange(horizon)
        columns = horizons.step_rows(per_split, {
            "target": target_rows, "actual": per_split["test_actual"], "forecast": per_split["test_forecast"],
            "last": per_split["test_last"],
            **{f"{name}_forecast": per_split[f"{name}_test_forecast"] for name in table_baselines(baselines)}},
            target_rows.shape, target_rows < len(prices))
        columns["date"] = prices.date_text(columns.pop("target"))
        names = schema.column_names(schema.TEST_PREDICTIONS, table_baselines(baselines), horizon=horizon)
        return pl.DataFrame({name: columns[name] for name in names})
    inside = (rows < len(prices)).ravel()
    columns = {
        "split": np.repeat(s, width)[inside],
        "date": prices.date_text(rows.ravel()[inside]),
        "actual": per_split["test_actual"].ravel()[inside],
        "forecast": per_split["test_forecast"].ravel()[inside],
        "last": per_split["test_last"].ravel()[inside],
        **{f"{name}_forecast": per_split[f"{name}_test_forecast"].ravel()[inside]
           for name in table_baselines(baselines)},
    }
    return pl.DataFrame({name: columns[name] for name in schema.column_names(schema.TEST_PREDICTIONS,
                                                                             table_baselines(baselines))})


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
