"""Permutation importance (wfbt.importance) and the log-return target (wfbt.transform).

One synthetic series drives most tests: Close_t = 50 + 5 · A_(t-1), with inputs A and B, where B
is pure noise. A small MLP learns the relation in a few seconds; shuffling A must hurt, shuffling B
must not. Every run here shares the same shapes, so the programs compile once per session.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import wfbt
from wfbt import importance, schema, transform
from wfbt.api import run_experiment
from wfbt.config import load_config
from wfbt.errors import UserError
from wfbt.rundir import write_csv_atomic

SYNTHETIC = """
[data]
source = "{source}"
target = "Close"

[splits]
train = 60
val = 10
step = 10
max_splits = 10

[model]
name = "mlp"
lookback = 2
hidden_size = 16
num_layers = 1
dense_size = 4
dropout = [0.0]

[train]
epochs = 40
batch_size = 10
learning_rate = 0.01
patience = 0
seed = 3

[evaluation]
next_forecast = false
baselines = ["naive", "linear"]

[[features]]
kind = "column"
column = "A"

[[features]]
kind = "column"
column = "B"
"""


def synthetic_frame(n: int = 170, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    close = 50.0 + 5.0 * np.concatenate([[0.0], a[:-1]])  # the next close follows A, never B
    dates = pl.date_range(pl.date(2020, 1, 1), pl.date(2030, 1, 1), "1d", eager=True)[:n]
    return pl.DataFrame({"Date": dates, "A": a, "B": b, "Close": close})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("importance")
    source = folder / "synthetic.csv"
    synthetic_frame().write_csv(source)
    path = folder / "synthetic.toml"
    path.write_text(SYNTHETIC.format(source=source))
    return path


@pytest.fixture(scope="module")
def ranked(synthetic, tmp_path_factory):
    """The synthetic run with importance ("auto": two inputs), written to a run directory."""
    return run_experiment(load_config(synthetic), out_dir=tmp_path_factory.mktemp("ranked") / "run")


def test_an_input_the_target_ignores_has_near_zero_importance(ranked):
    table = ranked.importance
    delta = {name: table.filter(pl.col("feature") == name)["delta"].to_numpy() for name in ("A", "B")}
    assert len(delta["A"]) == len(delta["B"]) == 10
    assert (delta["A"] > 0.02).all()  # shuffling A costs far more than the model's own error
    assert np.abs(delta["B"]).max() < 0.05 * delta["A"].min()
    assert np.median(ranked.splits["val_mse"].to_numpy()) < 0.1 * delta["A"].mean()
    summary = ranked.summary["importance"]
    assert [row["feature"] for row in summary["features"]] == ["A", "B"] and summary["repeats"] == 5
    assert summary["features"][0]["positive_share"] == 1.0 and summary["features"][0]["count"] == 10


def test_importance_csv_follows_the_schema_and_loads_back(ranked):
    out = ranked.run_dir
    assert ranked.importance.columns == schema.column_names(schema.IMPORTANCE, []) == ["split", "ticker", "feature",
                                                                                       "delta"]
    assert ranked.importance["ticker"].unique().to_list() == ["synthetic"]  # a file: its stem
    assert ranked.importance["split"].to_list() == list(np.repeat(np.arange(10), 2))
    loaded = wfbt.load(out)  # 8 significant digits in the file: deltas are far below 1
    assert loaded.importance.drop("delta").equals(ranked.importance.drop("delta"))
    np.testing.assert_allclose(loaded.importance["delta"].to_numpy(), ranked.importance["delta"].to_numpy(), rtol=1e-7)
    from wfbt.html_report import write_report

    write_report(out)
    assert (out / "plots" / "importance.png").is_file()
    assert "Input importance" in (out / "report.html").read_text()


def test_importance_does_not_depend_on_the_chunk_size(synthetic, ranked):
    other = run_experiment(load_config(synthetic, ["engine.chunk_size=16"]))
    np.testing.assert_array_equal(other.importance["delta"].to_numpy(), ranked.importance["delta"].to_numpy())
    assert other.splits.equals(ranked.splits)


def test_a_refit_follower_is_ranked_with_its_leaders_model(synthetic, ranked):
    refit = run_experiment(load_config(synthetic, ["splits.refit_every=3"]))
    for split in range(10):
        own = refit.importance.filter(pl.col("split") == split)["delta"].to_numpy()
        plain = ranked.importance.filter(pl.col("split") == split)["delta"].to_numpy()
        # a split that trains has its plain run's deltas; a follower its own (another model, its own window)
        assert np.array_equal(own, plain) == (split % 3 == 0) and np.isfinite(own).all()


def test_with_a_horizon_shuffling_the_input_that_drives_step_one_hurts(synthetic):
    """[model] horizon = 2: the MSE is over both steps (the one past the window masked); A drives
    step 1 only (step 2's target is unpredictable noise, which the model fits a little from B), yet
    shuffling A must still cost several times what shuffling B does."""
    run = run_experiment(load_config(synthetic, ["model.horizon=2", "splits.max_splits=4"]))
    delta = {name: run.importance.filter(pl.col("feature") == name)["delta"].to_numpy() for name in ("A", "B")}
    assert np.isfinite(delta["A"]).all() and (delta["A"] > 4 * np.abs(delta["B"])).all()


def test_the_terminal_table_fits_80_columns(ranked):
    from rich.console import Console

    from wfbt.report import print_summary

    console = Console(width=80, record=True)
    print_summary(console, ranked.summary)
    text = console.export_text()
    assert "Input importance over 10 splits" in text and max(len(line) for line in text.splitlines()) <= 80


def test_turning_importance_on_for_an_older_run_retrains_and_changes_nothing_else(synthetic, tmp_path):
    out = tmp_path / "run"
    notes: list[str] = []
    plain = run_experiment(load_config(synthetic, ["evaluation.importance=false", "splits.max_splits=4"]), out_dir=out)
    assert plain.importance is None and not (out / "importance.csv").exists()
    before = {name: (out / name).read_bytes() for name in ("splits.csv", "predictions.csv", "curves.csv")}
    on = run_experiment(load_config(synthetic, ["splits.max_splits=4"]), out_dir=out, log=notes.append)
    assert on.summary["splits"]["trained_now"] == 4 and any("lack importance" in n for n in notes)
    assert {name: (out / name).read_bytes() for name in before} == before  # importance never changes training
    assert pl.read_csv(out / "importance.csv").height == 8
    again = run_experiment(load_config(synthetic, ["splits.max_splits=4"]), out_dir=out)
    assert again.summary["splits"]["trained_now"] == 0 and again.importance.equals(on.importance)
    off = run_experiment(load_config(synthetic, ["splits.max_splits=4", "evaluation.importance=false"]), out_dir=out)
    assert off.summary["splits"]["trained_now"] == 0 and not (out / "importance.csv").exists()


def test_permutations_come_from_the_seed_and_split_alone():
    perms = importance.permutations(0, np.array([3, 4]), 2, 3, 10)
    assert perms.shape == (2, 2, 3, 10)
    assert (np.sort(perms, axis=-1) == np.arange(10)).all()
    np.testing.assert_array_equal(importance.permutations(0, np.array([4]), 2, 3, 10)[0], perms[1])
    np.testing.assert_array_equal(importance.permutations(0, np.array([3]), 2, 5, 10)[0, :, :3], perms[0])
    assert not np.array_equal(perms[0], perms[1]) and not np.array_equal(perms[0, 0], perms[0, 1])
    assert importance.ticker_name("sample:AAPL") == "AAPL" and importance.ticker_name("/x/msft.csv") == "msft"


def test_the_log_return_transform_round_trips_on_hand_numbers():
    learned = transform.learned_series(np.array([100.0, 110.0, 99.0]), "log_return")
    assert math.isnan(learned[0])
    np.testing.assert_allclose(learned[1:], [math.log(1.1), math.log(0.9)])
    np.testing.assert_allclose(transform.to_price("log_return", learned[1:], np.array([100.0, 110.0])), [110.0, 99.0])
    np.testing.assert_allclose(transform.from_price("log_return", np.array([110.0, 99.0]), np.array([100.0, 110.0])),
                               learned[1:])
    assert transform.to_price("log_return", 0.0, 42.0) == 42.0  # a zero return is the last price
    assert transform.learned_series(np.ones(3), "none") is None and transform.to_price("none", 5.0, 1.0) == 5.0
    np.testing.assert_allclose(transform.std_to_price("log_return", 0.01, 110.0), 1.1)


def test_a_log_return_run_reports_prices_and_keeps_the_price_baselines(synthetic):
    overrides = ["splits.max_splits=4", "evaluation.importance=false"]
    plain = run_experiment(load_config(synthetic, overrides))
    returns = run_experiment(load_config(synthetic, [*overrides, 'data.target_transform="log_return"']))
    assert len(returns.prices) == len(plain.prices) - 1 and returns.prices.warmup == 1  # row 0 has no return
    assert returns.prices.dates[0] == plain.prices.dates[1]
    assert returns.summary["data"]["target_transform"] == "log_return"
    # the same actual and last prices on the dates both forecast (the splits start a row later);
    # naive forecasts the last price in both runs
    shift = returns.predictions.join(plain.predictions, on="date", suffix="_plain")
    assert shift.height == returns.predictions.height - 1
    np.testing.assert_array_equal(shift["actual"], shift["actual_plain"])
    np.testing.assert_array_equal(shift["last"], shift["last_plain"])
    np.testing.assert_allclose(shift["naive_forecast"], shift["last"], rtol=1e-6)
    np.testing.assert_allclose(shift["naive_forecast"], shift["naive_forecast_plain"], rtol=1e-6)
    # every forecast is a price: the last price times exp(the forecast log return)
    forecast, last = returns.predictions["forecast"].to_numpy(), returns.predictions["last"].to_numpy()
    assert np.isfinite(forecast).all() and (np.abs(np.log(forecast / last)) < 1.0).all()
    assert returns.splits["val_rmse_price"].to_numpy().max() < 50.0
    # scaled metrics are in the learned units: baselines are scored there too, so shares compare
    np.testing.assert_allclose(returns.splits["naive_val_mse"].to_numpy() > 0, True)
    assert set(returns.summary["model_beats_share"]) == {"naive", "linear"}


def test_no_leakage_with_log_returns_and_importance_on(synthetic, tmp_path):
    frame = synthetic_frame()
    overrides = ["splits.max_splits=6", 'data.target_transform="log_return"', "train.epochs=5"]

    def run(data, name):
        source = tmp_path / f"{name}.csv"
        data.write_csv(source)
        config = tmp_path / f"{name}.toml"
        config.write_text(SYNTHETIC.format(source=source))
        return run_experiment(load_config(config, overrides))

    base = run(frame, "base")
    k = 2
    cut = int(base.plan.val_stop[k]) + base.prices.warmup  # a row of the file: the warm-up row comes first
    perturbed = frame.with_columns(*(pl.when(pl.int_range(pl.len()) >= cut).then(pl.col(c) * 3.0).otherwise(pl.col(c))
                                     for c in ("A", "B", "Close")))
    after = run(perturbed, "after")
    early, later = pl.col("split") <= k, pl.col("split") == k + 3
    assert after.predictions.filter(early).equals(base.predictions.filter(early))
    deltas = {name: run.importance.drop("ticker") for name, run in (("base", base), ("after", after))}  # file stems
    assert deltas["after"].filter(early).equals(deltas["base"].filter(early))
    assert not deltas["after"].filter(later).equals(deltas["base"].filter(later))


def test_the_new_keys_are_checked(synthetic):
    for value, message in (("1", 'is not one of "auto", true, false'), ('"yes"', "is not one of")):
        with pytest.raises(UserError, match=message):
            load_config(synthetic, [f"evaluation.importance={value}"])
    with pytest.raises(UserError, match="importance_repeats must be at least 1"):
        load_config(synthetic, ["evaluation.importance_repeats=0"])
    with pytest.raises(UserError, match="is not one of 'log_return', 'none'"):
        load_config(synthetic, ['data.target_transform="log"'])


def test_a_log_return_of_a_non_positive_price_is_a_user_error(tmp_path):
    frame = synthetic_frame().with_columns(pl.when(pl.int_range(pl.len()) == 90).then(0.0).otherwise(pl.col("Close"))
                                           .alias("Close"))
    source = tmp_path / "zero.csv"
    write_csv_atomic(source, frame)
    config = tmp_path / "zero.toml"
    config.write_text(SYNTHETIC.format(source=source))
    with pytest.raises(UserError, match=r"target_transform = \"log_return\" needs positive prices.*row 91"):
        run_experiment(load_config(config, ['data.target_transform="log_return"']))
