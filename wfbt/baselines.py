"""Baseline forecasts: the bar a sequence model has to clear.

A model's validation error means little on its own: on prices, "tomorrow equals today" is hard to
beat. Every baseline here sees exactly what the model sees for a chunk of splits (the same scaled
training window, training samples and validation inputs) and forecasts exactly the same validation
targets, so the comparison is like for like. Each one is a few vectorised numpy operations over the
split axis: a small fraction of the cost of training a model.

The arrays (S = splits in the chunk, W = longest training window, N = most training samples,
L = lookback, V = validation points per split), all in scaled units:

- ``train_series (S, W)``: training-window values, left-aligned, zero-padded past ``train_len``.
- ``train_len (S,)``: valid points in each training window.
- ``x_train (S, N, L)``, ``y_train (S, N)``: training samples, zero-padded past ``n_train``.
- ``n_train (S,)``: valid training samples (``train_len - L``).
- ``x_val (S, V, L)``: the L observed points before each validation target (the past only).
- ``last_val (S, V)``: the target observed just before each validation target.

With ``[[features]]`` the inputs are ``x_train (S, N, L, F)`` and ``x_val (S, V, L, F)`` (every
input column, each scaled on its own), while ``train_series``, ``y_train`` and ``last_val`` stay
the target's: naive, drift and mean read the target, ``linear`` regresses on every input.

Every baseline takes these as keyword arguments and ignores the ones it does not need, so that
``baseline_forecasts`` can hand the same chunk to all of them. None of them reads ``y_val``: the
validation targets are what is being forecast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from wfbt.errors import UserError, did_you_mean, known

# Ridge added to the lag covariance, relative to its mean diagonal. Lagged prices are nearly
# collinear; this keeps the batched solve well posed (even for a constant training window)
# while moving the forecasts by far less than float32 resolution.
RELATIVE_RIDGE = 1e-9
# Floor of the ridge, for a training window whose lags do not vary at all (covariance zero).
ABSOLUTE_RIDGE = 1e-12
# With several input features there are L x F regressors, about as many as training samples
# (20 x 8 = 160 for 180 samples in aapl_features): a real ridge, relative to the mean regressor
# variance, keeps the fit from chasing noise. Chosen from 1e-9, 1e-3, 1e-2, 0.1, 1 on the first 64
# splits of aapl_features.toml (median validation RMSE 1.39, 0.59, 0.49, 0.40, 0.46 in price units
# with 8 inputs): a bar picked with hindsight, so if anything too high for the LSTM.
FEATURES_RIDGE = 0.1


def _last_observed(x_val: np.ndarray, last_val: np.ndarray | None = None) -> np.ndarray:
    """The target observed just before each validation target, shape (S, V): `last_val`, or
    without it the last input of each window (the target's own window)."""
    return np.asarray(x_val)[..., -1] if last_val is None else np.asarray(last_val)


def _sample_mask(n_valid: np.ndarray, size: int) -> np.ndarray:
    """(S, size) boolean mask: True for the first ``n_valid[s]`` entries of each split."""
    return np.arange(size)[None, :] < np.asarray(n_valid)[:, None]


def naive(*, x_val: np.ndarray, last_val: np.ndarray | None = None, **_other_arrays) -> np.ndarray:
    """Random-walk forecast: the next value equals the last observed one.

    The baseline every price model is measured against: on a near-random walk it is close to the
    best one-step forecast there is.
    """
    return _last_observed(x_val, last_val).copy()


def training_drift(train_series: np.ndarray, train_len: np.ndarray) -> np.ndarray:
    """Mean change per step over each training window, (last - first) / (train_len - 1), (S,).

    A window of a single point has no change to measure: its drift is NaN.
    """
    series = np.asarray(train_series, dtype=np.float64)
    length = np.asarray(train_len)
    last = np.take_along_axis(series, np.maximum(length - 1, 0)[:, None], axis=1)[:, 0]
    steps = (length - 1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(steps > 0, (last - series[:, 0]) / steps, np.nan)


def drift(
    *, x_val: np.ndarray, train_series: np.ndarray, train_len: np.ndarray, last_val: np.ndarray | None = None,
    steps_ahead: int = 1, **_other_arrays
) -> np.ndarray:
    """Last observed value plus the training window's mean change per step.

    The naive forecast with a trend: each validation target is one step after its last observed
    value, so exactly one step of drift is added (`steps_ahead` steps for a target that many
    points ahead, `[model] horizon`).
    """
    last = _last_observed(x_val, last_val)
    step = training_drift(train_series, train_len)
    if steps_ahead != 1:
        step = step * steps_ahead
    return (last + step[:, None]).astype(last.dtype)


def training_mean(train_series: np.ndarray, train_len: np.ndarray) -> np.ndarray:
    """Mean of the ``train_len`` valid points of each training window, (S,); NaN if empty."""
    series = np.asarray(train_series, dtype=np.float64)
    mask = _sample_mask(train_len, series.shape[1])
    count = mask.sum(axis=1)
    total = np.where(mask, series, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def mean(
    *, x_val: np.ndarray, train_series: np.ndarray, train_len: np.ndarray, last_val: np.ndarray | None = None,
    **_other_arrays
) -> np.ndarray:
    """Training-window mean for every validation target: the forecast of a mean-reverting series.

    In scaled units this is what a model that learned nothing but the level would predict.
    """
    level = training_mean(train_series, train_len)
    shape = _last_observed(x_val, last_val).shape
    return np.broadcast_to(level[:, None], shape).astype(np.asarray(x_val).dtype)


def linear_fit(
    x_train: np.ndarray, y_train: np.ndarray, n_train: np.ndarray, relative_ridge: float = RELATIVE_RIDGE
) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary least squares of the target on its L lags, with intercept, for every split at once.

    Only the first ``n_train[s]`` samples of a split count (the padding is masked out), so the fit
    sees the training window and nothing else. The lags are centred on their training means before
    solving the normal equations in float64: this takes the intercept out of the system, which is
    what makes the normal equations of lagged prices badly conditioned. A ridge of
    ``RELATIVE_RIDGE`` times the mean lag variance keeps the stacked solve defined even when the
    lags are collinear or constant.

    Returns ``(intercept (S,), coef (S, L))``; both NaN for a split without training samples.
    """
    inputs = np.asarray(x_train, dtype=np.float64)
    targets = np.asarray(y_train, dtype=np.float64)
    n_splits, n_samples, lookback = inputs.shape
    mask = _sample_mask(n_train, n_samples)
    count = mask.sum(axis=1).astype(np.float64)
    safe_count = np.maximum(count, 1.0)

    inputs = np.where(mask[:, :, None], inputs, 0.0)
    targets = np.where(mask, targets, 0.0)
    input_mean = inputs.sum(axis=1) / safe_count[:, None]
    target_mean = targets.sum(axis=1) / safe_count
    centred_inputs = np.where(mask[:, :, None], inputs - input_mean[:, None, :], 0.0)
    centred_targets = np.where(mask, targets - target_mean[:, None], 0.0)

    gram = np.einsum("snl,snk->slk", centred_inputs, centred_inputs)
    moment = np.einsum("snl,sn->sl", centred_inputs, centred_targets)
    mean_variance = np.trace(gram, axis1=1, axis2=2) / lookback
    ridge = np.maximum(relative_ridge * mean_variance, ABSOLUTE_RIDGE)
    gram = gram + ridge[:, None, None] * np.eye(lookback)[None]

    coef = np.linalg.solve(gram, moment[:, :, None])[:, :, 0]
    intercept = target_mean - np.einsum("sl,sl->s", coef, input_mean)
    empty = count == 0
    coef[empty] = np.nan
    intercept[empty] = np.nan
    return intercept, coef


def linear_predict(intercept: np.ndarray, coef: np.ndarray, x_val: np.ndarray) -> np.ndarray:
    """Apply each split's fitted lag regression to its validation inputs, (S, V)."""
    inputs = np.asarray(x_val, dtype=np.float64)
    return intercept[:, None] + np.einsum("svl,sl->sv", inputs, coef)


def linear(
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    n_train: np.ndarray,
    x_val: np.ndarray,
    **_other_arrays,
) -> np.ndarray:
    """Linear autoregression on the L lags: the model class an LSTM has to improve on.

    Fit on the training samples only (``linear_fit``), then applied to the validation inputs.
    With features, the regressors are every lag of every input (L x F, flattened), with a ridge of
    ``FEATURES_RIDGE`` times their mean variance: the LSTM and this fit see the same information.
    """
    x_train, x_val = np.asarray(x_train), np.asarray(x_val)
    if x_train.ndim == 4:  # (S, N, L, F): lags x features as one row of regressors
        flat_train = x_train.reshape(*x_train.shape[:2], -1)
        intercept, coef = linear_fit(flat_train, y_train, n_train, FEATURES_RIDGE)
        return linear_predict(intercept, coef, x_val.reshape(*x_val.shape[:2], -1)).astype(x_val.dtype)
    intercept, coef = linear_fit(x_train, y_train, n_train)
    return linear_predict(intercept, coef, x_val).astype(x_val.dtype)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "naive": naive,
    "drift": drift,
    "mean": mean,
    "linear": linear,
}


def check_baseline_names(names: Iterable[str]) -> list[str]:
    """The names as a list, or a UserError naming the first unknown one and the valid choices."""
    names = list(names)
    for name in names:
        if name not in BASELINES:
            raise UserError(
                f"[evaluation] baselines: unknown baseline '{name}'.{did_you_mean(name, BASELINES)}"
                f" Known baselines: {known(BASELINES)}."
            )
    return names


def baseline_step_forecasts(names: Iterable[str], horizon: int, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """Forecasts of the named baselines for each of `horizon` steps ahead: ``{name: (S, V, h)}``.

    Step k forecasts the point k - 1 after each validation target's position, from the same
    origin: naive repeats the origin's value, drift adds k steps of drift, mean is flat, and
    linear is fit on the training samples' step-k targets (``y_train (S, N, h)``).
    """
    y_train = arrays.pop("y_train")
    steps = [baseline_forecasts(names, **arrays, y_train=y_train[..., k - 1], steps_ahead=k)
             for k in range(1, horizon + 1)]
    return {name: np.stack([step[name] for step in steps], axis=-1) for name in steps[0]}


def side_by_side(forecasts: Callable[..., dict[str, np.ndarray]], inputs: Sequence[tuple[np.ndarray, np.ndarray]],
                 **arrays: np.ndarray) -> list[dict[str, np.ndarray]]:
    """`forecasts(**arrays, x_val=..., last_val=...)` for several input sets of the same splits
    (the validation points, the points after them), in one call: each baseline is fit once on the
    training arrays (`linear` solves its normal equations once, not once per set) and forecasts
    every set's rows side by side. A row's forecast reads only its own inputs, so each set gets
    what a call of its own would give."""
    sizes = np.cumsum([0, *(x.shape[1] for x, _ in inputs)])
    joined = forecasts(**arrays, x_val=np.concatenate([x for x, _ in inputs], axis=1),
                       last_val=np.concatenate([last for _, last in inputs], axis=1))
    return [{name: value[:, start:stop] for name, value in joined.items()} for start, stop in zip(sizes[:-1], sizes[1:])]


def baseline_forecasts(names: Iterable[str], **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """Forecasts of the named baselines for one chunk of splits: ``{name: (S, V) array}``.

    ``arrays`` is the chunk (``train_series``, ``train_len``, ``x_train``, ``y_train``,
    ``n_train``, ``x_val``, optionally ``last_val``, and ``y_val``, which no baseline reads).
    """
    return {name: BASELINES[name](**arrays) for name in check_baseline_names(names)}
