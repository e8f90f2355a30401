"""Each quality check on a crafted bad frame; every [data] missing policy; adjust; wfbt inspect."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from conftest import write_config
from wfbt import cli
from wfbt.config import DataConfig, FeatureConfig
from wfbt.data import _read_sample, load_prices
from wfbt.errors import UserError
from wfbt.quality import check_frame

DAYS = np.busday_offset("2021-01-04", np.arange(30), roll="forward")  # 30 business days


def findings(frame: pl.DataFrame, dates=DAYS, used=("Close",), policy="error"):
    return {(f.check, f.column): f for f in check_frame(frame, dates[: frame.height], used, policy).findings}


def prices(n: int = 30, seed: int = 0) -> np.ndarray:
    return 100 + np.cumsum(np.random.default_rng(seed).normal(0, 1, n))


def test_a_clean_frame_has_no_findings():
    report = check_frame(pl.DataFrame({"Close": prices()}), DAYS, ["Close"])
    assert report.findings == () and report.verdict().startswith("data: 30 rows 2021-01-04 .. 2021-02-12; ok")


def test_dates_gaps_duplicates_and_order():
    gap = DAYS.copy()
    gap[10:] = np.busday_offset(gap[10:], 4)  # 4 business days missing before row 10
    assert findings(pl.DataFrame({"Close": prices()}), gap)[("gap", "")].dates == (str(gap[10]),)
    short = DAYS.copy()
    short[10:] = np.busday_offset(short[10:], 3)  # 3: not more than the threshold
    assert ("gap", "") not in findings(pl.DataFrame({"Close": prices()}), short)
    duplicate = DAYS.copy()
    duplicate[5] = duplicate[4]
    found = findings(pl.DataFrame({"Close": prices()}), duplicate)
    assert found[("duplicate_date", "")].level == "error" and found[("duplicate_date", "")].dates == (str(DAYS[4]),)
    unsorted = DAYS.copy()
    unsorted[[7, 8]] = unsorted[[8, 7]]
    assert found_level(findings(pl.DataFrame({"Close": prices()}), unsorted), "unsorted") == "error"


def found_level(found, check):
    return next(f.level for (c, _), f in found.items() if c == check)


def test_missing_and_non_finite_values_per_column():
    close = prices().tolist()
    close[3], close[9] = None, float("nan")
    other = prices(seed=1).tolist()
    other[5] = float("inf")
    found = findings(pl.DataFrame({"Close": close, "Other": other}))
    assert found[("missing", "Close")].level == "error"  # read by the run, policy "error"
    assert found[("missing", "Close")].dates == (str(DAYS[3]),)
    assert found[("non_finite", "Close")].dates == (str(DAYS[9]),)
    assert found[("non_finite", "Other")].level == "warning"  # not read by the run
    assert findings(pl.DataFrame({"Close": close}), policy="ffill")[("missing", "Close")].level == "warning"


def test_prices_constant_unique_and_jumps():
    close = prices()
    close[12] = 0.0
    close[20] = -1.0
    found = findings(pl.DataFrame({"Close": close}))
    assert found[("not_positive", "Close")].count == 2
    flat = findings(pl.DataFrame({"Close": prices(), "Flat": [3.0] * 30, "Mostly": [0.0] * 29 + [1.0],
                                  "Tiny": 1e9 + np.arange(30) * 1e-6, "Id": [f"row{i}" for i in range(30)],
                                  "Volume": [100.0, 1000.0] * 15}))
    assert flat[("constant", "Flat")].level == "warning"
    assert flat[("near_constant", "Mostly")].level == "warning"
    assert ("near_constant", "Tiny") in flat  # varies by a billionth of its level
    assert flat[("unique", "Id")].level == "note"
    assert not any(column == "Volume" for _, column in flat)  # volumes jump every day: not checked
    split = prices()
    split[15:] /= 2  # an unadjusted 2:1 split
    jump = findings(pl.DataFrame({"Close": split}))[("jump", "Close")]
    assert jump.dates == (str(DAYS[15]),) and "-5" in jump.message


def test_the_aapl_split_of_2005_is_flagged_in_close_not_in_adj_close():
    frame = _read_sample("AAPL")
    dates = frame["Date"].to_numpy().astype("datetime64[D]")
    found = {(f.check, f.column): f for f in check_frame(frame, dates, ["Close"]).findings}
    assert "2005-02-28" in found[("jump", "Close")].dates
    adjusted = found.get(("jump", "Adj Close"))
    assert adjusted is None or not any(d.startswith("2005-02") for d in adjusted.dates)


def write(path, close, extra=None):
    dates = [str(d) for d in DAYS[: len(close)]]
    pl.DataFrame({"Date": dates, "Close": close, **(extra or {})}).write_csv(path)
    return path


def test_every_missing_value_policy(tmp_path):
    close = [float(v) for v in prices()]
    close[0], close[6], close[7], close[29] = None, None, float("nan"), None
    path = write(tmp_path / "gaps.csv", close)

    def load(policy):
        return load_prices(DataConfig(source=str(path), target="Close", missing=policy), (tmp_path,), 5)

    with pytest.raises(UserError, match=r"column 'Close' row 1 \(2021-01-04\) is missing; 4 rows in all.*"
                                        r'missing = "drop".*"ffill".*"interpolate"'):
        load("error")
    dropped = load("drop")
    assert len(dropped) == 26 and str(DAYS[6]) not in dropped.date_text(np.arange(26))
    filled = load("ffill")  # the first row has nothing before it: dropped; the rest carry forward
    assert len(filled) == 29 and filled.values[5] == filled.values[6] == filled.values[4] == close[5]
    inter = load("interpolate")  # the first and last rows have no neighbour on one side: dropped
    assert len(inter) == 28
    assert inter.values[5] == pytest.approx(close[5] + (close[8] - close[5]) / 3)
    assert inter.values[6] == pytest.approx(close[5] + 2 * (close[8] - close[5]) / 3)


def test_adjust_scales_ohlc_by_adj_close_over_close(tmp_path):
    close = np.array([100.0, 102.0, 51.0, 52.0] * 3)
    adj = close * np.array([0.5, 0.5, 1.0, 1.0] * 3)
    path = write(tmp_path / "split.csv", close.tolist(), {"Open": (close - 1).tolist(), "High": (close + 2).tolist(),
                                                           "Low": (close - 2).tolist(), "Adj Close": adj.tolist()})
    config = DataConfig(source=str(path), target="Close", adjust=True)
    loaded = load_prices(config, (tmp_path,), 5, features=(FeatureConfig("column", column="Open"),
                                                            FeatureConfig("range")))
    np.testing.assert_allclose(loaded.values, adj)
    np.testing.assert_allclose(loaded.inputs[:, 0], (close - 1) * adj / close)
    np.testing.assert_allclose(loaded.inputs[:, 1], 4 * adj / close)
    with pytest.raises(UserError, match="adjust = true needs 'Close' and 'Adj Close'"):
        load_prices(DataConfig(source=str(write(tmp_path / "plain.csv", close.tolist())), target="Close",
                               adjust=True), (tmp_path,), 5)


def test_warm_up_rows_are_dropped_and_counted(tmp_path):
    path = write(tmp_path / "p.csv", prices().tolist())
    loaded = load_prices(DataConfig(source=str(path), target="Close"), (tmp_path,), 5,
                         features=(FeatureConfig("column"), FeatureConfig("sma", window=5)))
    assert loaded.warmup == 4 and len(loaded) == 26 and loaded.date_text(0) == str(DAYS[4])
    assert loaded.input_names == ("Close", "sma(Close, 5)") and np.isfinite(loaded.inputs).all()
    with pytest.raises(UserError, match="after 4 warm-up rows"):
        load_prices(DataConfig(source=str(path), target="Close"), (tmp_path,), 27,
                    features=(FeatureConfig("sma", window=5),))
    with pytest.raises(UserError, match=r"feature 'log_return\(Close\)' is nan on row 13"):
        bad = prices()
        bad[12] = -5.0
        load_prices(DataConfig(source=str(write(tmp_path / "neg.csv", bad.tolist())), target="Close"), (tmp_path,),
                    5, features=(FeatureConfig("log_return"),))


def test_inspect_prints_the_report_escapes_names_and_writes_the_feature_frame(tmp_path, capsys):
    close = prices(80)
    close[50:] /= 2
    path = tmp_path / "data.csv"
    pl.DataFrame({"Date": [str(d) for d in np.busday_offset("2021-01-04", np.arange(80))], "Close": close,
                  "[bold]x[/bold]": np.ones(80)}).write_csv(path)
    config = write_config(tmp_path, path, extra="""
        [[features]]
        kind = "column"
        [[features]]
        kind = "rsi"
        window = 5
        """)
    out = tmp_path / "features.parquet"
    assert cli.main(["inspect", str(config), "--features", str(out)]) == 0
    text = capsys.readouterr().out
    assert "[bold]x[/bold]" in text and "jump" in text and "constant" in text
    frame = pl.read_parquet(out)
    assert frame.columns == ["Date", "Close", "rsi(Close, 5)"] and frame.height == 75  # 5 warm-up rows
    assert cli.main(["inspect", str(config), "--features", str(tmp_path / "f.txt")]) == 2
    assert "write a .csv or a .parquet file" in capsys.readouterr().err
    bad = close.copy().tolist()
    bad[3] = None
    pl.DataFrame({"Date": [str(d) for d in np.busday_offset("2021-01-04", np.arange(80))], "Close": bad}).write_csv(path)
    assert cli.main(["inspect", str(config)]) == 2
    captured = capsys.readouterr()
    assert "missing" in captured.out and captured.err.count("error:") == 1
