"""The notebook API: wfbt.run on a DataFrame equals the same run from a CSV, overrides are checked
like --set, wfbt.load gives the run back from its files, and docs/api.md's example runs as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import wfbt
from conftest import write_config
from wfbt import engine, runtime
from wfbt.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def jax_already_set_up(monkeypatch):
    """conftest set JAX up (two devices, no compilation cache); wfbt.run must not change that."""
    monkeypatch.setattr(runtime, "configure_jax", lambda *args, **kwargs: None)


def test_a_dataframe_run_equals_the_run_of_its_csv(tiny_run, tiny_data, tmp_path):
    frame = pd.read_csv(tiny_data)  # the very data tiny_run read from the CSV, as pandas
    config = write_config(tmp_path, "no-such-file.csv")  # the source is never read: data= replaces it
    results = wfbt.run(config, data=frame, progress=False)
    assert results.run_dir is None and results.prices.source == "DataFrame"
    for name in ("splits", "predictions", "test_predictions", "curves"):
        assert_frame_equal(getattr(results, name), getattr(tiny_run, name))
    assert_frame_equal(results.equity, tiny_run.strategy.equity)
    assert results.summary["dm_test_after_validation"] == tiny_run.summary["dm_test_after_validation"]
    figure = results.plot_forecast()
    assert figure.get_suptitle().startswith("Out-of-sample forecast vs actual")


def test_a_bad_frame_gets_the_file_errors(tiny_data, tmp_path):
    config = write_config(tmp_path, "no-such-file.csv")
    frame = pl.read_csv(tiny_data)
    with pytest.raises(UserError, match="no target column 'Close'. Did you mean"):
        wfbt.run(config, data=frame.rename({"Close": "close"}), progress=False)
    shuffled = frame[[1, 0, *range(2, frame.height)]]
    with pytest.raises(UserError, match="row 2: dates are not sorted"):
        wfbt.run(config, data=shuffled, progress=False)
    with pytest.raises(UserError, match="expected a pandas or Polars DataFrame"):
        wfbt.run(config, data=[1, 2, 3], progress=False)


def test_overrides_are_checked_like_set(tiny_data, tmp_path):
    config = write_config(tmp_path, tiny_data)
    with pytest.raises(UserError, match=r"override train\.epocs: unknown key\. Did you mean 'epochs'"):
        wfbt.run(config, train={"epocs": 2}, progress=False)
    with pytest.raises(UserError, match=r"unknown section \[trian\]\. Did you mean 'train'"):
        wfbt.run(config, trian={"epochs": 2}, progress=False)
    with pytest.raises(UserError, match=r"override train\.epochs: expected an integer"):
        wfbt.run(config, train={"epochs": "two"}, progress=False)
    with pytest.raises(UserError, match="an override is a dict of keys"):
        wfbt.run(config, train=2, progress=False)
    from wfbt.notebook import with_overrides

    merged = with_overrides(config, {"train": {"epochs": 2}, "splits": {"max_splits": 3}})
    assert merged.train.epochs == 2 and merged.train.seed == 7 and merged.splits.max_splits == 3
    from wfbt.config import load_config

    assert with_overrides(load_config(config), {"model": {"lookback": 5}}).model.lookback == 5
    assert with_overrides({"train": {"epochs": 4}}, {}).train.epochs == 4


def test_load_gives_the_run_back_without_training(tiny_run, monkeypatch):
    monkeypatch.setattr(engine.Trainer, "start", lambda *a, **k: pytest.fail("load must not train"))
    loaded = wfbt.load(tiny_run.run_dir)
    for name in ("splits", "predictions", "test_predictions", "curves"):
        assert_frame_equal(getattr(loaded, name), getattr(tiny_run, name), check_exact=False, rel_tol=1e-6)
    assert_frame_equal(loaded.equity, tiny_run.equity, check_exact=False, rel_tol=1e-6)
    assert loaded.summary["describe"] == tiny_run.summary["describe"]  # summary.json, read back
    assert loaded.plan.val_start.tolist() == tiny_run.plan.val_start.tolist()
    assert loaded.strategy.figures == pytest.approx(tiny_run.summary["strategy"]["figures"], nan_ok=True)
    assert loaded.plot_equity() is not None and loaded.plot_intervals() is None


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.M | re.S)


def test_the_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    for folder in ("experiments", "strategies"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks((REPO / "docs" / "api.md").read_text())
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)  # noqa: S102 - the documented example
    assert (tmp_path / "runs" / "notebook" / "my_forecast.png").stat().st_size > 10_000
    assert namespace["other"].summary["data"]["source"] == "DataFrame"
    assert "splits;" in capsys.readouterr().out
