"""Multi-step forecasts (`[model] horizon = h`): per-step evaluation, tables and summary.

A model with horizon h forecasts the next h points from each input window at once (a direct
multi-output head). Validation row i of a split (its inputs end just before validation point i,
the *origin*) forecasts validation points i .. i+h-1, step k being point i + k - 1; a step whose
target lies past the validation window is masked, in training (early stopping) as here. Step 1
is exactly what an h = 1 run forecasts, so every step-1 table, metric, test and the P&L keep
their h = 1 meaning; this module adds the other steps beside them. With h = 1 none of it runs.

- `evaluate_steps`: a chunk's per-split metrics and price-unit forecasts of every step, baselines
  included (naive: the origin's value; drift: k steps of drift; mean; linear fit per step).
- `step_summary`: `summary.json`'s `horizons` table: per step, the metric distributions of the
  model and the baselines, the share of splits it beats them, and Diebold-Mariano tests with
  HLN's correction for h = k on the stitched step-k forecasts (validation and after it).
- `next_dates`, `steps_record`: the dates and figures of the next-point forecast's h steps.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from wfbt import scaling
from wfbt.baselines import baseline_step_forecasts, side_by_side
from wfbt.data import PriceSeries, date_labels
from wfbt.evaluation import describe, dir_acc, dm_test, share_better
from wfbt.features import WindowArrays, horizon_mask
from wfbt.metrics import price_metrics, regression_metrics
from wfbt.pnl import one_forecast_per_date
from wfbt.splits import SplitPlan

STEP_COMPARED = ("val_rmse_price", "val_mae_price", "val_dir_acc")  # per step, model and baselines


def horizon_of(windows: WindowArrays) -> int:
    """The forecast steps h of a chunk's windows (1: targets without a step axis)."""
    return 1 if windows.y_val.ndim == 2 else int(windows.y_val.shape[2])


def first_step(windows: WindowArrays, result: Any) -> tuple[WindowArrays, Any]:
    """The windows and raw outputs of step 1 alone: what an h = 1 evaluation reads (the training
    samples stay the h-step ones: the same fit, scored on its first step)."""
    windows = dataclasses.replace(windows, y_train=windows.y_train[..., 0], y_val=windows.y_val[..., 0],
                                  test_rows=windows.test_rows[..., 0])
    steps = {name: getattr(result, name)[..., 0] for name in ("val_pred", "val_var", "train_pred", "test_pred",
                                                              "test_var") if getattr(result, name) is not None}
    return windows, dataclasses.replace(result, **steps)


def evaluate_steps(windows: WindowArrays, result: Any, values: np.ndarray, plan: SplitPlan, n_real: int,
                   baselines: Sequence[str], evaluate_one: Callable[..., dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """`evaluate_one` (the h = 1 evaluation) on step 1, then every step's forecasts and the metrics of
    steps 2 .. h. Forecast arrays get a last axis of h steps (NaN where a step's target lies past
    the validation window, or past the data after it); `val_last` / `test_last` stay the origin's value."""
    horizon = horizon_of(windows)
    out = evaluate_one(*first_step(windows, result), values, plan, n_real, baselines)
    keep = slice(0, n_real)
    splits, failed = windows.split[keep], result.failed[keep]
    scaler = scaling.ScalerParams(windows.scaler.offset[keep], windows.scaler.scale[keep])
    val_len = windows.y_val.shape[1]
    inside = horizon_mask(val_len, horizon)[None]  # (1, V, h)
    target_rows = plan.val_start[splits, None, None] + np.minimum(np.arange(val_len)[:, None] + np.arange(horizon),
                                                                  val_len - 1)
    actual = np.where(inside, values[target_rows], np.nan)
    last = out["val_last"][..., None]  # the origin's value, (S, V, 1)
    forecast = np.where(failed[:, None, None] | ~inside, np.nan,
                        scaling.invert(scaler, result.val_pred[keep].astype(np.float64)))
    arrays = {k: getattr(windows, k)[keep] for k in ("train_series", "train_len", "x_train", "y_train", "n_train")}
    # each baseline fit once for the validation points and the points after them
    base_scaled, after = side_by_side(functools.partial(baseline_step_forecasts, baselines, horizon),
                                      [(windows.x_val[keep], windows.last_val[keep]),
                                       (windows.x_test[keep], windows.last_test[keep])], **arrays)
    base = {name: np.where(inside, scaling.invert(scaler, f.astype(np.float64)), np.nan) for name, f in base_scaled.items()}
    y_val, val_pred = windows.y_val[keep], result.val_pred[keep]
    for k in range(2, horizon + 1):
        origins = slice(0, val_len - k + 1)  # the rows whose step-k target is inside the window
        step = (slice(None), origins, k - 1)
        scaled = regression_metrics(y_val[step], val_pred[step])
        out[f"val_mse_h{k}"] = np.where(failed, np.nan, scaled["mse"])
        for name, value in price_metrics(actual[step], forecast[step]).items():
            out[f"val_{name}_h{k}"] = np.where(failed, np.nan, value)
        out[f"val_dir_acc_h{k}"] = dir_acc(actual[step], forecast[step], last[..., 0][:, origins])
        for name in base:
            price = price_metrics(actual[step], base[name][step])
            out[f"{name}_val_mse_h{k}"] = regression_metrics(y_val[step], base_scaled[name][step])["mse"]
            out[f"{name}_val_rmse_price_h{k}"], out[f"{name}_val_mae_price_h{k}"] = price["rmse_price"], price["mae_price"]
            out[f"{name}_val_dir_acc_h{k}"] = dir_acc(actual[step], base[name][step], last[..., 0][:, origins])
    out["val_actual"], out["val_forecast"] = actual, forecast
    out.update({f"{name}_forecast": value for name, value in base.items()})
    if result.val_var is not None:
        out["val_std"] = np.sqrt(result.val_var[keep].astype(np.float64)) * scaler.scale[:, None, None]

    test_rows = windows.test_rows[keep]  # (S, P, h)
    past_data = test_rows >= len(values)
    out["test_forecast"] = np.where(failed[:, None, None] | past_data, np.nan,
                                    scaling.invert(scaler, result.test_pred[keep].astype(np.float64)))
    out["test_actual"] = np.where(past_data, np.nan, values[np.minimum(test_rows, len(values) - 1)])
    for name, scaled_forecast in after.items():
        out[f"{name}_test_forecast"] = np.where(past_data, np.nan, scaling.invert(scaler, scaled_forecast.astype(np.float64)))
    return out


def step_rows(per_split: dict[str, np.ndarray], columns: dict[str, np.ndarray], shape: tuple[int, int, int],
              keep: np.ndarray) -> dict[str, np.ndarray]:
    """Table columns of forecasts (S, R, h), one row per (split, step, origin) where `keep` (S, R, h)
    holds, ordered by split, then step, then origin: step 1's rows of a split first, as an h = 1 run
    has them. `columns`: name -> (S, R, h) array, or (S, R) (the origin's, repeated for each step)."""
    horizon = shape[2]
    order = np.moveaxis(keep, 2, 1)  # (S, h, R)
    flat = {"split": np.broadcast_to(per_split["split"][:, None, None], order.shape)[order],
            "horizon": np.broadcast_to(np.arange(1, horizon + 1)[None, :, None], order.shape)[order]}
    for name, value in columns.items():
        value = value if value.ndim == 3 else np.broadcast_to(value[..., None], shape)
        flat[name] = np.moveaxis(value, 2, 1)[order]
    return flat


def step_dm(frame: pl.DataFrame, step: int, baselines: Sequence[str], first_per_split: bool) -> dict[str, Any]:
    """Diebold-Mariano of the model against each baseline on the step-`step` forecasts, one per date
    (`pnl.one_forecast_per_date`; each split's first step-k row when `first_per_split`, as the
    validation test takes each split's one-step forecast), with HLN's correction for h = `step`."""
    rows = frame.filter(pl.col("horizon") == step)
    if first_per_split:
        rows = rows.group_by("split", maintain_order=True).first()
    stitched = one_forecast_per_date(rows, horizon=step)
    actual = stitched["actual"].to_numpy()
    return {name: dm_test(actual, stitched["forecast"].to_numpy(), stitched[f"{name}_forecast"].to_numpy(), horizon=step)
            for name in baselines}


def step_summary(splits: pl.DataFrame, predictions: pl.DataFrame, test_predictions: pl.DataFrame,
                 baselines: Sequence[str], horizon: int) -> dict[str, Any]:
    """summary.json's `horizons`: for each step k, the distributions of the compared metrics (model
    and baselines), the share of splits the model beats each baseline (by MSE), and the DM tests."""
    per_step = []
    for k in range(1, horizon + 1):
        suffix = "" if k == 1 else f"_h{k}"
        forecasters = {"model": ""} | {name: f"{name}_" for name in baselines}
        model_mse = splits[f"val_mse{suffix}"].to_numpy()
        per_step.append({
            "step": k,
            "compare": {metric: {who: describe(splits[f"{prefix}{metric}{suffix}"].to_numpy())
                                 for who, prefix in forecasters.items()} for metric in STEP_COMPARED},
            "model_beats_share": {name: share_better(model_mse, splits[f"{name}_val_mse{suffix}"].to_numpy())
                                  for name in baselines},
            "dm_test": step_dm(predictions, k, baselines, first_per_split=True),
            "dm_test_after_validation": step_dm(test_predictions, k, baselines, first_per_split=False),
        })
    return {"steps": horizon, "per_step": per_step}


def next_dates(prices: PriceSeries, count: int) -> list[str]:
    """Labels of the `count` rows after the data, by `PriceSeries.next_date_text`'s rule (business
    days for daily business-day data, else the most common step)."""
    last = prices.dates[-1]
    steps, counts = np.unique(np.diff(prices.dates), return_counts=True)
    step = steps[np.argmax(counts)] if len(steps) else np.timedelta64(1, "D")
    day = last.astype("datetime64[D]")
    ahead = np.arange(1, count + 1)
    if step == np.timedelta64(1, "D") and np.is_busday(prices.dates.astype("datetime64[D]")).all():
        dates = np.busday_offset(day, ahead, roll="forward") + (last - day)
    else:
        dates = last + ahead * step
    return [str(label) for label in date_labels(dates)]


def steps_record(prices: PriceSeries, forecasts: np.ndarray, ok: np.ndarray) -> dict[str, Any]:
    """The next-point forecast's steps: their dates, the last window's and the average forecast of
    each (over the windows that trained without failing), and every window's (k, h)."""
    return {"dates": next_dates(prices, forecasts.shape[1]),
            "last_window": forecasts[0].tolist() if ok[0] else None,
            "average": forecasts[ok].mean(axis=0).tolist() if ok.any() else None,
            "forecasts": forecasts.tolist()}
