"""Model inputs as Polars expressions: one `[[features]]` table -> one or more named columns.

Every expression is causal: the value at row t reads rows <= t only (trailing windows, EWMs run
forward, shifts by positive periods; nothing centred, nothing backfilled). The first `warmup`
rows of a feature are null, where its window is not yet full; `feature_frame` computes them all
and `api.prepare` drops the leading rows where any is null (docs/data.md gives every formula).

>>> import polars as pl
>>> from wfbt.config import FeatureConfig
from wfbt.errors import UserError
>>> frame = pl.DataFrame({"Close": [10.0, 11.0, 12.1]})
>>> feature_frame(frame, (FeatureConfig("return"),), "Close")["return(Close)"].round(6).to_list()
[None, 0.1, 0.1]
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from wfbt.config import FeatureConfig
from wfbt.errors import UserError


@dataclass(frozen=True)
class Input:
    """One model input: its column name, expression and warm-up (leading rows left null)."""

    name: str
    expr: pl.Expr
    warmup: int


def source_column(feature: FeatureConfig, target: str) -> str:
    """The column a feature reads (`column`, default the target; volume: "Volume")."""
    if feature.column:
        return feature.column
    return "Volume" if feature.kind == "volume" else target


def columns_read(feature: FeatureConfig, target: str) -> list[str]:
    """Every column of the frame a feature reads."""
    if feature.kind == "range":
        return [feature.high, feature.low, *([source_column(feature, target)] if feature.relative else [])]
    return [source_column(feature, target)]


def inputs(feature: FeatureConfig, target: str) -> list[Input]:
    """The model inputs of one feature (macd gives three), named as docs/data.md documents."""
    column = source_column(feature, target)
    x = pl.col(column).cast(pl.Float64)
    kind, window = feature.kind, feature.window
    args = f"{column}, {window}"
    if kind == "column":
        found = [Input(column, x, 0)]
    elif kind == "return":
        found = [Input(f"return({column})", x / x.shift(1) - 1.0, 1)]
    elif kind == "log_return":
        found = [Input(f"log_return({column})", (x / x.shift(1)).log(), 1)]
    elif kind == "lag":
        found = [Input(f"lag({column}, {feature.periods})", x.shift(feature.periods), feature.periods)]
    elif kind == "sma":
        found = [Input(f"sma({args})", x.rolling_mean(window), window - 1)]
    elif kind == "ema":
        found = [Input(f"ema({args})", ema(x, window), window - 1)]
    elif kind == "rolling_std":
        found = [Input(f"rolling_std({args})", x.rolling_std(window, ddof=1), window - 1)]
    elif kind == "rolling_min":
        found = [Input(f"rolling_min({args})", x.rolling_min(window), window - 1)]
    elif kind == "rolling_max":
        found = [Input(f"rolling_max({args})", x.rolling_max(window), window - 1)]
    elif kind == "zscore":
        found = [Input(f"zscore({args})", zscore(x, window), window - 1)]
    elif kind == "range":
        spread = pl.col(feature.high).cast(pl.Float64) - pl.col(feature.low).cast(pl.Float64)
        if feature.relative:
            found = [Input(f"range({feature.high}, {feature.low}) / {column}", spread / x, 0)]
        else:
            found = [Input(f"range({feature.high}, {feature.low})", spread, 0)]
    elif kind == "volume":
        log_volume = x.log1p()
        if window:
            found = [Input(f"volume_zscore({args})", zscore(log_volume, window), window - 1)]
        else:
            found = [Input(f"log_volume({column})", log_volume, 0)]
    elif kind == "rsi":
        found = [Input(f"rsi({args})", rsi(x, window), window)]
    elif kind == "macd":
        line, signal = macd(x, feature.fast, feature.slow, feature.signal)
        params = f"{column}, {feature.fast}, {feature.slow}, {feature.signal}"
        both = feature.slow + feature.signal - 2
        found = [Input(f"macd({params})", line, feature.slow - 1), Input(f"macd_signal({params})", signal, both),
                 Input(f"macd_hist({params})", line - signal, both)]
    else:  # config.py admits only the kinds above
        raise ValueError(f"unknown feature kind {kind!r}")
    if feature.name:  # a user's name; macd's three inputs get suffixes
        suffixes = ["", "_signal", "_hist"] if len(found) == 3 else [""]
        found = [Input(feature.name + suffix, item.expr, item.warmup) for item, suffix in zip(found, suffixes)]
    return [Input(item.name, _after(item.expr, item.warmup), item.warmup) for item in found]


def _after(expr: pl.Expr, warmup: int) -> pl.Expr:
    """`expr` from row `warmup` on, null before: every kind's warm-up is exactly its documented one."""
    return pl.when(pl.int_range(pl.len()) >= warmup).then(expr) if warmup else expr


def ema(x: pl.Expr, window: int) -> pl.Expr:
    """Exponential moving average, alpha = 2 / (window + 1), adjust=False: e_0 = x_0,
    e_t = alpha x_t + (1 - alpha) e_(t-1)."""
    return x.ewm_mean(alpha=2.0 / (window + 1), adjust=False)


def zscore(x: pl.Expr, window: int) -> pl.Expr:
    """(x_t - mean) / std over the trailing `window` rows (ddof = 1); 0 where the window is flat."""
    std = x.rolling_std(window, ddof=1)
    return pl.when(std > 0).then((x - x.rolling_mean(window)) / std).otherwise(pl.when(std.is_not_null()).then(0.0))


def rsi(x: pl.Expr, window: int) -> pl.Expr:
    """Wilder's RSI: gains and losses of one-period changes averaged with alpha = 1 / window
    (adjust=False, starting at the first change); 100 * gain / (gain + loss), 50 when both are 0."""
    change = x.diff()
    gain = change.clip(lower_bound=0.0).ewm_mean(alpha=1.0 / window, adjust=False)
    loss = (-change).clip(lower_bound=0.0).ewm_mean(alpha=1.0 / window, adjust=False)
    total = gain + loss
    return pl.when(total > 0).then(100.0 * gain / total).otherwise(pl.when(total.is_not_null()).then(50.0))


def macd(x: pl.Expr, fast: int, slow: int, signal: int) -> tuple[pl.Expr, pl.Expr]:
    """The MACD line ema(fast) - ema(slow) and its signal line ema(signal) of the line."""
    line = ema(x, fast) - ema(x, slow)
    return line, ema(line, signal)


def feature_names(features: tuple[FeatureConfig, ...], target: str) -> list[str]:
    """The model inputs' names, in order (the columns of `wfbt inspect --features`)."""
    return [item.name for feature in features for item in inputs(feature, target)]


def warmup_rows(features: tuple[FeatureConfig, ...], target: str) -> int:
    """Leading rows where some input is undefined: the longest warm-up."""
    return max((item.warmup for feature in features for item in inputs(feature, target)), default=0)


def feature_frame(frame: pl.DataFrame, features: tuple[FeatureConfig, ...], target: str) -> pl.DataFrame:
    """Every model input of `features`, one column each, computed on `frame` (rows in date order)."""
    items = [item for feature in features for item in inputs(feature, target)]
    names = [item.name for item in items]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise UserError(f"[[features]]: two inputs are named '{twice}'; drop one, or give one a `name`.")
    return frame.select([item.expr.alias(item.name) for item in items])
