"""Engine behaviour: one step, early stopping, determinism, leakage, divergence."""

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from conftest import random_walk, write_config, write_prices
from wfbt.api import run_experiment
from wfbt.config import ModelConfig, load_config
from wfbt.engine import TrainSettings, choose_chunk_size, make_loss_and_step
from wfbt.models import build_model

SMALL = ModelConfig(lookback=6, hidden_size=8, dense_size=4)


def _one_step_inputs():
    model = build_model(SMALL, n_outputs=1)
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 6))
    y = jnp.linspace(0.0, 1.0, 8)
    params = model.init({"params": jax.random.PRNGKey(1)}, x, deterministic=True)["params"]
    tx, _, step = make_loss_and_step(model, TrainSettings(1, 8, 0.01, 1, "mse"))
    return step, params, tx.init(params), x, y, jnp.ones(8), jax.random.PRNGKey(2)


def test_jit_and_no_jit_train_step_agree():
    step, *args = _one_step_inputs()
    jitted = jax.jit(step)(*args)
    with jax.disable_jit():
        eager = step(*args)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_params_change_after_a_step():
    step, params, *rest = _one_step_inputs()
    new_params, _, loss = jax.jit(step)(params, *rest)
    assert np.isfinite(loss)
    for old, new in zip(jax.tree.leaves(params), jax.tree.leaves(new_params)):
        assert not np.allclose(old, new)


def test_early_stopping_restores_the_best_epoch(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["train.learning_rate=0.05", "train.epochs=3",
                                                             "model.init='keras'"])  # the orthogonal-init path
    results = run_experiment(config, out_dir=tmp_path / "out")
    table, curves = results.splits, results.curves
    assert (table["status"] == "ok").all()
    for row in table.iter_rows(named=True):
        split_curve = curves.filter(pl.col("split") == row["split"])
        best = split_curve["val_loss"].arg_min() + 1
        assert row["best_epoch"] == best
        # the restored weights are the best epoch's: their validation MSE is that epoch's loss
        assert np.isclose(row["val_mse"], split_curve["val_loss"][best - 1], rtol=1e-4)
        if row["epochs_run"] < 3:  # stopped early: exactly `patience` epochs without improvement
            assert row["epochs_run"] == best + 1
    assert (table["epochs_run"] < 3).any(), "lr 0.05 should make some split stop early"


def test_same_numbers_whatever_the_chunk_size(tmp_path, tiny_run, tiny_data):
    # bit for bit: more splits (a different padding), a bigger chunk (two calls), one device
    # (calls of 4) and a smaller chunk all give each split the numbers it got in the tiny run
    runs = [run_experiment(load_config(write_config(tmp_path, tiny_data), overrides), out_dir=tmp_path / name)
            for name, overrides in [("longer", ["splits.max_splits=12", "engine.chunk_size=16"]),
                                    ("one_device", ["splits.max_splits=12", "engine.devices=1", "engine.chunk_size=2"])]]
    for other in runs:
        assert other.summary["splits"]["count"] == 12
        first = other.predictions.filter(pl.col("split") < 8)
        np.testing.assert_array_equal(first["forecast"], tiny_run.predictions["forecast"])
        np.testing.assert_array_equal(other.splits["train_mse"][:8], tiny_run.splits["train_mse"])
        np.testing.assert_array_equal(other.curves["val_loss"].to_numpy()[: len(tiny_run.curves)],
                                      tiny_run.curves["val_loss"].to_numpy())
    np.testing.assert_array_equal(runs[0].predictions["forecast"], runs[1].predictions["forecast"])


def test_chunks_on_cpu_are_whole_calls_of_four_splits_per_device():
    cpu = jax.devices("cpu")
    assert choose_chunk_size(988, cpu[:2]) == 8 and choose_chunk_size(988, cpu[:1]) == 4
    assert choose_chunk_size(3, cpu[:2]) == 8  # padded, not a smaller program
    assert choose_chunk_size(988, cpu[:2], requested=2) == 8
    assert choose_chunk_size(988, cpu[:2], requested=20) == 24


def test_no_leakage_perturbing_the_future_keeps_earlier_predictions(tmp_path, tiny_run):
    plan = tiny_run.plan
    k = 3
    values = random_walk()
    values[plan.val_stop[k]:] *= 3.0  # everything after split k's validation window
    data = write_prices(tmp_path / "perturbed.csv", values)
    perturbed = run_experiment(load_config(write_config(tmp_path, data)), out_dir=tmp_path / "out")
    before = tiny_run.predictions.filter(pl.col("split") <= k)
    after = perturbed.predictions.filter(pl.col("split") <= k)
    np.testing.assert_array_equal(after["forecast"], before["forecast"])
    later = perturbed.predictions.filter(pl.col("split") == k + 2)["forecast"]
    assert not np.allclose(later, tiny_run.predictions.filter(pl.col("split") == k + 2)["forecast"])


def test_a_diverging_split_is_marked_failed_and_the_run_goes_on(tmp_path):
    values = random_walk()
    values[47] = 1e30  # in split 3's training window only: its loss overflows
    data = write_prices(tmp_path / "spike.csv", values)
    config = load_config(write_config(tmp_path, data), ["scaling.method='none'", "splits.max_splits=4"])
    results = run_experiment(config, out_dir=tmp_path / "out")
    status = results.splits["status"].to_list()
    assert "failed" in status and "ok" in status
    assert results.summary["splits"]["failed"] == status.count("failed")
    failed = results.splits.filter(pl.col("status") == "failed")
    assert failed["val_mse"].is_nan().all()


def test_gaussian_nll_reports_interval_coverage(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["train.loss='gaussian_nll'", "splits.max_splits=4",
                                                             "evaluation.next_forecast=false"])
    results = run_experiment(config, out_dir=tmp_path / "out")
    std = results.predictions["forecast_std"].to_numpy()
    assert (std > 0).all() and np.isfinite(std).all()
    coverage = results.summary["coverage"]
    assert set(coverage) == {"80%", "95%"} and 0.0 <= coverage["80%"] <= coverage["95%"] <= 1.0


def test_refit_every_retrains_every_kth_split_and_reuses_its_model(tmp_path, tiny_run, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["splits.refit_every=3", "evaluation.next_forecast=false"])
    refit = run_experiment(config, out_dir=tmp_path / "out")
    assert refit.summary["splits"]["trained_now"] == 3  # splits 0, 3, 6 of 8
    table, full = refit.splits, tiny_run.splits
    for split in range(8):
        source = split - split % 3
        row = table.row(split, named=True)
        assert row["train_start"] == full["train_start"][source] and row["val_start"] == full["val_start"][split]
        assert np.isclose(row["train_mse"], full["train_mse"][source], rtol=1e-5)
        ours = refit.predictions.filter(pl.col("split") == split)["forecast"].to_numpy()
        theirs = tiny_run.predictions.filter(pl.col("split") == split)["forecast"].to_numpy()
        assert np.allclose(ours, theirs, rtol=1e-5) == (split == source)


def _tiny_trainer(config, model):
    """The engine's Trainer for the tiny run's config and `model`, on the two host devices."""
    from wfbt.engine import Trainer

    settings = TrainSettings(config.train.epochs, config.train.batch_size, config.train.learning_rate,
                             config.train.patience, "mse")
    return settings, Trainer(model, settings, config.train.seed, jax.devices()[:2])


def test_batched_engine_equals_one_split_at_a_time(tiny_run):
    """vmap over a chunk and a plain per-split call of the same function agree (same seeds)."""
    from wfbt.engine import make_train_one_split
    from wfbt.features import build_windows

    config = tiny_run.config
    model = build_model(config.model, 1)
    settings, trainer = _tiny_trainer(config, model)
    splits = np.arange(4)
    windows = build_windows(tiny_run.prices.values, tiny_run.plan, splits, config.model.lookback, "minmax")
    batched = trainer.train(windows)
    one = jax.jit(make_train_one_split(model, settings))
    params = jax.device_get(trainer.init_params(splits, windows.x_train))
    _, seeds = trainer.seeds(splits)
    for s in splits:
        out = one(jax.tree.map(lambda leaf: leaf[s], params), windows.x_train[s], windows.y_train[s],
                  np.int32(windows.n_train[s]), windows.x_val[s], windows.y_val[s], windows.x_test[s], seeds[s],
                  np.int32(settings.epochs), np.int32(settings.patience))
        np.testing.assert_allclose(out.val_pred, batched.val_pred[s], rtol=1e-4, atol=1e-5)
        assert int(out.best_epoch) == batched.best_epoch[s] and int(out.epochs_run) == batched.epochs_run[s]
    # and they are the numbers the run reported for those splits, in price units
    from wfbt import scaling

    forecast = scaling.invert(windows.scaler, batched.val_pred.astype(np.float64)).ravel()
    reported = tiny_run.predictions.filter(pl.col("split") < 4)["forecast"].to_numpy()
    np.testing.assert_allclose(forecast, reported, rtol=1e-5)


def test_accelerator_layout_gives_the_cpu_numbers(tiny_run):
    """The layout accelerators get (time loop unrolled, input projection before it) trains to the
    same forecasts as the CPU layout (rolled loop, projection inside each step), here on CPU."""
    from wfbt import scaling
    from wfbt.features import build_windows

    config = tiny_run.config
    _, trainer = _tiny_trainer(config, build_model(config.model, 1, unroll=config.model.lookback))
    windows = build_windows(tiny_run.prices.values, tiny_run.plan, np.arange(4), config.model.lookback, "minmax")
    result = trainer.train(windows)
    forecast = scaling.invert(windows.scaler, result.val_pred.astype(np.float64)).ravel()
    reported = tiny_run.predictions.filter(pl.col("split") < 4)["forecast"].to_numpy()
    np.testing.assert_allclose(forecast, reported, rtol=1e-4)


def test_expanding_windows_train_on_their_real_samples(tmp_path, tiny_run, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["splits.mode='expanding'", "splits.max_splits=6",
                                                             "evaluation.next_forecast=false"])
    expanding = run_experiment(config, out_dir=tmp_path / "out")
    table = expanding.splits
    assert (table["train_start"] == table["train_start"][0]).all() and (table["status"] == "ok").all()
    assert expanding.plan.train_len.tolist() == [40, 43, 46, 49, 52, 55]
    # split 0 has the same window in both modes: padding to longer windows changes nothing
    first = expanding.predictions.filter(pl.col("split") == 0)["forecast"].to_numpy()
    rolling = tiny_run.predictions.filter(pl.col("split") == 0)["forecast"].to_numpy()
    np.testing.assert_allclose(first, rolling, rtol=1e-5)


def test_pnl_trades_only_on_forecasts_no_model_selection_saw(tiny_run):
    """Early stopping looks at the validation window, so the P&L uses forecasts of later points."""
    plan, prices = tiny_run.plan, tiny_run.prices
    tests = tiny_run.test_predictions
    rows = np.searchsorted(prices.date_text(np.arange(len(prices))), tests["date"].to_numpy())
    assert (rows >= plan.val_stop[tests["split"].to_numpy()]).all()  # after the whole validation window
    # step 3: each split forecasts the 3 points after its validation window, so they tile the dates
    assert tests.group_by("split").len()["len"].max() == 3
    equity_dates = set(tiny_run.strategy.equity["date"].cast(str).to_list())
    assert equity_dates <= set(tests["date"].to_list()) and len(equity_dates) > 0


def test_the_mlp_model_trains_and_beats_the_mean_baseline(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["model.name='mlp'", "splits.max_splits=4",
                                                             "evaluation.next_forecast=false"])
    results = run_experiment(config, out_dir=tmp_path / "out")
    table = results.splits
    assert (table["status"] == "ok").all() and len(table) == 4
    assert results.summary["config"]["as_run"]["model"]["name"] == "mlp"
    assert table["val_mse"].median() < table["mean_val_mse"].median()  # it learned something


def test_a_chunk_of_several_calls_keeps_each_splits_numbers_and_parameters(tiny_run):
    """On CPU a chunk bigger than one call (8 splits on 2 devices) runs as several, padded: each
    split's forecasts and kept parameters are those it gets when trained in a call of its own."""
    from wfbt.features import build_windows

    config = tiny_run.config
    _, trainer = _tiny_trainer(config, build_model(config.model, 1))
    assert trainer.call_size == 8

    import dataclasses

    from wfbt.splits import split_plan

    plan = split_plan(len(tiny_run.prices), dataclasses.replace(config.splits, max_splits=None))
    assert len(plan) == 12

    def windows(splits):
        return build_windows(tiny_run.prices.values, plan, splits, config.model.lookback, "minmax")

    whole = trainer.train(windows(np.arange(12)), keep_params=True)  # calls of 0-7 and 8-11 + 4 padded
    alone = trainer.train(windows(np.arange(8, 16) % 12), keep_params=True)
    assert len(whole.split) == 12 and whole.val_pred.shape[0] == 12
    np.testing.assert_array_equal(whole.val_pred[8:], alone.val_pred[:4])
    np.testing.assert_array_equal(whole.train_curve[8:], alone.train_curve[:4])
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(alone.params)):
        assert a.shape[0] == 12
        np.testing.assert_array_equal(np.asarray(a)[8:], np.asarray(b)[:4])


def test_intraday_bars_keep_their_times_and_trade_without_seeing_their_own_price(tmp_path):
    """Two bars a day. Labels by day merged the bars, and the P&L then traded into the midnight
    bar on a forecast whose inputs held that bar's price (a look-ahead). Now every label names
    its bar, and perturbing prices from bar r on changes no forecast or position before r, nor
    the position taken into r."""
    values = random_walk(90)
    times = [np.datetime64("2020-01-01T00:00") + np.timedelta64(12 * i, "h") for i in range(90)]

    def run(prices, name):
        data = tmp_path / f"{name}.csv"
        pl.DataFrame({"Date": [str(t) for t in times], "Close": prices}).write_csv(data)
        config = load_config(write_config(tmp_path, data, name=f"{name}.toml"),
                             ["splits.max_splits=12", "strategy.name='long_short'", "train.epochs=1"])
        return run_experiment(config, out_dir=tmp_path / name)

    base = run(values, "base")
    labels = base.strategy.equity["date"].to_list()
    assert labels[0].endswith(("T00:00:00", "T12:00:00")) and len(set(labels)) == len(labels)
    r = 70
    cut = str(times[r]).replace(" ", "T") + ":00"
    assert cut in labels
    perturbed_values = values.copy()
    perturbed_values[r:] += 20.0
    perturbed = run(perturbed_values, "perturbed")
    for table in ("test_predictions",):
        before = getattr(base, table).filter(pl.col("date") < cut)
        after = getattr(perturbed, table).filter(pl.col("date") < cut)
        np.testing.assert_array_equal(after["forecast"], before["forecast"])
    upto = pl.col("date") <= cut  # the position into bar r was decided at r - 1
    np.testing.assert_array_equal(perturbed.strategy.equity.filter(upto)["position"],
                                  base.strategy.equity.filter(upto)["position"])


def test_expanding_windows_give_each_split_the_same_numbers_whatever_max_splits(tmp_path, tiny_data):
    # windows are padded to the longest the data allows, not to the run's longest
    runs = [run_experiment(load_config(write_config(tmp_path, tiny_data), [
        f"splits.max_splits={n}", "splits.mode='expanding'", "evaluation.next_forecast=false"]),
        out_dir=tmp_path / f"expanding{n}") for n in (3, 8)]
    shorter, longer = (r.predictions.filter(pl.col("split") < 3) for r in runs)
    np.testing.assert_array_equal(shorter["forecast"], longer["forecast"])
