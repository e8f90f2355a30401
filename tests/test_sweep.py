"""`wfbt sweep`: the grid, trials batched into one program, equal to runs of their own, resume."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import write_config
from wfbt.cli import main
from wfbt.config import load_raw
from wfbt.errors import UserError
from wfbt.sweep import expand, run_sweep, structure, sweep_grid

SWEEP = """
[sweep]
train.learning_rate = [0.01, 0.05]
train.epochs = [2, 3]
"""
FAST = ["splits.max_splits=4", "evaluation.next_forecast=false"]


def test_the_grid_is_every_combination_in_order_with_ids(tmp_path, tiny_data):
    path = write_config(tmp_path, tiny_data, SWEEP + "strategy.cost_bps = [0.0, 5.0]\n")
    raw, _ = load_raw(path)
    grid = sweep_grid(raw["sweep"], path)
    assert list(grid) == ["train.learning_rate", "train.epochs", "strategy.cost_bps"]
    trials = expand(raw, grid, path)
    assert [t.id for t in trials] == [f"{i:03d}" for i in range(8)]
    assert trials[5].values == {"train.learning_rate": 0.05, "train.epochs": 2, "strategy.cost_bps": 5.0}
    assert trials[5].config.train.learning_rate == 0.05 and trials[5].config.strategy.cost_bps == 5.0
    # the per-split numbers share a structure; a hidden size does not
    assert len({structure(t.config) for t in trials}) == 1
    raw["sweep"]["model"] = {"hidden_size": [8, 4]}
    assert len({structure(t.config) for t in expand(raw, sweep_grid(raw["sweep"], path), path)}) == 2


@pytest.mark.parametrize("table, message", [
    ({"train": {"learnin_rate": [0.1]}}, "Did you mean 'learning_rate'"),
    ({"train": {"learning_rate": 0.1}}, "expected a non-empty list"),
    ({"trian": {"epochs": [1]}}, "unknown section"),
    (None, "needs a [sweep] table"),
])
def test_a_bad_sweep_table_is_one_clear_error(tmp_path, table, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        sweep_grid(table, tmp_path / "x.toml")


def test_a_bad_trial_value_names_the_trial(tmp_path, tiny_data):
    path = write_config(tmp_path, tiny_data, "[sweep]\ntrain.epochs = [2, -1]\n")
    raw, _ = load_raw(path)
    with pytest.raises(UserError, match=r"\[sweep\] trial 001 \(train.epochs = -1\).*epochs"):
        expand(raw, sweep_grid(raw["sweep"], path), path)


def test_batched_trials_equal_runs_of_their_own_and_a_killed_sweep_resumes(tmp_path, tiny_data):
    path = write_config(tmp_path, tiny_data, SWEEP)
    out = tmp_path / "sweep"
    done = run_sweep(path, FAST, out_dir=out)
    assert done.programs == 1 and done.table.height == 4
    table = pl.read_csv(out / "trials.csv")
    assert table.columns[:3] == ["trial", "train.learning_rate", "train.epochs"]
    assert {"val_rmse_price_median", "beats_naive", "dm_naive_p_value", "seconds"} <= set(table.columns)
    # trial 000 trained for 2 epochs in a program compiled for 3, beside trials at another rate
    for trial in ("000", "003"):
        alone = tmp_path / f"alone{trial}"
        assert main(["run", str(out / "trials" / trial / "config.toml"), "--out", str(alone), "--quiet"]) == 0
        for name in ("splits.csv", "predictions.csv", "curves.csv", "equity.csv"):
            assert (out / "trials" / trial / name).read_bytes() == (alone / name).read_bytes(), (trial, name)
    # a sweep killed halfway: trial 002 lost a chunk; the rerun trains only that chunk
    chunk = sorted((out / "trials" / "002" / "partial").glob("chunk-*.npz"))[0]
    chunk.unlink()
    again = run_sweep(path, FAST, out_dir=out)
    trained = [r.summary["splits"]["trained_now"] for r in again.results]
    assert trained == [0, 0, 4, 0]
    np.testing.assert_array_equal(again.results[2].predictions["forecast"], done.results[2].predictions["forecast"])


def test_trials_of_other_shapes_get_their_own_program_and_the_cli_prints_the_table(tmp_path, tiny_data, capsys):
    path = write_config(tmp_path, tiny_data, "[sweep]\nmodel.hidden_size = [8, 4]\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "--max-splits", "2",
                 "--set", "evaluation.next_forecast=false"]) == 0
    printed = capsys.readouterr().out
    assert "2 trials in 2 compiled program(s)" in printed and "model.hidden_size" in printed
    assert Path(tmp_path / "s" / "trials" / "001" / "summary.json").is_file()


def test_the_trials_table_fits_80_columns_without_cutting_numbers():
    from rich.console import Console

    from wfbt import report

    trials = pl.DataFrame({"trial": ["000", "001"], "train.learning_rate": [0.001, 0.003], "train.seed": [0, 1],
                           "val_rmse_price_median": [0.9345, 0.9528], "val_rmse_price_iqr": [0.971, 0.9912],
                           "beats_naive": [0.1616, 0.1667], "dm_naive_statistic": [4.694, 5.089],
                           "dm_naive_p_value": [5.017e-06, 8.383e-07], "sharpe": [-0.2922, -0.5133],
                           "seconds": [164.8, 166.2]})
    console = Console(width=80, record=True)
    console.print(report.fitting(console, lambda: report.trials_table(trials, 1),
                                 lambda: report.trials_table(trials, 1, narrow=True)))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "learning_rate" in text and "5.02e-06" in text
