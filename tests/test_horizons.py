"""Multi-step forecasts, `[model] horizon = h`: windows by hand, every model end to end, no leakage,
per-step Diebold-Mariano, the CSVs against the schema, strategies that see every step, and
`wfbt predict` reproducing a horizon run's next points in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
from conftest import random_walk, write_config, write_prices

from wfbt import schema
from wfbt.api import run_experiment
from wfbt.baselines import baseline_step_forecasts
from wfbt.cli import main
from wfbt.config import load_config
from wfbt.errors import UserError
from wfbt.evaluation import dm_test
from wfbt.features import build_windows, horizon_mask
from wfbt.pnl import forecast_steps, one_forecast_per_date, run_strategy
from wfbt.splits import SplitPlan
from wfbt.store import fingerprinted_settings
from wfbt.builtin_strategies import LongShort
from wfbt.strategy import Strategy

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["splits.max_splits=3", "train.epochs=1", "model.hidden_size=4", "model.dense_size=2", "model.num_layers=1", "model.dropout=[0.1]",
         "evaluation.forecast_average=2"]
MODELS = {"lstm": [], "gru": [], "attention": ["model.heads=2"], "mlp": [],
          "plugin": ["model.name='models/mlp_lags.py:MLPLags'", "model.lags=3", "model.hidden=4"]}


def _config(folder, data, *overrides, extra=""):
    return load_config(write_config(folder, data, extra), [*SMALL, *overrides])


# ---------------------------------------------------------------- windows, by hand


def test_windows_with_three_steps_by_hand():
    values = np.arange(100.0, 140.0)  # value = 100 + row: every target names its row
    plan = SplitPlan(np.array([0, 3]), np.array([12, 15]), np.array([12, 15]), np.array([16, 19]), np.array([0, 1]))
    w = build_windows(values, plan, np.array([0, 1]), lookback=4, method="none", test_len=2, horizon=3)
    # training: lookback 4 + 3 targets inside the 12-point window: 12 - 4 - 3 + 1 = 6 samples
    assert w.n_train.tolist() == [6, 6] and w.y_train.shape == (2, 6, 3)
    np.testing.assert_array_equal(w.x_train[0, 0], [100, 101, 102, 103])
    np.testing.assert_array_equal(w.y_train[0, 0], [104, 105, 106])
    np.testing.assert_array_equal(w.y_train[0, 5], [109, 110, 111])  # the last sample ends at the window's end
    assert w.y_train[1].max() == 3 + 100 + 11  # split 1 trains on rows 3 .. 14, never later
    # validation row i targets points i .. i+2; the steps past the window's 4 points are masked (0)
    assert w.y_val.shape == (2, 4, 3)
    np.testing.assert_array_equal(w.y_val[0], [[112, 113, 114], [113, 114, 115], [114, 115, 0], [115, 0, 0]])
    np.testing.assert_array_equal(w.x_val[0, 2], [110, 111, 112, 113])  # inputs: the past of validation row 2
    np.testing.assert_array_equal(horizon_mask(4, 3), w.y_val[0] != 0)
    # after the window: origin p, step k targets val_stop + p + k - 1
    np.testing.assert_array_equal(w.test_rows[0], [[16, 17, 18], [17, 18, 19]])
    np.testing.assert_array_equal(w.last_val[0], [111, 112, 113, 114])  # each origin's value
    one = build_windows(values, plan, np.array([0, 1]), lookback=4, method="none", test_len=2)
    assert one.y_val.shape == (2, 4) and one.n_train.tolist() == [8, 8] and one.test_rows.shape == (2, 2)


def test_baselines_forecast_every_step_by_hand():
    series = np.arange(10.0)  # a straight line: drift 1 per step, and linear fits it exactly
    x_train = np.stack([series[i:i + 3] for i in range(5)])[None]  # lookback 3, 5 samples
    y_train = np.stack([series[i + 3:i + 5] for i in range(5)])[None]  # 2 steps
    x_val = np.array([[[6.0, 7.0, 8.0]]])
    out = baseline_step_forecasts(["naive", "drift", "mean", "linear"], 2, train_series=series[None, :8],
                                  train_len=np.array([8]), x_train=x_train, y_train=y_train, n_train=np.array([5]),
                                  x_val=x_val)
    np.testing.assert_allclose(out["naive"][0, 0], [8.0, 8.0])
    np.testing.assert_allclose(out["drift"][0, 0], [9.0, 10.0])
    np.testing.assert_allclose(out["mean"][0, 0], [3.5, 3.5])
    np.testing.assert_allclose(out["linear"][0, 0], [9.0, 10.0], atol=1e-6)


@pytest.mark.parametrize("override, message", [
    ("model.horizon=0", "model.horizon must be at least 1"),
    ("model.horizon=6", "model.horizon 6 is longer than [splits] val = 5"),
    ("splits.train=10", "lookback + horizon + 1 = 11"),
    ('data.target_transform="log_return"', 'model.horizon 4 with [data] target_transform = "log_return"'),
])
def test_config_errors(tmp_path, tiny_data, override, message):
    horizon = [] if "horizon" in override else ["model.horizon=4"]
    with pytest.raises(UserError) as error:
        load_config(write_config(tmp_path, tiny_data), [*horizon, override])
    assert message in " ".join(str(error.value).split())


def test_a_horizon_at_its_default_leaves_old_run_directories_resumable(tmp_path, tiny_data):
    assert "model.horizon" not in fingerprinted_settings(load_config(write_config(tmp_path, tiny_data)))
    assert "model.horizon" in fingerprinted_settings(load_config(write_config(tmp_path, tiny_data), ["model.horizon=2"]))


# ---------------------------------------------------------------- every model, end to end


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data):
    """h = 5 with every model (the lstm one written to a folder), 3 splits, 1 epoch, tiny sizes."""
    folder = tmp_path_factory.mktemp("horizons")
    results = {}
    for name, overrides in MODELS.items():
        model = [] if name == "plugin" else [f"model.name='{name}'"]
        once = [] if name == "lstm" else ["evaluation.next_forecast=false"]  # the next points: once is enough
        config = _config(folder, tiny_data, "model.horizon=5", *model, *overrides, *once)
        results[name] = run_experiment(config, out_dir=folder / name if name == "lstm" else None)
    return results


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_forecasts_five_steps(runs, name):
    run = runs[name]
    baselines = list(run.summary["baselines"])
    assert (run.splits["status"] == "ok").all()
    assert run.splits.columns == schema.column_names(schema.SPLITS, baselines, horizon=5)
    assert run.predictions.columns == schema.column_names(schema.PREDICTIONS, baselines, horizon=5)
    assert run.test_predictions.columns == schema.column_names(schema.TEST_PREDICTIONS, baselines, horizon=5)
    # step k of a split: its 5 - k + 1 validation targets inside the window, all finite
    counts = run.predictions.filter(pl.col("split") == 0).group_by("horizon").len().sort("horizon")
    assert counts["len"].to_list() == [5, 4, 3, 2, 1]
    assert run.predictions["forecast"].is_finite().all() and run.splits["val_rmse_price_h5"].is_finite().all()
    per_step = run.summary["horizons"]["per_step"]
    assert [s["step"] for s in per_step] == [1, 2, 3, 4, 5]
    assert per_step[0]["compare"]["val_rmse_price"]["model"] == run.summary["compare"]["val_rmse_price"]["model"]
    if name == "lstm":
        assert len(run.summary["next_forecast"]["steps"]["dates"]) == 5


def test_step_one_rows_are_what_the_one_step_columns_score(runs):
    run = runs["lstm"]
    step = run.predictions.filter(pl.col("horizon") == 1).sort("split", "date")
    for split in range(3):
        rows = step.filter(pl.col("split") == split)
        rmse = np.sqrt(np.mean((rows["actual"].to_numpy() - rows["forecast"].to_numpy()) ** 2))
        assert rmse == pytest.approx(run.splits["val_rmse_price"][split], rel=1e-12)
    # step 3 of origin i targets validation point i + 2, and `last` is the origin's value
    rows = run.predictions.filter((pl.col("split") == 0) & (pl.col("horizon") == 3))
    first = run.predictions.filter((pl.col("split") == 0) & (pl.col("horizon") == 1))
    assert rows["date"].to_list() == first["date"].to_list()[2:]
    assert rows["last"].to_list() == first["last"].to_list()[:3]
    # naive: the origin's value at every step (through the float32 scaled windows)
    np.testing.assert_allclose(rows["naive_forecast"], rows["last"], rtol=1e-6)


def test_the_written_csvs_follow_the_schema_and_the_report_renders(runs, capsys):
    run_dir = runs["lstm"].run_dir
    baselines = list(runs["lstm"].summary["baselines"])
    for table in (schema.SPLITS, schema.PREDICTIONS, schema.TEST_PREDICTIONS):
        assert pl.read_csv(run_dir / table).columns == schema.column_names(table, baselines, horizon=5), table
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Per forecast step" in out and (run_dir / "report.html").is_file()
    assert "Per forecast step" in (run_dir / "report.html").read_text()


def test_dm_per_step_is_the_hln_test_with_h_equal_to_the_step(runs):
    run = runs["lstm"]
    for step in run.summary["horizons"]["per_step"]:
        k = step["step"]
        stitched = one_forecast_per_date(run.test_predictions, horizon=k)
        assert (stitched["horizon"] == k).all()
        expected = dm_test(stitched["actual"].to_numpy(), stitched["forecast"].to_numpy(),
                           stitched["naive_forecast"].to_numpy(), horizon=k)
        assert step["dm_test_after_validation"]["naive"] == expected
    # step 1 is the run's one-step test, on the same stitched dates
    assert run.summary["horizons"]["per_step"][0]["dm_test_after_validation"] == run.summary["dm_test_after_validation"]


# ---------------------------------------------------------------- leakage, Gaussian NLL, refit


def test_data_after_the_last_validation_target_cannot_move_a_split(tmp_path):
    values = random_walk(80, seed=3)
    later = values.copy()
    later[40 + 5:] += 25.0  # split 0: train rows 0..39, validation 40..44; everything after moves
    runs = []
    for i, series in enumerate((values, later)):
        data = write_prices(tmp_path / f"p{i}.csv", series)
        config = _config(tmp_path, data, "model.name='mlp'", "model.horizon=3", "splits.max_splits=2",
                         "evaluation.next_forecast=false")
        runs.append(run_experiment(config))
    before, after = (r.splits.filter(pl.col("split") == 0) for r in runs)
    assert before.equals(after)
    rows = [r.predictions.filter(pl.col("split") == 0) for r in runs]
    assert rows[0].equals(rows[1])
    assert not runs[0].splits.filter(pl.col("split") == 1).equals(runs[1].splits.filter(pl.col("split") == 1))


def test_gaussian_nll_and_refit_with_a_horizon(tmp_path, tiny_data):
    config = _config(tmp_path, tiny_data, "model.name='mlp'", "model.horizon=3", "train.loss='gaussian_nll'",
                     "splits.refit_every=2", "evaluation.next_forecast=false")
    run = run_experiment(config)
    assert run.predictions.columns == schema.column_names(schema.PREDICTIONS, list(run.summary["baselines"]),
                                                          variance=True, horizon=3)
    assert (run.predictions["forecast_std"] > 0).all() and run.predictions["forecast"].is_finite().all()
    # split 1 reuses split 0's model: the same training window, its own validation window
    assert run.splits["train_start"][1] == run.splits["train_start"][0]
    assert run.splits["val_start"][1] != run.splits["val_start"][0]


# ---------------------------------------------------------------- strategies


class SeesSteps(Strategy):
    """Long when the forecast three steps ahead is above the last price."""

    horizons = True
    lookback = 1
    seen: ClassVar[list] = []

    def positions(self, forecast, history):
        SeesSteps.seen.append(forecast.copy())
        return np.where(np.nan_to_num(forecast[:, -1], nan=-np.inf) > history.last, 1.0, 0.0)


def test_a_strategy_that_asks_sees_every_step_from_the_same_origin():
    dates = np.arange("2024-01-01", "2024-01-07", dtype="datetime64[D]")
    prices = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    # split 0 forecasts from origins day 1 and day 2 (targets day 2.., day 3..), 3 steps each
    rows = [(0, k, origin + k, 100.0 * origin + k) for origin in (1, 2) for k in (1, 2, 3) if origin + k < 6]
    predictions = pl.DataFrame({"split": [r[0] for r in rows], "horizon": [r[1] for r in rows],
                                "date": [str(dates[r[2]]) for r in rows], "actual": [prices[r[2]] for r in rows],
                                "forecast": [r[3] for r in rows], "last": [prices[r[2] - r[1]] for r in rows]})
    stitched = one_forecast_per_date(predictions)
    matrix = forecast_steps(predictions, stitched, dates)
    np.testing.assert_array_equal(matrix, [[101.0, 102.0, 103.0], [201.0, 202.0, 203.0]])
    SeesSteps.seen.clear()
    result = run_strategy(SeesSteps(), predictions, dates, prices)
    np.testing.assert_array_equal(SeesSteps.seen[0], matrix)
    # days 4 and 5 have forecasts of later steps only: in the P&L, flat (no step-1 forecast)
    assert result.equity["position"].to_list() == [1.0, 1.0, 0.0, 0.0]
    plain = run_strategy(LongShort(), predictions, dates, prices)  # trades step 1 only
    assert plain.equity["position"].to_list() == [1.0, 1.0, 0.0, 0.0]


# ---------------------------------------------------------------- plugins, predict


def test_a_plugin_without_n_outputs_is_told_what_a_horizon_needs(tmp_path, tiny_data, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "one.py").write_text("import flax.linen as nn\n\n\nclass One(nn.Module):\n"
                                   "    @nn.compact\n    def __call__(self, x, deterministic=True, dropout_seed=None):\n"
                                   "        return nn.Dense(1)(x)[:, 0]\n")
    config = write_config(tmp_path, tiny_data)
    code = main(["run", str(config), "--quiet", "--out", str(tmp_path / "out"), "--set", "model.name='models/one.py:One'",
                 "--set", "model.horizon=3"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "[model] horizon = 3 needs 3 outputs per row" in " ".join(err.split())


def test_predict_reproduces_a_horizon_runs_next_points_in_a_fresh_process(tmp_path, tiny_data, capsys):
    config = _config(tmp_path, tiny_data, "model.name='mlp'", "model.horizon=3")
    run = run_experiment(config, out_dir=tmp_path / "out")
    info = json.loads((tmp_path / "out" / "model" / "next_point.json").read_text())
    assert info["horizon"] == 3 and info["n_outputs"] == 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "wfbt.cli", "predict", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    theirs, ours = json.loads(done.stdout), run.summary["next_forecast"]
    assert theirs["steps"] == ours["steps"] and theirs["forecasts"] == ours["forecasts"]
    assert len(ours["steps"]["dates"]) == 3 and ours["steps"]["dates"][0] == ours["date"]
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "The next 3 points" in printed and all(date in printed for date in ours["steps"]["dates"])
