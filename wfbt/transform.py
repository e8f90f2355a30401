"""What the model learns: the price itself, or its next one-period log return.

`[data] target_transform = "log_return"` trains every model on r_t = log(p_t / p_(t-1)) instead of
the price p_t; every forecast is turned back into a price at its origin, the last price observed
before it: p̂_t = p_(t-1) · exp(r̂_t). `to_price` is the one place that does it (validation and
after-validation forecasts, the next-point forecast, `wfbt predict`), so every price-unit metric,
predictions.csv, the P&L and the next-point forecast stay in prices and runs with and without the
transform compare point for point. A forecast k steps ahead from the same origin would use the
cumulative return log(p_(t+k-1) / p_(t-1)), which for k = 1 is this one: `to_price` serves both.

>>> import numpy as np
>>> float(to_price("log_return", np.log(1.1), 100.0))
110.00000000000001
>>> float(from_price("log_return", 110.0, 100.0))  # its inverse: the return a price forecast implies
0.09531017980432493
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("none", "log_return")


def learned_series(values: np.ndarray, transform: str) -> np.ndarray | None:
    """The series the model learns, aligned with `values` (row t: r_t); None: the prices
    themselves. Row 0 has no previous price: NaN, dropped as a warm-up row (`wfbt.data`)."""
    if transform == "none":
        return None
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.concatenate([[np.nan], np.log(values[1:] / values[:-1])])


def to_price(transform: str, forecast: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Forecasts of the learned quantity (unscaled) as prices; `origin`: the last price observed
    before each forecast, broadcast against it. The identity without a transform."""
    if transform == "none":
        return forecast
    return np.asarray(origin, dtype=np.float64) * np.exp(forecast)


def from_price(transform: str, price: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """The inverse of `to_price`: the learned quantity a price forecast implies (a baseline's
    price forecast, scored in the model's units)."""
    if transform == "none":
        return price
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(price, dtype=np.float64) / origin)


def std_to_price(transform: str, std: np.ndarray, price_forecast: np.ndarray) -> np.ndarray:
    """A predictive standard deviation of the learned quantity in price units: to first order
    (delta method) p̂ · σ_r for a log return, whose price is p_(t-1) · exp(r)."""
    if transform == "none":
        return std
    return np.abs(price_forecast) * std
