"""The chunk store: a derived fingerprint, resume that refuses or retrains, raw outputs only."""

import dataclasses
import datetime as dt
import json
import os
import typing

import numpy as np
import polars as pl
import pytest

from conftest import write_config
from wfbt import schema
from wfbt.api import run_experiment
from wfbt.cli import main
from wfbt.config import SECTIONS, load_config
from wfbt.errors import UserError
from wfbt.store import NOT_FINGERPRINTED, FolderStore, identity

DATES = np.arange("2020-01-01", "2020-03-01", dtype="datetime64[D]")
VALUES = np.linspace(10.0, 20.0, len(DATES))
RESOLVED = {"layout.unroll": 1, "layout.platform": "cpu"}


def every_key(config) -> list[tuple[str, str, typing.Any]]:
    """(section, key, type hint) of every config key, walked from the dataclasses."""
    keys = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        keys += [(section, f.name, hints[f.name]) for f in dataclasses.fields(cls)]
    return keys


def changed(value, hint):
    """Another valid value of a config field."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return next(a for a in args if a != value)
    if value is None:
        inner = next(a for a in args if a is not type(None))
        return {int: 5, float: 5.0, dt.date: dt.date(2020, 1, 2)}[inner]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return (*value, 0.1)
    if isinstance(value, dict):
        return {**value, "extra": 1}
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    raise AssertionError(f"no changed value for {value!r} ({hint})")


def test_every_config_key_is_fingerprinted_or_listed_as_proven_harmless(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data))
    base = identity(config, DATES, VALUES, RESOLVED)
    walked = every_key(config)
    for section, key, hint in walked:
        part = getattr(config, section)
        new = dataclasses.replace(part, **{key: changed(getattr(part, key), hint)})
        other = identity(dataclasses.replace(config, **{section: new}), DATES, VALUES, RESOLVED)
        listed = f"{section}.{key}" in NOT_FINGERPRINTED or f"{section}.*" in NOT_FINGERPRINTED
        # a key nobody listed must change the fingerprint; a listed one must not
        assert (other.fingerprint != base.fingerprint) != listed, f"{section}.{key}"
    names = {f"{s}.{k}" for s, k, _ in walked} | {f"{s}.*" for s in SECTIONS}
    assert set(NOT_FINGERPRINTED) <= names  # no stale entries
    assert identity(config, DATES, VALUES + 1e-9, RESOLVED).fingerprint != base.fingerprint  # the data too
    assert identity(config, DATES, VALUES, {**RESOLVED, "layout.unroll": 2}).fingerprint != base.fingerprint


def test_a_resume_refuses_every_changed_numeric_setting_and_names_it(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data))
    FolderStore(tmp_path / "run", identity(config, DATES, VALUES, RESOLVED))
    for section, key, hint in every_key(config):
        part = getattr(config, section)
        value = getattr(part, key)
        if part is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if f"{section}.{key}" in NOT_FINGERPRINTED or f"{section}.*" in NOT_FINGERPRINTED:
            continue
        other = dataclasses.replace(config, **{section: dataclasses.replace(part, **{key: changed(value, hint)})})
        with pytest.raises(UserError, match=rf"{section}\.{key} {value} -> {changed(value, hint)}.*--overwrite"):
            FolderStore(tmp_path / "run", identity(other, DATES, VALUES, RESOLVED))


def test_settings_proven_harmless_resume_without_training_and_take_effect(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    first = run_experiment(load_config(config, ["evaluation.baselines=['naive']"]), out_dir=out)
    assert [c for c in first.splits.columns if c.startswith("linear_")] == []
    # another chunk size, a baseline added, another strategy: nothing retrains, all recomputed
    again = run_experiment(load_config(config, ["engine.chunk_size=16", "strategy.name='long_short'",
                                                "evaluation.baselines=['naive', 'linear']"]), out_dir=out)
    assert again.summary["splits"]["trained_now"] == 0
    assert "linear_val_mse" in again.splits.columns and "linear" in again.summary["dm_test"]
    np.testing.assert_array_equal(again.predictions["forecast"], first.predictions["forecast"])
    assert again.strategy.figures["total_return"] != first.strategy.figures["total_return"]
    # the training figures of the run that trained are kept; this run's are apart
    assert again.summary["seconds"]["training"] == first.summary["seconds"]["training"] > 0
    assert again.summary["splits_per_second"] == first.summary["splits_per_second"]


def test_a_chunk_of_another_format_is_retrained_with_a_note_never_a_key_error(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    args = ["run", str(config), "--out", str(out), "--quiet", "--max-splits", "4"]
    assert main(args) == 0
    before = pl.read_csv(out / "splits.csv")
    # a chunk that lacks a raw output, saved under the current format: retrained, not misread
    chunk = sorted((out / "partial").glob("chunk-*.npz"))[0]
    with np.load(chunk) as data:
        arrays = {k: data[k] for k in data.files if k != "val_curve"}
    np.savez(chunk, **arrays)
    assert main(args) == 0
    assert json.loads((out / "summary.json").read_text())["splits"]["trained_now"] == 4
    np.testing.assert_array_equal(pl.read_csv(out / "splits.csv")["val_mse"], before["val_mse"])
    # a folder from before this format (fingerprint.txt, chunks of metrics): trained again, said once
    (out / "partial" / "experiment.json").unlink()
    (out / "partial" / "fingerprint.txt").write_text("0" * 64 + "\n")
    np.savez(out / "partial" / "chunk-000000-000003.npz", split=np.arange(4), val_mse=np.zeros(4))
    capsys.readouterr()
    assert main(args) == 0
    assert "saved by an older wfbt" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["splits"]["trained_now"] == 4


def test_a_run_without_a_folder_writes_nothing(tmp_path, tiny_data, monkeypatch):
    config = load_config(write_config(tmp_path, tiny_data), ["splits.max_splits=2", "evaluation.next_forecast=false",
                                                             "strategy.name='long_short'"])
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    results = run_experiment(config)
    assert results.run_dir is None and results.splits.height == 2 and results.strategy is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_tables_follow_the_declared_schema(tiny_run):
    baselines = list(tiny_run.summary["baselines"])
    assert tiny_run.splits.columns == schema.column_names(schema.SPLITS, baselines)
    assert tiny_run.predictions.columns == schema.column_names(schema.PREDICTIONS, baselines)
    assert tiny_run.test_predictions.columns == schema.column_names(schema.TEST_PREDICTIONS, baselines)
    assert tiny_run.curves.columns == schema.column_names(schema.CURVES, baselines)
    ljung_box = tiny_run.summary["residuals"]["ljung_box"]  # in summary.json, not only in the report
    assert 0.0 <= ljung_box["p_value"] <= 1.0 and ljung_box["lags"] >= 1
    declared = {c.name for c in schema.COLUMNS}
    assert {"val_rmse_price", "{baseline}_forecast", "forecast_std"} <= declared
    # [model] horizon > 1 only (tests/test_horizons.py checks such a run's CSVs): absent at h = 1
    assert {"horizon", "val_rmse_price_h{step}", "{baseline}_val_rmse_price_h{step}"} <= declared
    assert "horizon" not in tiny_run.predictions.columns and "val_rmse_price_h2" not in tiny_run.splits.columns
    steps = schema.column_names(schema.SPLITS, baselines, horizon=3)
    assert steps[:len(tiny_run.splits.columns)] == tiny_run.splits.columns and "naive_val_mse_h3" in steps


def test_result_files_get_the_mode_a_plain_write_gives(tmp_path):
    from wfbt.rundir import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644


def test_the_refusal_names_what_differs(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--max-splits", "2"]) == 0
    capsys.readouterr()
    assert main(["run", str(config), "--out", str(out), "--quiet", "--max-splits", "2",
                 "--set", "train.epochs=2"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "train.epochs 3 -> 2" in err and "--out DIR" in err and "--overwrite" in err
    assert main(["run", str(config), "--out", str(out), "--quiet", "--max-splits", "2",
                 "--set", "train.epochs=2", "--overwrite"]) == 0


def test_the_one_forecast_per_date_rule_lets_an_older_split_fill_in_for_a_failed_one():
    from wfbt.pnl import one_forecast_per_date

    frame = pl.DataFrame({"split": [0, 1, 0, 1, 2], "date": ["d1", "d1", "d2", "d2", "d2"],
                          "forecast": [1.0, 2.0, 3.0, 4.0, float("nan")], "naive_forecast": [9.0] * 5})
    stitched = one_forecast_per_date(frame)
    assert stitched["split"].to_list() == [1, 1] and stitched["forecast"].to_list() == [2.0, 4.0]
    assert stitched.columns == frame.columns


def test_docstring_examples_run():
    import doctest

    from wfbt import api, splits

    for module in (splits, api):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
