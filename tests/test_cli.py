"""The command line: a smoke run, resume, re-render, and every bad input's message and exit 2."""

import json

import numpy as np
import polars as pl
import pytest

from conftest import random_walk, write_config, write_prices
from wfbt.cli import main

SPLIT_COLUMNS = ["split", "train_start", "train_end", "val_start", "val_end", "epochs_run", "best_epoch",
                 "status", "train_mse", "train_rmse", "train_mae", "train_r2", "train_ev", "val_mse", "val_rmse",
                 "val_mae", "val_r2", "val_ev", "val_mse_price", "val_rmse_price", "val_mae_price", "val_mape"]


def test_smoke_run_writes_the_run_directory_and_resumes(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--max-splits", "4"]) == 0
    printed = capsys.readouterr().out
    assert "Per-split validation metrics" in printed
    splits = pl.read_csv(out / "splits.csv")
    assert splits.columns[: len(SPLIT_COLUMNS)] == SPLIT_COLUMNS and splits.height == 4
    assert splits["train_start"][0] == "2020-01-01" and splits["train_end"][0] == "2020-02-09"
    predictions = pl.read_csv(out / "predictions.csv")
    assert predictions.columns[:5] == ["split", "date", "actual", "forecast", "last"]
    assert predictions.height == 4 * 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["splits"]["count"] == 4 and summary["describe"]["val"]["mse"]["count"] == 4
    assert summary["config"]["as_run"]["train"]["epochs"] == 3 and summary["versions"]["jax"]
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files
    for name in ("naive", "drift", "mean", "linear"):
        assert [f"{name}_val_mse", f"{name}_val_rmse_price", f"{name}_val_mae_price", f"{name}_val_dir_acc"] == [
            c for c in splits.columns if c.startswith(f"{name}_val_") and not c.endswith("_r2")]
        assert set(summary["dm_test"][name]) == {"statistic", "p_value", "n"}
        assert summary["dm_test_after_validation"][name]["n"] >= 4
    assert "val_dir_acc" in splits.columns
    equity = pl.read_csv(out / "equity.csv")
    assert equity.columns == ["date", "position", "return", "strategy_equity", "buy_hold_equity"]
    assert summary["strategy"]["name"].endswith("MomentumFilter") and "sharpe" in summary["strategy"]["figures"]
    assert summary["next_forecast"]["date"] > summary["data"]["last_date"] and summary["next_forecast"]["windows"] == 3
    curves = pl.read_csv(out / "curves.csv")
    assert curves.columns == ["split", "epoch", "train_loss", "val_loss"]
    assert "Model vs baselines" in printed and "buy-and-hold" in printed and "Next point" in printed

    # a longer run in the same directory trains only the missing splits, then re-renders
    assert main(["run", str(config), "--out", str(out), "--quiet", "--max-splits", "6"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["splits"]["trained_now"] == 2 and again["splits"]["count"] == 6
    longer = pl.read_csv(out / "splits.csv")
    np.testing.assert_array_equal(longer["val_mse"][:4], splits["val_mse"])

    # the saved config reproduces the run; `report` re-renders it without training
    assert main(["run", str(out / "config.toml"), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["splits"]["trained_now"] == 0
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "Per-split validation metrics" in capsys.readouterr().out
    assert main(["compare", str(out), str(out)]) == 0
    assert "median val rmse (price)" in capsys.readouterr().out
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "lstm" in listed and "long_short" in listed and "linear" in listed


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


def set_key(text: str, section: str, key: str, value: str) -> str:
    """The TOML text with `[section] key = value` replaced, inserted, or appended."""
    lines, header, inside, done = text.splitlines(), f"[{section}]", False, False
    for i, line in enumerate(lines):
        if line.strip().startswith("["):
            if inside and not done:
                lines.insert(i, f"{key} = {value}")
                done = True
                break
            inside = line.strip() == header
        elif inside and line.split("=")[0].strip() == key:
            lines[i], done = f"{key} = {value}", True
            break
    if not done:
        lines += ([] if inside else [header]) + [f"{key} = {value}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("splits", "trian", "3", "[splits] trian: unknown key. Did you mean 'train'?"),
        ("trian", "epochs", "3", "unknown section [trian]. Did you mean 'train'?"),
        ("model", "lookback", '"six"', '[model] lookback: expected an integer, got "six" (a string)'),
        ("train", "learning_rate", "true", "[train] learning_rate: expected a number, got true (a boolean)"),
        ("splits", "val", "0", "[splits] val must be at least 1, got 0"),
        ("splits", "step", "0", "[splits] step must be at least 1, got 0"),
        ("model", "lookback", "39", "[splits] train must be at least lookback + 2 = 41"),
        ("splits", "mode", '"expandng"', "\"expandng\" is not one of 'expanding', 'rolling'. Did you mean 'expanding'?"),
        ("model", "name", '"lstn"', "unknown model 'lstn'. Did you mean 'lstm'?"),
        ("model", "dropout", "0.3", "[model] dropout: expected a list, got 0.3 (a number)"),
        ("strategy", "name", '"long_shrt"', "[strategy] name: unknown strategy 'long_shrt'. Did you mean 'long_short'?"),
        ("strategy", "min_move_pcnt", "1.0", "[strategy] min_move_pcnt: unknown parameter"),
        ("evaluation", "baselines", '["naiv"]', "unknown baseline 'naiv'. Did you mean 'naive'?"),
    ],
)
def test_bad_config_exits_2_with_a_clear_message(tmp_path, tiny_data, capsys, section, key, value, message):
    config = write_config(tmp_path, tiny_data)
    config.write_text(set_key(config.read_text(), section, key, value))
    error = _error(capsys, ["run", str(config), "--quiet", "--out", str(tmp_path / "o")])
    assert message in error
    assert str(config) in error  # the file is named


def test_wrong_toml_syntax(tmp_path, capsys):
    config = tmp_path / "broken.toml"
    config.write_text("[data\nsource = 1\n")
    assert "broken.toml: not valid TOML" in _error(capsys, ["run", str(config)])


def test_missing_config_and_bad_set(tmp_path, tiny_data, capsys):
    assert "nope.toml: config file not found" in _error(capsys, ["run", str(tmp_path / "nope.toml")])
    config = str(write_config(tmp_path, tiny_data))
    assert "expected section.key=value" in _error(capsys, ["run", config, "--set", "epochs=3"])
    assert "[train] epoch: unknown key. Did you mean 'epochs'?" in _error(capsys, ["run", config, "--set", "train.epoch=3"])


def _data_error(tmp_path, capsys, csv_text: str, extra: list[str] = ()) -> str:
    data = tmp_path / "bad.csv"
    data.write_text(csv_text)
    config = write_config(tmp_path, data)
    return _error(capsys, ["run", str(config), "--quiet", "--out", str(tmp_path / "o"), *extra])


def _csv(values, dates=None) -> str:
    dates = dates or [f"2020-01-{d:02d}" if d <= 31 else f"2020-02-{d - 31:02d}" for d in range(1, len(values) + 1)]
    return "Date,Close\n" + "".join(f"{d},{v}\n" for d, v in zip(dates, values))


def test_bad_data_exits_2_naming_row_and_date(tmp_path, capsys):
    good = [str(v) for v in random_walk(50)]
    assert "file 'missing.csv' not found" in _error(
        capsys, ["run", str(write_config(tmp_path, "missing.csv")), "--quiet"])
    dup = _csv(good)
    dup = dup.replace("2020-01-03", "2020-01-02")
    assert "row 3: duplicate date 2020-01-02" in _data_error(tmp_path, capsys, dup)
    lines = _csv(good).splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    assert "row 4: dates are not sorted (2020-01-03 comes after 2020-01-04)" in _data_error(
        tmp_path, capsys, "\n".join(lines) + "\n")
    nan = list(good)
    nan[9] = "NaN"
    assert "column 'Close' row 10 (2020-01-10) is nan" in _data_error(tmp_path, capsys, _csv(nan))
    empty = list(good)
    empty[9] = ""
    assert "row 10 (2020-01-10) is missing" in _data_error(tmp_path, capsys, _csv(empty))
    text = list(good)
    text[4] = "n/a"
    assert "column 'Close' is not numeric: row 5 (2020-01-05) holds 'n/a'" in _data_error(tmp_path, capsys, _csv(text))
    assert "20 rows, but one split needs at least 45" in _data_error(tmp_path, capsys, _csv(good[:20]))
    assert "no date column 'Date'. Did you mean 'date'?" in _data_error(
        tmp_path, capsys, _csv(good).replace("Date,", "date,", 1))
    bad_date = _csv(good).replace("2020-01-07", "2020-13-07")
    assert "row 7: cannot parse date '2020-13-07'" in _data_error(tmp_path, capsys, bad_date)
    assert "no target column 'Close'" in _data_error(tmp_path, capsys, _csv(good).replace(",Close", ",Price", 1))


def test_unknown_sample_ticker(tmp_path, capsys):
    config = write_config(tmp_path, "sample:APPL")
    assert "no sample data for 'APPL'. Did you mean 'AAPL'?" in _error(capsys, ["run", str(config), "--quiet"])
