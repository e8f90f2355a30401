"""Several tickers in one run: each equals its run alone, long files, errors, the portfolio, resume."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import random_walk, write_config, write_prices
from rich.console import Console

import wfbt
from wfbt import ticker_report, tickers
from wfbt.cli import main
from wfbt.config import load_config
from wfbt.data import load_prices
from wfbt.errors import UserError
from wfbt.portfolio import equal_weight
from wfbt.store import FolderStore
from wfbt.ticker_run import prepare_all, run_tickers

FAST = ["splits.max_splits=4", "evaluation.next_forecast=false"]
TABLES = ("splits", "predictions", "test_predictions", "curves", "equity", "pnl_splits")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two tickers as files of their own (AAA starts 5 days later: its own dates) and as one long file."""
    folder = tmp_path_factory.mktemp("tickers")
    first = write_prices(folder / "AAA.csv", random_walk(80, seed=1), start="2020-01-06")
    second = write_prices(folder / "BBB.csv", random_walk(80, seed=2))
    long = pl.concat([pl.read_csv(first).with_columns(Ticker=pl.lit("AAA")),
                      pl.read_csv(second).with_columns(Ticker=pl.lit("BBB"))]).sort("Date", "Ticker")
    long.write_csv(folder / "long.csv")
    return folder


def two_tickers(folder: Path, extra: str = "", sources: str = '["AAA.csv", "BBB.csv"]') -> Path:
    path = write_config(folder, "x", extra, name="two.toml")
    path.write_text(path.read_text().replace('source = "x"', f"source = {sources}"))
    return path


@pytest.fixture(scope="module")
def together(files):
    config = load_config(two_tickers(files), FAST)
    return run_tickers(config, tickers.resolve(config), out_dir=files / "together")


def test_a_tickers_numbers_equal_its_run_alone_bit_for_bit(files, together):
    for name in ("AAA", "BBB"):
        alone = files / f"alone_{name}"
        assert main(["run", str(files / "together" / "tickers" / name / "config.toml"), "--out", str(alone),
                     "--quiet"]) == 0
        for table in TABLES:
            mine = (files / "together" / "tickers" / name / f"{table}.csv").read_bytes()
            assert mine == (alone / f"{table}.csv").read_bytes(), (name, table)
            combined = pl.read_csv(files / "together" / f"{table}.csv").filter(pl.col("ticker") == name)
            assert combined.drop("ticker").equals(pl.read_csv(alone / f"{table}.csv")), (name, table)
    # each ticker on its own dates, all tables with the ticker first
    splits = together.splits
    assert splits.columns[0] == "ticker" and splits["ticker"].unique(maintain_order=True).to_list() == ["AAA", "BBB"]
    first_dates = {t: splits.filter(pl.col("ticker") == t)["train_start"][0] for t in ("AAA", "BBB")}
    assert first_dates == {"AAA": "2020-01-06", "BBB": "2020-01-01"}
    summary = together.summary
    assert summary["tickers"] == ["AAA", "BBB"] and summary["splits"]["count"] == 8
    assert set(summary["per_ticker"]) == {"AAA", "BBB"} and summary["pooled"]["splits"] == 8
    assert summary["per_ticker"]["AAA"]["strategy"]["figures"] == together["AAA"].summary["strategy"]["figures"]
    assert (files / "together" / "portfolio.csv").is_file() and "portfolio" in summary


def test_the_summary_and_report_fit_80_columns_and_load_reads_the_run_back(files, together):
    console = Console(width=80, record=True)
    ticker_report.print_summary(console, together.summary)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert "AAA" in text and "Portfolio P&L" in text
    loaded = wfbt.load(files / "together")
    assert list(loaded.tickers) == ["AAA", "BBB"] and loaded.splits.columns == together.splits.columns
    key = ["ticker", "split", "date"]  # the numbers went through the CSVs' 8 digits
    assert loaded.predictions.select(key).equals(together.predictions.select(key))
    assert loaded["BBB"].predictions.select("split", "date").equals(together["BBB"].predictions.select("split", "date"))
    assert loaded.portfolio.figures == together.portfolio.figures


def test_predict_on_a_run_of_several_tickers_names_each_tickers_folder(files, together, capsys):
    assert main(["predict", str(files / "together")]) == 2
    assert "wfbt predict " + str(files / "together" / "tickers" / "AAA") in capsys.readouterr().err


def test_a_long_file_splits_into_its_tickers_each_as_its_own_file(files):
    config = load_config(two_tickers(files, sources='"long.csv"'))
    found = tickers.resolve(config)
    # in order of first appearance: BBB's rows start earlier
    assert [t.name for t in found] == ["BBB", "AAA"] and found[0].config.data.tickers == ("BBB",)
    for ticker in found:
        own = load_prices(load_config(two_tickers(files, sources=f'"{ticker.name}.csv"')).data, (files,), 10)
        long = load_prices(ticker.config.data, (files,), 10)
        np.testing.assert_array_equal(long.values, own.values)
        np.testing.assert_array_equal(long.dates, own.dates)
    picked = load_config(two_tickers(files, sources='"long.csv"'), ['data.tickers=["BBB"]'])
    assert [t.name for t in tickers.resolve(picked)] == ["BBB"]
    assert tickers.single(picked, tickers.resolve(picked)) is picked  # one ticker: an ordinary run


@pytest.mark.parametrize("sources, overrides, message", [
    ("[]", [], r"\[data\] source is an empty list"),
    ('["AAA.csv", "AAA.csv"]', [], r"lists \"AAA.csv\" twice"),
    ('["AAA.csv", "long.csv"]', [], r"ticker 'AAA' comes twice"),
    ('"long.csv"', ['data.tickers=["CCC"]'], r"no ticker 'CCC'"),
    ('["sample:AAPL", "sample:FB"]', ["splits.train=300"], r"sample ticker FB has 196 rows"),
])
def test_a_bad_ticker_set_is_one_clear_error(files, sources, overrides, message):
    def run():
        config = load_config(two_tickers(files, sources=sources), overrides)
        prepare_all(tickers.resolve(config))  # everything checked before anything trains

    with pytest.raises(UserError, match=message):
        run()


def test_ticker_names_must_make_folder_names_and_the_cli_says_so(files, capsys):
    pl.read_csv(files / "long.csv").with_columns(Ticker=pl.lit("../AAA")).head(60).write_csv(files / "bad.csv")
    assert main(["run", str(two_tickers(files, sources='["bad.csv", "BBB.csv"]'))]) == 2
    assert "ticker '../AAA' cannot name a folder" in capsys.readouterr().err
    sweep = two_tickers(files, "[sweep]\ntrain.seed = [0, 1]\n")
    assert main(["sweep", str(sweep), "--out", str(files / "sweep")]) == 2
    assert "this command takes one ticker" in capsys.readouterr().err


def test_the_portfolio_is_the_mean_of_the_tickers_traded_each_day():
    a = pl.DataFrame({"date": ["2024-01-02", "2024-01-03", "2024-01-04"], "position": [1.0, -1.0, -1.0],
                      "return": [0.01, 0.02, -0.01], "buy_hold_equity": [1.01, 0.99, 1.0]})
    b = pl.DataFrame({"date": ["2024-01-03", "2024-01-04"], "position": [1.0, 0.0],
                      "return": [0.03, 0.01], "buy_hold_equity": [1.02, 1.0404]})
    held = equal_weight({"A": a, "B": b}, 252.0)
    table = held.table
    assert table["tickers"].to_list() == [1, 2, 2]
    np.testing.assert_allclose(table["return"], [0.01, 0.025, 0.0])
    np.testing.assert_allclose(table["equity"], [1.01, 1.01 * 1.025, 1.01 * 1.025])
    np.testing.assert_allclose(table["exposure"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(table["turnover"], [1.0, 1.5, 0.5])  # A: 1, 2, 0; B: 1, 1
    # buy-and-hold: A 0.01, 0.99/1.01 - 1, 1/0.99 - 1; B 0.02, 0.02
    np.testing.assert_allclose(table["buy_hold_return"], [0.01, (0.99 / 1.01 - 1 + 0.02) / 2, (1 / 0.99 - 1 + 0.02) / 2])
    assert held.figures["total_return"] == pytest.approx(1.01 * 1.025 - 1)
    assert held.figures["n_days"] == 3


def test_a_run_killed_halfway_resumes_with_the_same_numbers(files, together, monkeypatch):
    config = load_config(two_tickers(files), FAST)
    out = files / "killed"
    saves = []
    original = FolderStore.save

    def save_then_die(store, raw):
        original(store, raw)
        saves.append(store.folder)
        if len(saves) == 1:  # AAA's first chunk is saved, BBB's is not
            raise KeyboardInterrupt

    monkeypatch.setattr(FolderStore, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_tickers(config, tickers.resolve(config), out_dir=out)
    assert not (out / "summary.json").exists()
    again = run_tickers(config, tickers.resolve(config), out_dir=out)
    assert {t: r.summary["splits"]["trained_now"] for t, r in again.tickers.items()} == {"AAA": 0, "BBB": 4}
    for table in ("splits", "predictions", "test_predictions"):
        assert getattr(again, table).equals(getattr(together, table)), table
