"""The command line: a smoke run, resume, re-render, and every bad input's message and exit 2."""

import json

import numpy as np
import polars as pl
import pytest

from conftest import random_walk, write_config
from wfbt.cli import main

SPLIT_COLUMNS = ["split", "train_start", "train_end", "val_start", "val_end", "epochs_run", "best_epoch",
                 "status", "train_mse", "train_rmse", "train_mae", "train_r2", "train_ev", "val_mse", "val_rmse",
                 "val_mae", "val_r2", "val_ev", "val_mse_price", "val_rmse_price", "val_mae_price", "val_mape"]


def test_smoke_run_writes_the_run_directory_and_resumes(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--max-splits", "4"]) == 0  # not --quiet: the tables
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
    assert "--set train.epoch: unknown key. Did you mean 'epochs'?" in _error(capsys, ["run", config, "--set", "train.epoch=3"])


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


def test_more_bad_input_exits_2_naming_the_cause(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    run = ["run", str(config), "--quiet", "--out", str(tmp_path / "o")]
    # a TOML date where a choice is expected; a --set value is named as a --set
    assert '--set splits.mode: "1979-05-27" is not one of' in _error(capsys, [*run, "--set", "splits.mode=1979-05-27"])
    assert '--set train.epochs: expected an integer, got "" (a string)' in _error(capsys, [*run, "--set", 'train.epochs=""'])
    # values past what a run can hold fail here, not deep inside the engine
    assert "--set train.patience must be at most 1,000,000, got 3,000,000,000" in _error(
        capsys, [*run, "--set", "train.patience=3000000000"])
    assert "--set model.hidden_size must be at most 4,096" in _error(capsys, [*run, "--set", "model.hidden_size=1000000000"])
    # more dropout rates than layers (written ones: the default list may be longer than num_layers)
    assert "--set model.dropout: 3 rates for 2 layer(s)" in _error(capsys, [*run, "--set", "model.dropout=[0.1, 0.2, 0.3]"])
    assert "tiny.toml: [model] dropout: 2 rates for 1 layer(s)" in _error(capsys, [*run, "--set", "model.num_layers=1"])
    assert "[engine] devices is 7, but this machine has 2 cpu device(s)" in _error(
        capsys, [*run, "--set", "model.num_layers=1", "--set", "model.dropout=[0.1]", "--set", "engine.devices=7"])
    # strategy costs are checked with the config, before any training, naming the file
    assert "--set strategy.cost_bps must be 0 or more, got -5.0" in _error(capsys, [*run, "--set", "strategy.cost_bps=-5"])
    written = tmp_path / "costs.toml"
    written.write_text(config.read_text().replace("cost_bps = 10.0", "cost_bps = -5.0"))
    assert f"{written}: [strategy] cost_bps must be 0 or more" in _error(capsys, ["run", str(written), "--quiet"])
    assert "[strategy] cost_bp: unknown parameter of strategy MomentumFilter. Did you mean 'cost_bps'?" in _error(
        capsys, [*run, "--set", "strategy.cost_bp=1"])
    # a section that is not a table, overridden with --set
    table = tmp_path / "scalar.toml"
    table.write_text(config.read_text().replace("[data]\n", "data = 5\n[ignored]\n", 1).split("[ignored]")[0])
    assert "[data] must be a table, got 5 (an integer)" in _error(capsys, ["run", str(table), "--set", "data.source=x"])
    # an output folder that is a file
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "a_file: cannot use this run directory" in _error(capsys, ["run", str(config), "--quiet", "--out", str(blocker)])
    # a summary.json that is JSON but not a run summary
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "summary.json").write_text("{}")
    assert "summary.json: not a wfbt run summary" in _error(capsys, ["report", str(tmp_path / "r")])
    (tmp_path / "r" / "summary.json").write_text("[1, 2]")
    assert "not a wfbt run summary (a JSON list" in _error(capsys, ["report", str(tmp_path / "r")])


def test_a_one_layer_runs_config_reproduces_it(tmp_path, tiny_data):
    # the default dropout has two rates; the saved config.toml keeps the one the layer uses
    plain = tmp_path / "plain.toml"
    plain.write_text(write_config(tmp_path, tiny_data).read_text().replace("dropout = [0.3, 0.2]\n", ""))
    out = tmp_path / "run"
    assert main(["run", str(plain), "--out", str(out), "--quiet", "--max-splits", "2", "--set", "model.num_layers=1"]) == 0
    assert main(["run", str(out / "config.toml"), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["splits"]["trained_now"] == 0


def test_strategy_parameters_defaults_and_lookback(tmp_path):
    from wfbt.errors import UserError
    from wfbt.strategy_plugins import load_strategy

    plugin = tmp_path / "plugin.py"
    plugin.write_text("import math\nfrom wfbt.strategy import Strategy\n\nclass Capped(Strategy):\n"
                      "    max_move: float = math.inf  # no cap unless the config sets one\n"
                      "    lookback: int = 20\n\n    def positions(self, forecast, history):\n"
                      "        return forecast * 0\n")
    assert load_strategy("plugin.py:Capped", {}, [tmp_path]).max_move == float("inf")
    with pytest.raises(UserError, match="expected a finite number, got nan"):
        load_strategy("plugin.py:Capped", {"max_move": float("nan")}, [tmp_path])
    for bad in (0, 10**7):  # the lookback as a parameter is checked like the class attribute
        with pytest.raises(UserError, match="lookback must be an integer from 1 to 10,000"):
            load_strategy("plugin.py:Capped", {"lookback": bad}, [tmp_path])


def test_bad_strategy_plugins_exit_2(tmp_path, tiny_data, capsys):
    config = str(write_config(tmp_path, tiny_data))
    exits = tmp_path / "exits.py"
    exits.write_text("exit()\n")
    assert f"strategy file {exits} raised SystemExit on import" in _error(
        capsys, ["run", config, "--quiet", "--set", f'strategy.name="{exits}:X"'])
    wide = tmp_path / "wide.py"
    wide.write_text("from wfbt.strategy import Strategy\n\nclass Wide(Strategy):\n    lookback = 10**30\n\n"
                    "    def positions(self, forecast, history):\n        return forecast * 0\n")
    assert "strategy Wide" in (error := _error(capsys, ["run", config, "--quiet", "--set", f'strategy.name="{wide}:Wide"']))
    assert "lookback must be an integer from 1 to 10,000" in error
    assert "[strategy] band_pct: expected a finite number, got nan" in _error(
        capsys, ["run", config, "--quiet", "--set", 'strategy.name="threshold"', "--set", "strategy.band_pct=nan"])


def test_more_bad_data_exits_2(tmp_path, capsys):
    good = [str(v) for v in random_walk(50)]
    assert "bad.csv: the file has no data rows (columns: 'Close', 'Date')" in _data_error(tmp_path, capsys, "Date,Close\n")
    lower = list(good)
    lower[15] = "nan"  # not read as a number by the CSV reader, unlike NaN
    assert "column 'Close' row 16 (2020-01-16) is nan" in _data_error(tmp_path, capsys, _csv(lower))
    words = [f"{d:02d} Jan 2020" for d in range(1, 32)] + [f"{d:02d} Feb 2020" for d in range(1, 20)]
    assert "cannot parse the dates in column 'Date' (e.g. '01 Jan 2020')" in _data_error(
        tmp_path, capsys, _csv(good, words))
    zero = list(good)
    zero[44] = "0"  # the tiny config trades: returns need positive prices
    assert "needs positive prices to compute returns, but Close on 2020-02-14 is 0" in _data_error(
        tmp_path, capsys, _csv(zero))


def test_dates_keep_the_local_day_they_were_written_with(tmp_path):
    from wfbt.config import DataConfig
    from wfbt.data import load_prices

    days = [f"2020-01-{d:02d}" for d in range(1, 11)]
    offsets = ["+05:00", "-0800", "Z", "+00:00", "+01:00"] * 2
    data = tmp_path / "zoned.csv"
    data.write_text("Date,Close\n" + "".join(f" {d}T00:00:00{o} ,{50 + i}\n" for i, (d, o) in enumerate(zip(days, offsets))))
    prices = load_prices(DataConfig(source=str(data), target="Close"), (tmp_path,), 5)
    assert list(prices.date_text(range(10))) == days  # not shifted to UTC, so no duplicates either
    hours = tmp_path / "hours.csv"  # hour-only offsets, as PostgreSQL writes them
    hours.write_text("Date,Close\n" + "".join(f"{d} 00:00:00+05,{50 + i}\n" for i, d in enumerate(days)))
    assert list(load_prices(DataConfig(source=str(hours), target="Close"), (tmp_path,), 5).date_text(range(10))) == days
    # intraday times keep their instants: the local 01:30 repeats when the clocks go back, the instant does not
    autumn = ["2020-11-01T00:30:00-04:00", "2020-11-01T01:30:00-04:00", "2020-11-01T01:30:00-05:00",
              "2020-11-01T02:30:00-05:00", "2020-11-01T03:30:00-05:00"]
    intraday = tmp_path / "intraday.csv"
    intraday.write_text("Date,Close\n" + "".join(f"{t},{50 + i}\n" for i, t in enumerate(autumn)))
    loaded = load_prices(DataConfig(source=str(intraday), target="Close"), (tmp_path,), 5)
    assert list(np.diff(loaded.dates).astype("timedelta64[m]").astype(int)) == [60, 60, 60, 60]


def test_resume_reads_only_its_splits_retrains_broken_chunks_and_drops_stale_files(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    run = ["run", str(config), "--out", str(out), "--quiet"]
    assert main([*run, "--max-splits", "8"]) == 0
    full = pl.read_csv(out / "splits.csv")
    assert (out / "equity.csv").is_file()
    # fewer splits than the folder holds: the run reports only its own, training none
    assert main([*run, "--max-splits", "4"]) == 0
    assert pl.read_csv(out / "splits.csv").height == 4
    assert json.loads((out / "summary.json").read_text())["splits"]["trained_now"] == 0
    # a truncated chunk file (a crash mid-write on a filesystem without atomic rename) is retrained
    chunk = sorted((out / "partial").glob("chunk-*.npz"))[0]
    chunk.write_bytes(chunk.read_bytes()[:100])
    assert main([*run, "--max-splits", "8"]) == 0
    assert json.loads((out / "summary.json").read_text())["splits"]["trained_now"] == 8
    np.testing.assert_array_equal(pl.read_csv(out / "splits.csv")["val_mse"], full["val_mse"])
    # the LSTM loop's layout changes the rounding: not an experiment to resume into
    assert "holds results of a different experiment" in _error(capsys, [*run, "--set", "engine.unroll=2"])
    # rerun without the [strategy] table: the earlier run's P&L files go
    no_strategy = tmp_path / "plain.toml"
    no_strategy.write_text(config.read_text().split("[strategy]")[0])
    assert main(["run", str(no_strategy), "--out", str(out), "--quiet", "--max-splits", "8"]) == 0
    assert not (out / "equity.csv").exists() and not (out / "pnl_splits.csv").exists()


def test_a_rerun_that_trains_nothing_reuses_the_next_point_forecast(tmp_path, tiny_data, monkeypatch):
    from wfbt import api

    config = str(write_config(tmp_path, tiny_data))
    out = tmp_path / "run"
    assert main(["run", config, "--out", str(out), "--quiet", "--max-splits", "4"]) == 0
    first = json.loads((out / "summary.json").read_text())["next_forecast"]

    def no_training(*args, **kwargs):
        raise AssertionError("the next-point models were trained again")

    monkeypatch.setattr(api, "next_point_windows", no_training)
    assert main(["run", config, "--out", str(out), "--quiet", "--max-splits", "4"]) == 0
    assert json.loads((out / "summary.json").read_text())["next_forecast"] == first
    # averaged over a different number of windows: not the saved forecast, so they train again
    with pytest.raises(AssertionError, match="trained again"):
        main(["run", config, "--out", str(out), "--quiet", "--max-splits", "4", "--set", "evaluation.forecast_average=2"])


def test_labels_and_the_next_date_follow_the_data():
    from wfbt.data import PriceSeries, date_labels

    half_seconds = np.datetime64("2024-01-02T09:30:00") + np.arange(4) * np.timedelta64(500, "ms")
    assert len(set(date_labels(half_seconds))) == 4  # sub-second bars keep distinct labels

    def next_after(dates):
        dates = np.asarray(dates)
        return PriceSeries(dates, np.ones(len(dates)), "Close", "test").next_date_text()

    fridays_at_four = np.datetime64("2024-01-08T16:00") + np.arange(5) * np.timedelta64(1, "D")  # Mon..Fri
    assert next_after(fridays_at_four.astype("datetime64[us]")) == "2024-01-15T16:00:00"  # Monday, same time
    assert next_after(np.array(["2024-01-11", "2024-01-12"], "datetime64[D]")) == "2024-01-15"
    weekly = np.datetime64("2024-01-05") + np.arange(4) * np.timedelta64(7, "D")  # Fridays
    assert next_after(weekly) == "2024-02-02"
    calendar = np.datetime64("2024-01-05") + np.arange(4) * np.timedelta64(1, "D")  # Fri..Mon, weekends traded
    assert next_after(calendar) == "2024-01-09"
