"""Every feature kind against numbers worked out by hand, its warm-up, and its causality.

The toy frame: Close 10, 11, 10.5, 12, 12.6, 12, 13; High = Close + 1, Low = Close - 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from wfbt.config import FEATURE_KINDS, FeatureConfig, config_from_dict, load_config, to_toml
from wfbt.errors import UserError
from wfbt.indicators import feature_frame, feature_names, inputs, warmup_rows

CLOSE = [10.0, 11.0, 10.5, 12.0, 12.6, 12.0, 13.0]
TOY = pl.DataFrame({"Close": CLOSE, "High": [c + 1 for c in CLOSE], "Low": [c - 1 for c in CLOSE],
                    "Volume": [100.0, 200.0, 150.0, 400.0, 300.0, 250.0, 500.0]})


def column(feature: FeatureConfig, frame: pl.DataFrame = TOY, position: int = 0) -> list:
    return feature_frame(frame, (feature,), "Close").to_series(position).to_list()


def test_plain_transforms():
    assert column(FeatureConfig("column")) == CLOSE
    ret = column(FeatureConfig("return"))
    assert ret[0] is None and ret[1] == pytest.approx(0.1) and ret[2] == pytest.approx(-0.5 / 11)
    log_ret = column(FeatureConfig("log_return"))
    assert log_ret[0] is None and log_ret[1] == pytest.approx(math.log(1.1))
    assert column(FeatureConfig("lag", periods=2))[:4] == [None, None, 10.0, 11.0]


def test_rolling_windows():
    sma = column(FeatureConfig("sma", window=3))
    assert sma[:2] == [None, None] and sma[2] == pytest.approx(10.5) and sma[3] == pytest.approx(33.5 / 3)
    # EMA, alpha = 2 / (3 + 1) = 0.5, e_0 = 10: 10, 10.5, 10.5, 11.25; warm-up 2 rows
    ema = column(FeatureConfig("ema", window=3))
    assert ema[:2] == [None, None] and ema[2] == pytest.approx(10.5) and ema[3] == pytest.approx(11.25)
    std = column(FeatureConfig("rolling_std", window=3))
    assert std[2] == pytest.approx(0.5)  # 10, 11, 10.5: squares .25 + .25 + 0 over 2
    assert column(FeatureConfig("rolling_min", window=3))[3] == 10.5
    assert column(FeatureConfig("rolling_max", window=3))[3] == 12.0
    z = column(FeatureConfig("zscore", window=3))
    # row 3: 11, 10.5, 12: mean 67/6, sample variance 7/12
    assert z[2] == pytest.approx(0.0) and z[3] == pytest.approx((12 - 67 / 6) / math.sqrt(7 / 12))


def test_range_and_volume():
    assert column(FeatureConfig("range")) == pytest.approx([2.0] * 7)
    assert column(FeatureConfig("range", relative=True)) == pytest.approx([2.0 / c for c in CLOSE])
    assert column(FeatureConfig("volume"))[0] == pytest.approx(math.log(101.0))
    z = column(FeatureConfig("volume", window=3))
    logs = np.log1p([100.0, 200.0, 150.0])
    assert z[:2] == [None, None] and z[2] == pytest.approx((logs[2] - logs.mean()) / logs.std(ddof=1))


def test_rsi_against_worked_numbers():
    """Window 3 (alpha 1/3). Changes +1, -0.5, +1.5. Average gain 1, 2/3, 17/18; average loss
    0, 1/6, 1/9 = 2/18. RSI at row 3 = 100 * 17 / (17 + 2)."""
    rsi = column(FeatureConfig("rsi", window=3))
    assert rsi[:3] == [None, None, None]
    assert rsi[3] == pytest.approx(100 * 17 / 19)
    flat = pl.DataFrame({"Close": [5.0] * 6})
    assert column(FeatureConfig("rsi", window=2), flat)[2:] == [50.0] * 4  # no gains, no losses


def test_macd_against_worked_numbers():
    """fast 2 (alpha 2/3), slow 3 (alpha 1/2), signal 2 (alpha 2/3).
    EMA2: 10, 32/3, 95/9, 311/27; EMA3: 10, 10.5, 10.5, 11.25; line: 0, 1/6, 1/18, 29/108;
    signal: 0, 1/9, 2/27, 22/108; histogram at row 3: 7/108."""
    feature = FeatureConfig("macd", fast=2, slow=3, signal=2)
    line, signal, hist = (column(feature, position=i) for i in range(3))
    assert line[:2] == [None, None] and line[2] == pytest.approx(1 / 18) and line[3] == pytest.approx(29 / 108)
    assert signal[:3] == [None] * 3 and signal[3] == pytest.approx(22 / 108)
    assert hist[:3] == [None] * 3 and hist[3] == pytest.approx(7 / 108)
    assert feature_names((feature,), "Close") == ["macd(Close, 2, 3, 2)", "macd_signal(Close, 2, 3, 2)",
                                                  "macd_hist(Close, 2, 3, 2)"]


def every_kind() -> list[FeatureConfig]:
    small = {"window": 3, "periods": 2, "fast": 2, "slow": 4, "signal": 2, "relative": True}
    return [FeatureConfig(kind, **{k: v for k, v in small.items() if k in params})
            for kind, params in FEATURE_KINDS.items()] + [FeatureConfig("volume", window=3)]


@pytest.mark.parametrize("feature", every_kind(), ids=lambda f: f"{f.kind}-{f.window}")
def test_warmup_is_the_documented_one_and_a_feature_reads_only_the_past(feature):
    rng = np.random.default_rng(1)
    n = 40
    close = 50 + np.cumsum(rng.normal(0, 1, n))
    frame = pl.DataFrame({"Close": close, "High": close + 1 + rng.random(n), "Low": close - 1 - rng.random(n),
                          "Volume": rng.integers(100, 1000, n).astype(float)})
    base = feature_frame(frame, (feature,), "Close")
    assert warmup_rows((feature,), "Close") == max(item.warmup for item in inputs(feature, "Close"))
    for series, item in zip(base.iter_columns(), inputs(feature, "Close")):
        nulls = series.is_null().to_numpy()
        assert nulls[:item.warmup].all() and not nulls[item.warmup:].any()
    moved = False
    for k in (5, 17, 33):  # change row k of every column, up or down: no value before row k may move
        for factor in (0.3, 1.7):
            changed = frame.with_columns(pl.when(pl.int_range(pl.len()) == k).then(pl.all() * factor).otherwise(pl.all()))
            after = feature_frame(changed, (feature,), "Close")
            assert after.head(k).equals(base.head(k))
            moved |= not after.equals(base)
    assert moved


def test_feature_tables_are_checked_and_written_back(tmp_path):
    raw = {"features": [{"kind": "column"}, {"kind": "rsi", "window": 5}, {"kind": "macd", "fast": 3, "slow": 7},
                        {"kind": "range", "relative": True, "name": "spread"}]}
    config = config_from_dict(raw, tmp_path / "x.toml")
    assert [f.kind for f in config.features] == ["column", "rsi", "macd", "range"]
    assert config.features[2].signal == 9
    path = tmp_path / "back.toml"
    path.write_text(to_toml(config))
    assert load_config(path).features == config.features
    names = feature_names(config.features, "Adj Close")
    assert names == ["Adj Close", "rsi(Adj Close, 5)", "macd(Adj Close, 3, 7, 9)", "macd_signal(Adj Close, 3, 7, 9)",
                     "macd_hist(Adj Close, 3, 7, 9)", "spread"]
    with pytest.raises(UserError, match=r"\[\[features\]\] 1: kind \"rsl\".*Did you mean 'rsi'"):
        config_from_dict({"features": [{"kind": "rsl"}]}, Path("x.toml"))
    with pytest.raises(UserError, match=r"\[\[features\]\] 2 \(rsi\): unknown key 'fast'"):
        config_from_dict({"features": [{"kind": "sma"}, {"kind": "rsi", "fast": 3}]}, Path("x.toml"))
    with pytest.raises(UserError, match="slow must be more than fast"):
        config_from_dict({"features": [{"kind": "macd", "fast": 9, "slow": 9}]}, Path("x.toml"))
    with pytest.raises(UserError, match="window: must be between 2"):
        config_from_dict({"features": [{"kind": "zscore", "window": 1}]}, Path("x.toml"))
    with pytest.raises(UserError, match="array of tables"):
        config_from_dict({"features": {"kind": "sma"}}, Path("x.toml"))


def test_two_inputs_of_one_name_are_refused():
    with pytest.raises(UserError, match=r"two inputs are named 'sma\(Close, 3\)'.*give one a `name`"):
        feature_frame(TOY, (FeatureConfig("sma", window=3), FeatureConfig("sma", window=3)), "Close")


def test_every_input_of_a_feature_is_named_and_volume_reads_volume():
    assert [i.name for i in inputs(FeatureConfig("volume"), "Close")] == ["log_volume(Volume)"]
    assert [i.name for i in inputs(FeatureConfig("volume", window=5), "Close")] == ["volume_zscore(Volume, 5)"]
    assert [i.name for i in inputs(FeatureConfig("sma", column="Open", window=4), "Close")] == ["sma(Open, 4)"]
