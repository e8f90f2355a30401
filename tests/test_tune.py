"""`wfbt tune`: the [tune] table, the nested periods, a search blind to the holdout, resume."""

import json

import numpy as np
import pytest

from conftest import random_walk, write_config, write_prices
from wfbt.cli import main
from wfbt.config import SplitsConfig
from wfbt.errors import UserError
from wfbt.splits import split_plan
from wfbt.tune import periods, run_tune, tune_spec

TUNE = """
[tune]
trials = 4
batch = 2
holdout = 0.3
seed = 3
[tune.space]
train.learning_rate = { low = 0.003, high = 0.05, log = true }
train.epochs = [2, 3]
"""
FAST = ["evaluation.next_forecast=false", "strategy.name='long_short'", "splits.max_splits=12"]


def test_the_holdout_starts_after_every_tuning_point():
    plan = split_plan(40, SplitsConfig(train=10, val=2, step=1))  # 29 splits
    # the last 9 splits (round(0.3 * 29)) are the holdout, from split 20 (validation from row 30);
    # a tuning split s touches rows up to s + 12 (its validation and after-validation point):
    # s + 13 <= 30 keeps splits 0..17, and 18 and 19 belong to neither period
    assert periods(plan, step=1, holdout=0.3) == (18, 20)
    with pytest.raises(UserError, match="no tuning split"):
        periods(split_plan(13, SplitsConfig(train=10, val=2, step=1)), step=1, holdout=0.5)


@pytest.mark.parametrize("table, message", [
    ({"trials": 3}, "needs a [tune.space] table"),
    ({"trails": 3, "space": {"train": {"epochs": [1, 2]}}}, "Did you mean 'trials'"),
    ({"holdout": 1.5, "space": {"train": {"epochs": [1, 2]}}}, "between 0 and 1"),
    ({"space": {"train": {"learning_rate": {"low": 0.1, "high": 0.01}}}}, "low < high"),
    ({"space": {"train": {"learnig_rate": [0.1]}}}, "Did you mean 'learning_rate'"),
    ({"objective": "sharpe", "space": {"train": {"epochs": [1, 2]}}}, "is not one of"),
])
def test_a_bad_tune_table_is_one_clear_error(tmp_path, table, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        tune_spec(table, tmp_path / "x.toml")


def test_the_search_never_reads_the_holdout_and_the_study_resumes(tmp_path, tiny_data, capsys):
    values = random_walk()
    runs = {}
    for name, prices in (("base", values), ("perturbed", np.concatenate([values[:64], values[64:] * 3.0]))):
        data = write_prices(tmp_path / f"{name}.csv", prices)
        path = write_config(tmp_path, data, TUNE, name=f"{name}.toml")
        runs[name] = run_tune(path, FAST, out_dir=tmp_path / name)
    base, perturbed = runs["base"], runs["perturbed"]
    # 12 splits: the holdout is splits 8..11 (validation from row 64), the search used splits 0..5
    assert base.report["tuning_splits"]["count"] == 6 and base.report["holdout_splits"]["first"] == 8
    for trial in (tmp_path / "base" / "trials").iterdir():
        for chunk in (trial / "partial").glob("chunk-*.npz"):
            assert np.load(chunk)["split"].max() < 6
    # prices from the first holdout validation point on changed threefold: the search saw none of it
    assert base.trials["value"].to_list() == perturbed.trials["value"].to_list()
    assert base.report["best"] == perturbed.report["best"]
    assert base.report["holdout"]["model"] != perturbed.report["holdout"]["model"]
    holdout = base.report["holdout"]
    assert {"model", "naive", "beats_naive", "dm_naive"} <= set(holdout)
    assert base.report["optimism"] == pytest.approx(holdout["model"] - base.report["best"]["tuning_score"])
    saved = json.loads((tmp_path / "base" / "tune.json").read_text())
    assert saved["best"]["params"] == base.report["best"]["params"]
    # a rerun finds the finished study: no new trial, the same verdict, printed
    path = tmp_path / "base.toml"
    assert main(["tune", str(path), "--out", str(tmp_path / "base"), *sum((["--set", s] for s in FAST), [])]) == 0
    assert "Tuning: best of 4 trials" in capsys.readouterr().out
    assert json.loads((tmp_path / "base" / "tune.json").read_text())["states"] == saved["states"]
