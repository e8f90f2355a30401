"""Evaluation statistics: direction scores, the Diebold-Mariano test, interval coverage, summaries.

Pure functions of numpy arrays. Per-split functions reduce over the last axis, so an (S, V) array
of validation points gives one number per split; pass flattened arrays (``np.ravel``) to pool every
point of every split into one number. Points where any input is NaN (a failed split, padding) are
left out; a split with no points left gets NaN rather than a misleading 0.

See ``docs/evaluation.md`` for the formulas and how to read each figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from statistics import NormalDist

import numpy as np


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (a 0/0 share is undefined)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


def _valid_points(*arrays: np.ndarray) -> np.ndarray:
    """True where no array holds NaN: the points a metric may count."""
    valid = np.ones(np.broadcast(*arrays).shape, dtype=bool)
    for array in arrays:
        valid &= ~np.isnan(np.asarray(array, dtype=np.float64))
    return valid


# ---------------------------------------------------------------------------------------------
# Direction of the move: did the forecast call the next move right?
# ---------------------------------------------------------------------------------------------


def dir_acc(actual: np.ndarray, forecast: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Share of points where the forecast moves the same way as the actual value, per split.

    A hit is ``sign(forecast - last) == sign(actual - last)`` with three classes: up, flat (exactly
    zero change) and down. A flat forecast is a hit only when the price did not move, and a move
    forecast on a flat day is a miss. This is what a trader acting on the sign would score.
    Reduces over the last axis; NaN for a split without valid points.
    """
    actual, forecast, last = (np.asarray(a, dtype=np.float64) for a in (actual, forecast, last))
    valid = _valid_points(actual, forecast, last)
    hit = (np.sign(forecast - last) == np.sign(actual - last)) & valid
    return _ratio(hit.sum(axis=-1), valid.sum(axis=-1))


def up_confusion(
    actual: np.ndarray, forecast: np.ndarray, last: np.ndarray
) -> dict[str, np.ndarray]:
    """Counts of the "up" classification per split: ``tp, fp, fn, tn`` (reducing the last axis).

    Up means a strict rise from the last observed value: actual up ``actual > last``, predicted up
    ``forecast > last``. Flat counts as not up, on both sides.
    """
    actual, forecast, last = (np.asarray(a, dtype=np.float64) for a in (actual, forecast, last))
    valid = _valid_points(actual, forecast, last)
    actual_up = (actual > last) & valid
    predicted_up = (forecast > last) & valid
    return {
        "tp": (actual_up & predicted_up).sum(axis=-1),
        "fp": (~actual_up & predicted_up).sum(axis=-1),
        "fn": (actual_up & ~predicted_up).sum(axis=-1),
        "tn": (~actual_up & ~predicted_up & valid).sum(axis=-1),
    }


def up_scores(actual: np.ndarray, forecast: np.ndarray, last: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of the "up" calls, per split (reducing the last axis).

    precision = tp / (tp + fp): NaN when the forecast never says up.
    recall    = tp / (tp + fn): NaN when the price never went up.
    f1        = 2 tp / (2 tp + fp + fn): NaN only when neither happened; it is 0 when there were up
    days and none was called (or up calls and none was right), unlike the harmonic mean of a NaN.
    """
    counts = up_confusion(actual, forecast, last)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def direction_scores(
    actual: np.ndarray, forecast: np.ndarray, last: np.ndarray, *, pooled: bool = False
) -> dict[str, np.ndarray | float]:
    """``dir_acc, precision, recall, f1`` per split, or over all points at once with ``pooled``.

    Pooling weights every validation point equally; the per-split figures weight every split
    equally (their describe() tables show how much a score varies from one window to the next).
    """
    if pooled:
        actual, forecast, last = (np.ravel(a) for a in (actual, forecast, last))
    scores = {"dir_acc": dir_acc(actual, forecast, last), **up_scores(actual, forecast, last)}
    if pooled:
        return {name: float(value) for name, value in scores.items()}
    return scores


# ---------------------------------------------------------------------------------------------
# Diebold-Mariano: are the model's errors smaller than a baseline's, beyond chance?
# ---------------------------------------------------------------------------------------------


def autocovariance(values: np.ndarray, lag: int) -> float:
    """Sample autocovariance at ``lag`` with divisor n (the biased estimator DM uses)."""
    n = values.size
    centred = values - values.mean()
    return float(np.dot(centred[lag:], centred[: n - lag]) / n)


def hln_factor(n: int, horizon: int) -> float:
    """Harvey-Leybourne-Newbold small-sample correction, sqrt((n + 1 - 2h + h(h-1)/n) / n)."""
    return float(np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n))


def dm_test(
    actual: np.ndarray,
    forecast_model: np.ndarray,
    forecast_baseline: np.ndarray,
    horizon: int = 1,
) -> dict[str, float | int]:
    """Diebold-Mariano test of equal squared-error accuracy, with the HLN correction.

    Loss differential d_t = (actual - model)^2 - (actual - baseline)^2 over one series of forecasts
    (the stitched one-step-ahead series). Long-run variance of d: gamma_0 + 2 * sum of the
    autocovariances up to lag h-1 (an h-step forecast's errors overlap over h-1 steps). Then
    DM = mean(d) / sqrt(variance / n), times ``hln_factor``, against Student t with n-1 degrees of
    freedom, two-sided. A negative statistic means the model's errors are smaller.

    Points with a NaN anywhere are dropped. The statistic and p-value are NaN when there are fewer
    than two points, when every d_t is the same (the two forecasts differ by a constant loss, so
    there is no variance to test against) or when the long-run variance estimate is not positive.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    actual, forecast_model, forecast_baseline = (
        np.ravel(np.asarray(a, dtype=np.float64))
        for a in (actual, forecast_model, forecast_baseline)
    )
    valid = _valid_points(actual, forecast_model, forecast_baseline)
    actual, error, error_base = actual[valid], (actual - forecast_model)[valid], (actual - forecast_baseline)[valid]
    loss_diff = error**2 - error_base**2
    n = int(loss_diff.size)
    undefined = {"statistic": float("nan"), "p_value": float("nan"), "n": n}
    if n < 2:
        return undefined
    # constant up to rounding (two forecasts a constant apart): no variance to test against. The
    # rounding of e^2 - e'^2 grows with the errors and the level they are taken at, not with d
    both = np.abs(error) + np.abs(error_base)
    if np.ptp(loss_diff) <= 1e-12 * np.max(both * (both + np.abs(actual))):
        return undefined
    long_run_variance = autocovariance(loss_diff, 0) + 2 * sum(
        autocovariance(loss_diff, lag) for lag in range(1, min(horizon, n))
    )
    if not long_run_variance > 0:
        return undefined
    statistic = loss_diff.mean() / np.sqrt(long_run_variance / n) * hln_factor(n, horizon)
    p_value = t_two_sided_p_value(float(statistic), n - 1)
    return {"statistic": float(statistic), "p_value": float(p_value), "n": n}


def t_two_sided_p_value(statistic: float, df: float) -> float:
    """2·P(T > |statistic|) for Student's t with `df` degrees of freedom: I_x(df/2, 1/2) with
    x = df / (df + statistic²), the regularised incomplete beta function. Written out (a continued
    fraction, Numerical Recipes §6.4) because importing scipy.special costs ~0.13 s per run."""
    squared = statistic * statistic
    # 1 - x passed as computed, not as 1 - x: for a tiny statistic x rounds to 1
    return regularized_incomplete_beta(df / 2, 0.5, df / (df + squared), squared / (df + squared))


def regularized_incomplete_beta(a: float, b: float, x: float, one_minus_x: float | None = None) -> float:
    """I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1 (within ~1e-11 relative of SciPy's betainc);
    `one_minus_x`, if given, is 1 - x computed without the rounding of x."""
    y = 1.0 - x if one_minus_x is None else one_minus_x
    if x <= 0.0 or y <= 0.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    if x < (a + 1) / (a + b + 2):  # where the continued fraction converges fast
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated by the modified Lentz method."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result


def dm_against_baselines(
    actual: np.ndarray,
    forecast_model: np.ndarray,
    baseline_forecasts: Mapping[str, np.ndarray],
    horizon: int = 1,
) -> dict[str, dict[str, float | int]]:
    """``dm_test`` of the model against each baseline on the same stitched series."""
    return {
        name: dm_test(actual, forecast_model, forecast, horizon)
        for name, forecast in baseline_forecasts.items()
    }


def first_step(values: np.ndarray) -> np.ndarray:
    """The stitched one-step-ahead series: each split's first validation point, (S, V) -> (S,).

    Consecutive splits start their validation windows on consecutive dates (step = 1), so this is
    one forecast per date, each made by the split whose window starts there, one step ahead.
    """
    return np.asarray(values)[:, 0]


# ---------------------------------------------------------------------------------------------
# Probabilistic forecasts: are the Gaussian intervals as wide as they claim?
# ---------------------------------------------------------------------------------------------


def gaussian_z(level: float) -> float:
    """Half-width of the central ``level`` interval of a standard normal, e.g. 0.95 -> 1.96."""
    if not 0 < level < 1:
        raise ValueError(f"interval level must be between 0 and 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def interval_coverage(
    actual: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    levels: Iterable[float] = (0.8, 0.95),
    *,
    axis: int | None = None,
) -> dict[float, float | np.ndarray]:
    """Share of actual values inside the central interval mean +- z * sqrt(variance), per level.

    A calibrated Gaussian forecast covers about ``level`` of the points: less means the model is
    overconfident. Bounds count as inside. Pooled over all points by default; ``axis=-1`` gives one
    share per split. Points with NaN (or a negative variance) are left out.
    """
    actual, mean, variance = (np.asarray(a, dtype=np.float64) for a in (actual, mean, variance))
    valid = _valid_points(actual, mean, variance) & ~(variance < 0)
    std = np.sqrt(np.where(valid, variance, 0.0))
    distance = np.abs(np.where(valid, actual - mean, 0.0))
    count = valid.sum(axis=axis)
    coverage = {}
    for level in levels:
        inside = (distance <= gaussian_z(level) * std) & valid
        share = _ratio(inside.sum(axis=axis), count)
        coverage[level] = float(share) if axis is None else share
    return coverage


# ---------------------------------------------------------------------------------------------
# Summaries over splits
# ---------------------------------------------------------------------------------------------

DESCRIBE_KEYS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


def describe(values: np.ndarray) -> dict[str, float | int]:
    """pandas' ``Series.describe()`` for one per-split metric, without pandas.

    NaN values (failed splits) are ignored; ``count`` says how many were used. ``std`` has ddof=1
    (NaN for fewer than two values); quantiles interpolate linearly. All NaN when count is 0.
    """
    values = np.ravel(np.asarray(values, dtype=np.float64))
    values = values[~np.isnan(values)]
    count = int(values.size)
    if count == 0:
        return {"count": 0, **{key: float("nan") for key in DESCRIBE_KEYS[1:]}}
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return {
        "count": count,
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if count > 1 else float("nan"),
        "min": float(values.min()),
        "25%": float(q25),
        "50%": float(q50),
        "75%": float(q75),
        "max": float(values.max()),
    }


def share_better(model_err: np.ndarray, base_err: np.ndarray) -> float:
    """Share of splits where the model's error metric is strictly lower than the baseline's.

    Ties count as not better. Splits where either value is NaN are left out; NaN if none is left.
    """
    model_err, base_err = (np.ravel(np.asarray(a, dtype=np.float64)) for a in (model_err, base_err))
    valid = _valid_points(model_err, base_err)
    better = (model_err < base_err) & valid
    return float(_ratio(better.sum(), valid.sum()))
