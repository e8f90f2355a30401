"""Diagnostics of saved forecasts: residual autocorrelation (Ljung-Box), and tests between runs.

Pure functions of arrays and tables. A forecast that used all the information in the past leaves
residuals with no autocorrelation; a small Ljung-Box p-value says some structure is still there
to model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy.special import gammaincc

from wfbt.evaluation import dm_test
from wfbt.pnl import one_forecast_per_date


def acf(values: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations r_0 .. r_nlags: sum of (x_t - mean)(x_(t+k) - mean) over the sum of
    squares (the biased estimator, as in Box-Jenkins and statsmodels)."""
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean()
    denominator = float(x @ x)
    if denominator == 0.0:
        return np.full(nlags + 1, np.nan)
    return np.array([float(x[: len(x) - k] @ x[k:]) / denominator for k in range(nlags + 1)])


def ljung_box(values: np.ndarray, lags: int) -> dict[str, float | int]:
    """Q = n (n + 2) sum_{k=1..lags} r_k^2 / (n - k), against chi-squared with `lags` degrees of
    freedom: the p-value of "no autocorrelation up to `lags`". NaNs are dropped first."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    lags = int(min(lags, n - 1))
    if lags < 1:
        return {"statistic": float("nan"), "p_value": float("nan"), "lags": lags, "n": n}
    r = acf(x, lags)[1:]
    statistic = float(n * (n + 2) * np.sum(r**2 / (n - np.arange(1, lags + 1))))
    p_value = float(gammaincc(lags / 2, statistic / 2)) if np.isfinite(statistic) else float("nan")
    return {"statistic": statistic, "p_value": p_value, "lags": lags, "n": n}


def default_lags(n: int) -> int:
    """min(10, n / 5): the usual choice for daily data, fewer for short series."""
    return max(1, min(10, n // 5))


def stitched_residuals(test_predictions: pl.DataFrame) -> pl.DataFrame:
    """date, actual, forecast, residual (actual - forecast) of the forecasts the P&L trades."""
    stitched = one_forecast_per_date(test_predictions)
    return stitched.select("date", "actual", "forecast", (pl.col("actual") - pl.col("forecast")).alias("residual"))


def residual_summary(test_predictions: pl.DataFrame | None) -> dict[str, Any] | None:
    """Mean, standard deviation and Ljung-Box test of the stitched out-of-sample residuals."""
    if test_predictions is None or test_predictions.height == 0:
        return None
    residual = stitched_residuals(test_predictions)["residual"].to_numpy()
    if len(residual) < 3:
        return None
    lags = default_lags(len(residual))
    return {"points": len(residual), "mean": float(residual.mean()), "std": float(residual.std(ddof=1)),
            "ljung_box": ljung_box(residual, lags)}


def dm_between_runs(runs: list[tuple[str, pl.DataFrame | None]], level: float = 0.05) -> list[dict[str, Any]]:
    """Diebold-Mariano between every pair of runs' stitched out-of-sample forecasts, on the dates
    both forecast. A negative statistic: run A's squared errors are smaller. Runs of different
    data (the actual values differ on shared dates) are not compared."""
    stitched = {name: None if frame is None or frame.height == 0 else
                one_forecast_per_date(frame).select("date", "actual", "forecast") for name, frame in runs}
    tests = []
    names = [name for name, _ in runs]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            test = {"a": a, "b": b, "statistic": float("nan"), "p_value": float("nan"), "n": 0}
            if stitched[a] is None or stitched[b] is None:
                tests.append(test | {"note": "no out-of-sample forecasts"})
                continue
            both = stitched[a].join(stitched[b], on="date", suffix="_b")
            actual, other = both["actual"].to_numpy(), both["actual_b"].to_numpy()
            if not np.allclose(actual, other, rtol=1e-6, atol=1e-9):
                tests.append(test | {"n": both.height, "note": "different data: not compared"})
                continue
            test |= dm_test(actual, both["forecast"].to_numpy(), both["forecast_b"].to_numpy())
            better = "-"
            if test["p_value"] < level:
                better = f"{a} better" if test["statistic"] < 0 else f"{b} better"
            elif np.isfinite(test["p_value"]):
                better = f"no difference at {level:.0%}"
            tests.append(test | {"note": better})
    return tests
