"""Trading P&L of out-of-sample forecasts: stitching, daily returns, figures. Pure functions.

The chain is: predictions (one row per split and validation date) -> `stitch_one_step` (one
forecast per date, from a model that had not seen it) -> strategy positions -> `pnl` (returns
after costs) -> `figures`. `run_strategy` runs it all; docs/strategies.md gives the formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rich.table import Table

from wfbt.data import date_labels
from wfbt.errors import UserError
from wfbt.strategy import History, Strategy, build_history, comparable_dates, compute_positions

PERIODS_PER_YEAR = 252
ZERO_SCALE = 1e-12  # a std, downside deviation or drawdown below this is zero: the ratio is NaN
PREDICTION_COLUMNS = ("split", "date", "actual", "forecast", "last")
EQUITY_COLUMNS = ("date", "position", "return", "strategy_equity", "buy_hold_equity")


def stitch_one_step(predictions: pl.DataFrame) -> pl.DataFrame:
    """One row per date, sorted: the forecast of the largest split whose validation window holds it.

    Every split that validates on a date was trained on data before it, and the largest such
    split saw the most recent past, so it is the walk-forward forecast for that date (with
    step 1, the split whose validation window starts on the date). Rows whose forecast is
    null/NaN/inf (a failed split) are dropped first, so an older valid model fills in; a date
    with no valid forecast at all is left out. Columns: date, split, actual, forecast, last.
    """
    return (
        predictions.select("date", "split", "actual", "forecast", "last")
        .filter(pl.col("forecast").is_finite())
        .sort(["date", "split"])
        .unique(subset="date", keep="last", maintain_order=True)
    )


@dataclass(frozen=True)
class DailyPnl:
    """Per-day arrays (n,) of one position series traded over the same dates."""

    positions: np.ndarray
    asset_return: np.ndarray  # r_t = p_t / p_{t-1} - 1
    turnover: np.ndarray  # |pos_t - pos_{t-1}|, pos before the first date = 0
    cost: np.ndarray  # turnover_t * (cost_bps + slippage_bps) / 1e4
    returns: np.ndarray  # pos_t * r_t - cost_t
    equity: np.ndarray  # prod(1 + returns) up to t, starting from 1 before the first date


def pnl(
    positions: np.ndarray,
    prices_prev: np.ndarray,
    prices: np.ndarray,
    cost_bps: float = 0.0,
    slippage_bps: float = 0.0,
) -> DailyPnl:
    """Returns after costs of holding `positions[t]` from the close of t-1 to the close of t.

    The position for t is decided at t-1 from the forecast for t, so it earns r_t. Entering
    from flat on the first date is a trade; there is no closing trade after the last date.
    """
    positions = np.asarray(positions, dtype=float)
    asset_return = np.asarray(prices, dtype=float) / np.asarray(prices_prev, dtype=float) - 1.0
    turnover = np.abs(np.diff(positions, prepend=0.0))
    cost = turnover * (cost_bps + slippage_bps) / 1e4
    returns = positions * asset_return - cost
    return DailyPnl(positions, asset_return, turnover, cost, returns, np.cumprod(1.0 + returns))


def buy_and_hold(
    prices_prev: np.ndarray, prices: np.ndarray, cost_bps: float = 0.0, slippage_bps: float = 0.0
) -> DailyPnl:
    """Position 1 on every date: one unit of turnover (and its cost) on the first date only."""
    return pnl(np.ones(np.shape(prices)), prices_prev, prices, cost_bps, slippage_bps)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when undefined (zero or non-finite denominator)."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or abs(denominator) < ZERO_SCALE:
        return math.nan
    return numerator / denominator


def max_drawdown(equity: np.ndarray) -> float:
    """Worst fall from a running peak, as a negative fraction (0.0 when it never falls).

    The curve starts at 1.0 before the first date, so a loss on day one is a drawdown.
    """
    curve = np.concatenate([[1.0], np.asarray(equity, dtype=float)])
    return float(np.min(curve / np.maximum.accumulate(curve) - 1.0))


def annualised_return(total_return: float, n_days: int, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Geometric: (1 + total)^(periods_per_year / n) - 1; -1 once the equity is wiped out."""
    if n_days == 0:
        return math.nan
    if total_return <= -1.0:
        return -1.0
    with np.errstate(over="ignore"):  # a short, lucky series annualises to inf rather than warn
        return float(np.power(1.0 + total_return, periods_per_year / n_days) - 1.0)


def figures(daily: DailyPnl, periods_per_year: int = PERIODS_PER_YEAR) -> dict[str, float]:
    """Summary figures of one position series; undefined ratios are NaN (see docs/strategies.md)."""
    returns, n_days = daily.returns, daily.returns.size
    total_return = float(np.prod(1.0 + returns)) - 1.0
    yearly = annualised_return(total_return, n_days, periods_per_year)
    std = float(np.std(returns, ddof=1)) if n_days >= 2 else math.nan
    mean = _mean(returns)
    downside = math.sqrt(_mean(np.minimum(returns, 0.0) ** 2)) if n_days else math.nan
    drawdown = max_drawdown(daily.equity)
    active = daily.positions != 0
    root_year = math.sqrt(periods_per_year)
    return {
        "total_return": total_return,
        "annualised_return": yearly,
        "annualised_volatility": std * root_year,
        "sharpe": _ratio(mean, std) * root_year,
        "sortino": _ratio(mean, downside) * root_year,
        "max_drawdown": drawdown,
        "calmar": _ratio(yearly, abs(drawdown)),
        "hit_rate": _mean((returns[active] > 0).astype(float)),
        "turnover": float(np.sum(daily.turnover)),
        "mean_daily_turnover": _mean(daily.turnover),
        "exposure": _mean(np.abs(daily.positions)),
        "n_trades": float(np.count_nonzero(daily.turnover)),
        "n_days": float(n_days),
    }


def pnl_per_split(splits: np.ndarray, returns: np.ndarray) -> pl.DataFrame:
    """Compounded strategy return over the stitched dates each split supplied: split, n_days, total_return."""
    table = pl.DataFrame({"split": np.asarray(splits), "return": np.asarray(returns, dtype=float)})
    return (
        table.group_by("split")
        .agg(n_days=pl.len().cast(pl.Int64), total_return=(pl.col("return") + 1.0).product() - 1.0)
        .sort("split")
    )


def _every_observed_date(stitched: pl.DataFrame, forecast_dates: Any, price_dates: Any) -> pl.DataFrame:
    """The stitched rows, plus a row with a null forecast for every observed date from the first
    to the last forecast date (`forecast_dates`: every prediction's, valid or not) that no split
    forecast validly, so no day's price move goes missing. Sorted by date."""
    all_forecast_dates = comparable_dates(forecast_dates)
    if not all_forecast_dates.size:
        return stitched
    observed = comparable_dates(price_dates)
    in_span = (observed >= all_forecast_dates.min()) & (observed <= all_forecast_dates.max())
    missing = np.flatnonzero(in_span & ~np.isin(observed, comparable_dates(stitched["date"].to_numpy())))
    if not len(missing):
        return stitched
    if stitched["date"].dtype == pl.String:  # labels as the tables write them
        dates = pl.Series("date", date_labels(_as_dates_if_daily(observed[missing])))
    else:
        values = np.asarray(price_dates)[missing]
        dates = pl.Series("date", values if values.dtype.kind == "M" else values.tolist()).cast(stitched["date"].dtype)
    merged = pl.concat([stitched, pl.DataFrame({"date": dates})], how="diagonal_relaxed")
    order = np.argsort(comparable_dates(merged["date"].to_numpy()), kind="stable")  # by time, not by text
    return merged[order]


def _as_dates_if_daily(times: np.ndarray) -> np.ndarray:
    """datetime64 values as datetime64[D] when every one is a midnight (how daily data is held)."""
    days = times.astype("datetime64[D]")
    return days if (days == times).all() else times


@dataclass(frozen=True)
class StrategyResult:
    """The P&L of one strategy over the stitched out-of-sample dates."""

    equity: pl.DataFrame  # date, position, return, strategy_equity, buy_hold_equity
    figures: dict[str, float]
    buy_hold: dict[str, float]
    per_split: pl.DataFrame  # split, n_days, total_return


def _prices_on(dates: np.ndarray, price_dates: np.ndarray, price_values: np.ndarray) -> np.ndarray:
    """The observed price on each date; every forecast date must be an observed date."""
    index = np.searchsorted(price_dates, dates, side="left")
    found = (index < price_dates.size) & (price_dates[np.minimum(index, price_dates.size - 1)] == dates)
    if not found.all():
        raise ValueError(f"forecast date {dates[np.argmin(found)]} is not in the price series")
    return price_values[index]


def run_strategy(
    strategy: Strategy,
    predictions: pl.DataFrame,
    prices_dates: Any,
    prices_values: Any,
    cost_bps: float = 0.0,
    slippage_bps: float = 0.0,
) -> StrategyResult:
    """Stitch the forecasts, ask the strategy for positions, and trade them against buy-and-hold.

    `prices_dates`/`prices_values` are the full observed series (sorted). Both p_{t-1} and
    p_t come from it: the history holds only prices dated before t, and p_t is looked up
    separately to score the position, never shown to the strategy.
    """
    for key, value in (("cost_bps", cost_bps), ("slippage_bps", slippage_bps)):
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"[strategy] {key}: must be a number >= 0, got {value!r}")
    stitched = _every_observed_date(stitch_one_step(predictions), predictions["date"].to_numpy(), prices_dates)
    price_dates = comparable_dates(prices_dates)
    price_values = np.asarray(prices_values, dtype=float)
    dates = comparable_dates(stitched["date"].to_numpy())
    history = build_history(dates, price_dates, price_values, strategy.lookback)
    if np.isnan(history.last).any():
        raise ValueError("a forecast date has no observed price before it; nothing to trade from")
    # a date no split has a valid forecast for (a failed split) is flat, but stays in both series
    forecast = stitched["forecast"].to_numpy().astype(float)
    known_forecast = np.isfinite(forecast)
    if known_forecast.all():
        positions = compute_positions(strategy, forecast, history)
    else:
        positions = np.zeros(forecast.size)
        known_history = History(history.last[known_forecast], history.window[known_forecast])
        for array in (known_history.last, known_history.window):
            array.flags.writeable = False  # as build_history hands them out
        positions[known_forecast] = compute_positions(strategy, forecast[known_forecast], known_history)
    prices = _prices_on(dates, price_dates, price_values)
    daily = pnl(positions, history.last, prices, cost_bps, slippage_bps)
    held = buy_and_hold(history.last, prices, cost_bps, slippage_bps)
    equity = pl.DataFrame(
        {
            "date": stitched["date"],
            "position": positions,
            "return": daily.returns,
            "strategy_equity": daily.equity,
            "buy_hold_equity": held.equity,
        }
    )
    per_split = pnl_per_split(stitched["split"].filter(pl.Series(known_forecast)).cast(pl.Int64).to_numpy(),
                              daily.returns[known_forecast])
    return StrategyResult(equity, figures(daily), figures(held), per_split)


PERCENT = (
    "total_return", "annualised_return", "annualised_volatility", "max_drawdown", "hit_rate", "exposure"
)
COUNTS = ("n_trades", "n_days")


def format_figure(name: str, value: float) -> str:
    """A figure as the terminal shows it: percentages, counts, or two decimals; NaN as 'n/a'."""
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else f"{value}"
    if name in PERCENT:
        return f"{value:.2%}"
    if name in COUNTS:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def pnl_table(figures: dict[str, float], buy_hold: dict[str, float]) -> Table:
    """Strategy vs buy-and-hold, one row per figure, for the terminal summary."""
    table = Table(title="P&L (out-of-sample, after costs)")
    table.add_column("figure")
    table.add_column("strategy", justify="right")
    table.add_column("buy & hold", justify="right")
    for name, value in figures.items():
        held = buy_hold.get(name, math.nan)
        table.add_row(name.replace("_", " "), format_figure(name, value), format_figure(name, held))
    return table
