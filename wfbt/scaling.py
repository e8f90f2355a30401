"""Scalers as pure fit/apply pairs, vectorised over splits.

`fit` sees only each split's training window (the `mask` marks its valid points), so no split's
scaling can depend on its validation window or on anything later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("minmax", "zscore", "none")


@dataclass(frozen=True)
class ScalerParams:
    """scaled = (price - offset) / scale, one (offset, scale) per split."""

    offset: np.ndarray  # (S,), or (S, F): one per split and input column (`fit_columns`)
    scale: np.ndarray  # (S,), or (S, F)


def fit(method: str, train_values: np.ndarray, mask: np.ndarray) -> ScalerParams:
    """Fit one scaler per row of `train_values` (S, W) on the points where `mask` is true."""
    values = train_values.astype(np.float64)
    if method == "minmax":
        low = np.where(mask, values, np.inf).min(axis=1)
        high = np.where(mask, values, -np.inf).max(axis=1)
        offset, scale = low, high - low
    elif method == "zscore":
        count = mask.sum(axis=1)
        offset = np.where(mask, values, 0.0).sum(axis=1) / count
        scale = np.sqrt(np.where(mask, (values - offset[:, None]) ** 2, 0.0).sum(axis=1) / count)
    elif method == "none":
        offset, scale = np.zeros(len(values)), np.ones(len(values))
    else:
        raise ValueError(f"unknown scaling method {method!r}")
    scale = np.where(scale > 0, scale, 1.0)  # a flat window scales by 1 rather than dividing by 0
    return ScalerParams(offset=offset, scale=scale)


def apply(params: ScalerParams, values: np.ndarray) -> np.ndarray:
    """Scale `values` (S, ...) with each split's own parameters."""
    shape = (-1,) + (1,) * (values.ndim - 1)
    return (values - params.offset.reshape(shape)) / params.scale.reshape(shape)


def invert(params: ScalerParams, scaled: np.ndarray) -> np.ndarray:
    """Back to price units."""
    shape = (-1,) + (1,) * (scaled.ndim - 1)
    return scaled * params.scale.reshape(shape) + params.offset.reshape(shape)


def fit_columns(method: str, train_values: np.ndarray, mask: np.ndarray) -> ScalerParams:
    """One scaler per split and per column of `train_values` (S, W, F), on the points where `mask`
    (S, W) is true: each input feature is scaled on its own training window only."""
    splits, width, columns = train_values.shape
    rows = np.moveaxis(train_values, 2, 1).reshape(splits * columns, width)
    params = fit(method, rows, np.repeat(mask, columns, axis=0))
    return ScalerParams(params.offset.reshape(splits, columns), params.scale.reshape(splits, columns))


def apply_columns(params: ScalerParams, values: np.ndarray) -> np.ndarray:
    """Scale `values` (S, ..., F) with each split's and column's own parameters."""
    shape = (params.offset.shape[0],) + (1,) * (values.ndim - 2) + (params.offset.shape[1],)
    return (values - params.offset.reshape(shape)) / params.scale.reshape(shape)
