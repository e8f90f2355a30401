"""Baselines against explicit numpy formulas on toy series, plus masking and leakage checks."""

from __future__ import annotations

import numpy as np
import pytest

from wfbt.baselines import (
    BASELINES,
    baseline_forecasts,
    drift,
    linear,
    linear_fit,
    mean,
    naive,
    training_drift,
    training_mean,
)
from wfbt.errors import UserError


def make_chunk(series, train_starts, train_lens, lookback, val):
    """The engine's chunk arrays for splits cut from one (already scaled) toy series.

    Split s trains on series[start : start + len] and validates on the next ``val`` points; every
    input is the ``lookback`` points before its target. Padding is filled with a loud garbage value
    (not zeros) so that a baseline reading past the valid data would show up in the numbers.
    """
    series = np.asarray(series, dtype=np.float64)
    n_splits = len(train_starts)
    width = max(train_lens)
    n_samples = width - lookback
    pad = 1e3
    chunk = {
        "train_series": np.full((n_splits, width), pad),
        "train_len": np.asarray(train_lens, dtype=np.int64),
        "x_train": np.full((n_splits, n_samples, lookback), pad),
        "y_train": np.full((n_splits, n_samples), pad),
        "n_train": np.asarray(train_lens, dtype=np.int64) - lookback,
        "x_val": np.zeros((n_splits, val, lookback)),
        "y_val": np.zeros((n_splits, val)),
    }
    for s, (start, length) in enumerate(zip(train_starts, train_lens)):
        stop = start + length
        chunk["train_series"][s, :length] = series[start:stop]
        for j in range(length - lookback):
            target = start + j + lookback
            chunk["x_train"][s, j] = series[target - lookback : target]
            chunk["y_train"][s, j] = series[target]
        for v in range(val):
            target = stop + v
            chunk["x_val"][s, v] = series[target - lookback : target]
            chunk["y_val"][s, v] = series[target]
    return {
        name: array.astype(np.float32) if array.dtype == np.float64 else array
        for name, array in chunk.items()
    }


def toy_series(n=60, seed=0):
    """A random walk with drift in roughly [0, 1], like a min-max scaled price."""
    rng = np.random.default_rng(seed)
    return 0.5 + np.cumsum(0.01 + 0.05 * rng.standard_normal(n))


ROLLING = dict(train_starts=[0, 1, 2, 3], train_lens=[30, 30, 30, 30], lookback=3, val=4)
EXPANDING = dict(train_starts=[0, 0, 0], train_lens=[20, 25, 31], lookback=4, val=5)


@pytest.fixture(params=[ROLLING, EXPANDING], ids=["rolling", "expanding"])
def layout(request):
    return request.param


def test_naive_is_last_observed_value(layout):
    series = toy_series()
    chunk = make_chunk(series, **layout)
    got = naive(**chunk)
    for s, (start, length) in enumerate(zip(layout["train_starts"], layout["train_lens"])):
        stop = start + length
        # target stop + v is forecast by the point just before it
        expected = series[stop - 1 : stop - 1 + layout["val"]]
        np.testing.assert_allclose(got[s], expected, rtol=1e-6)
    assert got.shape == (len(layout["train_starts"]), layout["val"])
    assert got.dtype == np.float32


def test_drift_adds_mean_training_change(layout):
    series = toy_series()
    chunk = make_chunk(series, **layout)
    got = drift(**chunk)
    for s, (start, length) in enumerate(zip(layout["train_starts"], layout["train_lens"])):
        stop = start + length
        slope = (series[stop - 1] - series[start]) / (length - 1)
        expected = series[stop - 1 : stop - 1 + layout["val"]] + slope
        np.testing.assert_allclose(got[s], expected, rtol=1e-5)


def test_drift_by_hand():
    # training window [1, 2, 4] -> drift (4 - 1) / (3 - 1) = 1.5; last observed 4 -> forecast 5.5
    chunk = make_chunk([1.0, 2.0, 4.0, 9.0], train_starts=[0], train_lens=[3], lookback=1, val=1)
    np.testing.assert_allclose(training_drift(chunk["train_series"], chunk["train_len"]), [1.5])
    np.testing.assert_allclose(drift(**chunk), [[5.5]])


def test_mean_is_training_window_mean(layout):
    series = toy_series()
    chunk = make_chunk(series, **layout)
    got = mean(**chunk)
    for s, (start, length) in enumerate(zip(layout["train_starts"], layout["train_lens"])):
        expected = series[start : start + length].mean()
        np.testing.assert_allclose(got[s], np.full(layout["val"], expected), rtol=1e-5)


def test_mean_by_hand_ignores_padding():
    # split 0: (1 + 2 + 6) / 3 = 3; split 1 (shorter, padded with 1e3): (1 + 2) / 2 = 1.5
    chunk = make_chunk([1.0, 2.0, 6.0, 0.0, 0.0], [0, 0], [3, 2], lookback=1, val=1)
    np.testing.assert_allclose(training_mean(chunk["train_series"], chunk["train_len"]), [3, 1.5])


def lstsq_forecast(series, start, length, lookback, val):
    """Reference: OLS with intercept per split by np.linalg.lstsq on an explicit design matrix."""
    targets = np.arange(start + lookback, start + length)
    design = np.column_stack(
        [np.ones(targets.size)] + [series[targets - lookback + k] for k in range(lookback)]
    )
    beta, *_ = np.linalg.lstsq(design, series[targets], rcond=None)
    val_targets = np.arange(start + length, start + length + val)
    val_design = np.column_stack(
        [np.ones(val)] + [series[val_targets - lookback + k] for k in range(lookback)]
    )
    return beta, val_design @ beta


def test_linear_matches_per_split_lstsq(layout):
    series = toy_series()
    chunk = make_chunk(series, **layout)
    # the reference sees the same float32-rounded values as the baseline
    series32 = series.astype(np.float32).astype(np.float64)
    intercept, coef = linear_fit(chunk["x_train"], chunk["y_train"], chunk["n_train"])
    got = linear(**chunk)
    for s, (start, length) in enumerate(zip(layout["train_starts"], layout["train_lens"])):
        beta, expected = lstsq_forecast(series32, start, length, layout["lookback"], layout["val"])
        np.testing.assert_allclose(intercept[s], beta[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(coef[s], beta[1:], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(got[s], expected, rtol=1e-5, atol=1e-6)


def test_linear_recovers_exact_autoregression():
    # targets exactly 0.1 + 0.3 * (older lag) + 0.6 * (newer lag), lags drawn at random:
    # OLS must return these weights (lags are ordered oldest first, as in x_train)
    rng = np.random.default_rng(1)
    inputs = rng.uniform(0, 1, (1, 60, 2))
    targets = 0.1 + 0.3 * inputs[..., 0] + 0.6 * inputs[..., 1]
    intercept, coef = linear_fit(inputs, targets, np.array([60]))
    np.testing.assert_allclose(intercept, [0.1], atol=1e-7)
    np.testing.assert_allclose(coef, [[0.3, 0.6]], atol=1e-7)


def test_linear_constant_window_and_empty_split():
    # a constant training window has no lag variance: the fit falls back to the level (ridge)
    # a split with no training sample has nothing to fit: NaN, not a silent 0
    x_train = np.stack([np.full((5, 2), 0.7), np.zeros((5, 2))])
    y_train = np.stack([np.full(5, 0.7), np.zeros(5)])
    x_val = np.full((2, 3, 2), 0.7)
    got = linear(x_train=x_train, y_train=y_train, n_train=np.array([5, 0]), x_val=x_val)
    np.testing.assert_allclose(got[0], [0.7, 0.7, 0.7], rtol=1e-9)
    assert np.isnan(got[1]).all()


def test_no_split_depends_on_the_others_in_its_chunk(layout):
    # chunking must not change a result: each split alone gives what it gives inside the chunk
    chunk = make_chunk(toy_series(), **layout)
    together = baseline_forecasts(BASELINES, **chunk)
    for s in range(len(layout["train_starts"])):
        alone_chunk = {name: array[s : s + 1] for name, array in chunk.items()}
        length = int(chunk["train_len"][s])
        alone_chunk["train_series"] = alone_chunk["train_series"][:, :length]
        alone_chunk["x_train"] = alone_chunk["x_train"][:, : length - layout["lookback"]]
        alone_chunk["y_train"] = alone_chunk["y_train"][:, : length - layout["lookback"]]
        alone = baseline_forecasts(BASELINES, **alone_chunk)
        for name in BASELINES:
            np.testing.assert_allclose(
                alone[name][0], together[name][s], rtol=1e-6, err_msg=name
            )


def test_validation_targets_and_padding_cannot_leak(layout):
    chunk = make_chunk(toy_series(), **layout)
    before = baseline_forecasts(BASELINES, **chunk)
    fit_before = linear_fit(chunk["x_train"], chunk["y_train"], chunk["n_train"])

    rng = np.random.default_rng(7)
    tampered = {name: array.copy() for name, array in chunk.items()}
    tampered["y_val"] += rng.standard_normal(tampered["y_val"].shape).astype(np.float32)
    for s, length in enumerate(chunk["train_len"]):
        width = chunk["train_series"].shape[1]
        tampered["train_series"][s, length:] = rng.standard_normal(width - length)
        n_valid = chunk["n_train"][s]
        tampered["x_train"][s, n_valid:] = -5.0
        tampered["y_train"][s, n_valid:] = 5.0
    after = baseline_forecasts(BASELINES, **tampered)
    fit_after = linear_fit(tampered["x_train"], tampered["y_train"], tampered["n_train"])

    for name in BASELINES:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    np.testing.assert_array_equal(fit_after[0], fit_before[0])
    np.testing.assert_array_equal(fit_after[1], fit_before[1])


def test_future_values_reach_linear_forecasts_only_through_validation_inputs():
    # change every point after the first split's training window: its fit must not move, and
    # its forecasts change only because its validation inputs (the observed past) changed
    series = toy_series()
    future = series.copy()
    future[30:] += np.linspace(0.5, 1.0, future.size - 30)
    chunk = make_chunk(series, [0], [30], lookback=3, val=4)
    chunk_future = make_chunk(future, [0], [30], lookback=3, val=4)
    fit = linear_fit(chunk["x_train"], chunk["y_train"], chunk["n_train"])
    fit_future = linear_fit(
        chunk_future["x_train"], chunk_future["y_train"], chunk_future["n_train"]
    )
    np.testing.assert_array_equal(fit[0], fit_future[0])
    np.testing.assert_array_equal(fit[1], fit_future[1])
    with_old_inputs = dict(chunk_future, x_val=chunk["x_val"])
    np.testing.assert_array_equal(linear(**with_old_inputs), linear(**chunk))


def test_baseline_forecasts_returns_requested_names_in_order():
    chunk = make_chunk(toy_series(), **ROLLING)
    got = baseline_forecasts(["linear", "naive"], **chunk)
    assert list(got) == ["linear", "naive"]
    assert all(value.shape == (4, 4) for value in got.values())


def test_unknown_baseline_is_a_user_error_with_a_suggestion():
    chunk = make_chunk(toy_series(), **ROLLING)
    with pytest.raises(UserError, match=r"unknown baseline 'lineer'\. Did you mean 'linear'\?"):
        baseline_forecasts(["naive", "lineer"], **chunk)
    with pytest.raises(UserError, match="Known baselines: 'drift', 'linear', 'mean', 'naive'"):
        baseline_forecasts(["arima"], **chunk)
