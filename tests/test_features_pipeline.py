"""Features through the pipeline: windows (S, N, L, F), per-feature scalers fit on the training
window only, the linear baseline on the same inputs, no leakage, and the fingerprint."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from conftest import FEATURES, random_walk, write_config, write_prices
from wfbt import baselines
from wfbt.api import prepare, run_experiment, split_windows
from wfbt.config import load_config
from wfbt.errors import UserError
from wfbt.store import FolderStore, identity

RESOLVED = {"layout.unroll": 1, "layout.platform": "cpu"}


def test_the_target_as_its_one_feature_gives_the_target_alone_arrays(tmp_path, tiny_data):
    plain = prepare(load_config(write_config(tmp_path, tiny_data)))
    one = prepare(load_config(write_config(tmp_path, tiny_data, '[[features]]\nkind = "column"\n', name="one.toml")))
    ids = np.arange(len(plain.plan))
    a, b = split_windows(plain, ids), split_windows(one, ids)
    assert a.x_train.ndim == 3 and b.x_train.shape == (*a.x_train.shape, 1)
    for name in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(getattr(b, name)[..., 0], getattr(a, name))
    for name in ("y_train", "y_val", "train_series", "last_val", "last_test"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name))
    np.testing.assert_array_equal(a.last_val, a.x_val[..., -1])


def test_each_feature_is_scaled_on_the_training_window_only(tmp_path, tiny_data):
    experiment = prepare(load_config(write_config(tmp_path, tiny_data, FEATURES)))
    prices, plan = experiment.prices, experiment.plan
    assert prices.warmup == 4 and prices.inputs.shape == (len(prices), 4)
    windows = split_windows(experiment, np.arange(len(plan)))
    lookback = experiment.config.model.lookback
    assert windows.x_train.shape[1:] == (40 - lookback, lookback, 4)
    s = 2
    train = prices.inputs[plan.train_start[s]:plan.train_stop[s]]
    low, high = train.min(axis=0), train.max(axis=0)
    first_sample_inputs = prices.inputs[plan.train_start[s]:plan.train_start[s] + lookback]
    np.testing.assert_allclose(windows.x_train[s, 0], (first_sample_inputs - low) / (high - low), rtol=1e-5, atol=1e-6)
    target = prices.values[plan.train_start[s]:plan.train_stop[s]]
    np.testing.assert_allclose(windows.y_train[s, 0], (prices.values[plan.train_start[s] + lookback] - target.min())
                               / np.ptp(target), rtol=1e-6)
    # the validation inputs' values never reach a split's scaling: change them, its training arrays stay
    changed = prices.inputs.copy()
    changed[plan.val_start[s]:] *= 5.0
    moved = experiment.__class__(**{**experiment.__dict__,
                                    "prices": prices.__class__(**{**prices.__dict__, "inputs": changed})})
    again = split_windows(moved, np.array([s]))
    np.testing.assert_array_equal(again.x_train[0], windows.x_train[s])
    assert not np.array_equal(again.x_val[0], windows.x_val[s])


def test_the_linear_baseline_regresses_on_every_input():
    """A target that is 2 x feature b one step earlier: the fit on lags x features finds it."""
    rng = np.random.default_rng(0)
    splits, samples, lookback = 3, 60, 4
    x = rng.normal(size=(splits, samples + 5, lookback, 2))
    y = 2.0 * x[:, :, -1, 1] + 0.5
    n_train = np.full(splits, samples)
    forecast = baselines.linear(x_train=x[:, :samples], y_train=y[:, :samples], n_train=n_train, x_val=x[:, samples:])
    flat = x.reshape(splits, samples + 5, -1)
    intercept, coef = baselines.linear_fit(flat[:, :samples], y[:, :samples], n_train, baselines.FEATURES_RIDGE)
    np.testing.assert_allclose(forecast, baselines.linear_predict(intercept, coef, flat[:, samples:]), rtol=1e-6)
    assert np.argmax(np.abs(coef), axis=1).tolist() == [lookback * 2 - 1] * splits  # the last lag of feature b
    assert np.corrcoef(forecast.ravel(), y[:, samples:].ravel())[0, 1] > 0.99
    exact = baselines.linear_predict(*baselines.linear_fit(flat[:, :samples], y[:, :samples], n_train, 0.0),
                                     flat[:, samples:])
    np.testing.assert_allclose(exact, y[:, samples:], atol=1e-9)
    naive = baselines.naive(x_val=x[:, samples:], last_val=y[:, samples:])
    np.testing.assert_array_equal(naive, y[:, samples:])


def test_no_leakage_with_features_perturbing_the_future_keeps_earlier_forecasts(tmp_path):
    values = random_walk(90)
    overrides = ["splits.max_splits=6", "evaluation.next_forecast=false", "train.epochs=2"]

    def run(prices, name):
        data = write_prices(tmp_path / f"{name}.csv", prices)
        config = load_config(write_config(tmp_path, data, FEATURES, name=f"{name}.toml"), overrides)
        return run_experiment(config)

    base = run(values, "base")
    k = 2
    cut = base.plan.val_stop[k] + base.prices.warmup  # a row of the file: warm-up rows come first
    perturbed = values.copy()
    perturbed[cut:] *= 3.0
    after = run(perturbed, "after")
    early = pl.col("split") <= k
    np.testing.assert_array_equal(after.predictions.filter(early)["forecast"], base.predictions.filter(early)["forecast"])
    np.testing.assert_array_equal(after.predictions.filter(early)["linear_forecast"],
                                  base.predictions.filter(early)["linear_forecast"])
    later = pl.col("split") == k + 3
    assert not np.allclose(after.predictions.filter(later)["forecast"], base.predictions.filter(later)["forecast"])
    assert base.summary["data"]["inputs"] == ["Close", "log_return(Close)", "rsi(Close, 4)", "sma(Close, 3)"]
    assert base.summary["data"]["warmup_rows"] == 4 and base.splits["status"].to_list() == ["ok"] * 6


def test_a_resume_into_a_run_of_other_features_is_refused(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data, FEATURES))
    other = load_config(write_config(tmp_path, tiny_data, FEATURES.replace("window = 3", "window = 5"), name="o.toml"))
    fewer = load_config(write_config(tmp_path, tiny_data, FEATURES.split("[[features]]\nkind = \"sma\"")[0],
                                     name="f.toml"))
    dates, values = np.arange(5).astype("datetime64[D]"), np.ones(5)
    fingerprints = {identity(c, dates, values, RESOLVED).fingerprint for c in (config, other, fewer)}
    assert len(fingerprints) == 3
    FolderStore(tmp_path / "run", identity(config, dates, values, RESOLVED))
    with pytest.raises(UserError, match=r'features.4 .*"window": 3.* -> .*"window": 5'):
        FolderStore(tmp_path / "run", identity(other, dates, values, RESOLVED))
    with pytest.raises(UserError, match=r"features.4 .* -> \"\(unset\)\""):
        FolderStore(tmp_path / "run", identity(fewer, dates, values, RESOLVED))


@pytest.mark.parametrize("name", ["gru", "attention"])
def test_every_built_in_model_takes_several_inputs(tmp_path, tiny_data, name):
    config = load_config(write_config(tmp_path, tiny_data, FEATURES), [
        f"model.name='{name}'", "splits.max_splits=2", "train.epochs=1", "evaluation.next_forecast=false"])
    results = run_experiment(config)
    assert len(results.summary["data"]["inputs"]) == 4 and (results.splits["status"] == "ok").all()
