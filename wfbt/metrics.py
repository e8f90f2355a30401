"""Forecast metrics as pure functions of arrays, vectorised over a leading split axis.

`weight` marks the real points of padded rows (expanding windows); definitions follow
scikit-learn: R^2 = 1 - SS_res / SS_tot, explained variance = 1 - Var(y - yhat) / Var(y), and
for a constant target 1 if the forecast is perfect, else 0 (its `force_finite`).
MAPE is in percent.
"""

from __future__ import annotations

import numpy as np

SCALED = ("mse", "rmse", "mae", "r2", "ev")
PRICE = ("mse_price", "rmse_price", "mae_price", "mape")


def _mean(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return (values * weight).sum(axis=-1) / weight.sum(axis=-1)


def regression_metrics(actual: np.ndarray, forecast: np.ndarray, weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """mse, rmse, mae, r2, ev per row of (S, V) arrays (float64 inside)."""
    y, yhat = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    w = np.ones_like(y) if weight is None else np.asarray(weight, np.float64)
    err = y - yhat
    mse = _mean(err**2, w)
    y_mean = _mean(y, w)
    ss_tot = _mean((y - y_mean[..., None]) ** 2, w)
    err_mean = _mean(err, w)
    err_var = _mean((err - err_mean[..., None]) ** 2, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a constant target: 1 for a perfect forecast, else 0 (scikit-learn's force_finite)
        r2 = np.where(ss_tot > 0, 1.0 - mse / ss_tot, np.where(mse == 0, 1.0, 0.0))
        ev = np.where(ss_tot > 0, 1.0 - err_var / ss_tot, np.where(err_var == 0, 1.0, 0.0))
        r2, ev = (np.where(np.isnan(mse), np.nan, v) for v in (r2, ev))
    return {"mse": mse, "rmse": np.sqrt(mse), "mae": _mean(np.abs(err), w), "r2": r2, "ev": ev}


def price_metrics(actual: np.ndarray, forecast: np.ndarray) -> dict[str, np.ndarray]:
    """mse_price, rmse_price, mae_price, mape (percent) per row."""
    y, yhat = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    err = y - yhat
    mse = (err**2).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = 100.0 * np.abs(err / y).mean(axis=-1)
    return {"mse_price": mse, "rmse_price": np.sqrt(mse), "mae_price": np.abs(err).mean(axis=-1), "mape": mape}
