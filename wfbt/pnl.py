"""Trading P&L of out-of-sample forecasts: stitching, daily returns, figures. Pure functions.

The chain is: predictions (one row per split and validation date) -> `stitch_one_step` (one
forecast per date, from a model that had not seen it) -> strategy positions (vectorized, then
day by day for a strategy that follows its own path) -> `pnl` (returns after costs) ->
`figures`, annualised with `periods_per_year` of the data. `run_strategy` runs it all;
`check_strategy` tries a strategy on synthetic forecasts before any training.
docs/strategies.md gives the formulas.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from wfbt.data import date_labels
from wfbt.errors import UserError
from wfbt.strategy import (
    History,
    Past,
    Strategy,
    build_history,
    comparable_dates,
    compute_day_position,
    compute_positions,
    decides_daily,
)

PERIODS_PER_YEAR = 252  # trading days a year: the default, and daily business-day data's
CALENDAR_DAYS_PER_YEAR = 365  # data that trades every day (crypto)
WEEKEND_SHARE = 0.2  # 7-day data has 2/7 = 29 % of its days on Saturday or Sunday, business-day data 0
INTRADAY_BELOW_DAYS = 0.9  # a median step shorter than this (in days) is intraday
CHECK_DAYS = 30  # synthetic forecast days check_strategy runs past the strategy's lookback
# (what, periods per year, median step from, to, in days); the daily band is [0.9, 4)
STEPS = (("weekly", 52.0, 4.0, 11.0), ("monthly", 12.0, 25.0, 35.0),
         ("quarterly", 4.0, 80.0, 100.0), ("yearly", 1.0, 350.0, 380.0))
ZERO_SCALE = 1e-12  # a std, downside deviation or drawdown below this is zero: the ratio is NaN
PREDICTION_COLUMNS = ("split", "date", "actual", "forecast", "last")
EQUITY_COLUMNS = ("date", "position", "return", "strategy_equity", "buy_hold_equity")


def one_forecast_per_date(forecasts: pl.DataFrame, horizon: int = 1) -> pl.DataFrame:
    """THE rule for "one forecast per date", shared by the P&L and both Diebold-Mariano tests.

    One row per date, sorted: the row of the largest split with a valid (finite) forecast for it.
    Every split that forecasts a date was trained on data before it, and the largest such split
    saw the most recent past, so it is the walk-forward forecast for that date. A failed split's
    rows (NaN forecasts) are dropped first, so an older valid model fills in, with its own
    baseline forecasts beside it; a date with no valid forecast at all is left out (the P&L is
    flat on it). Every column of `forecasts` is kept. A table with a `horizon` column (`[model]
    horizon` > 1) is stitched per step: the rows of step `horizon` only (step 1 by default).
    """
    if "horizon" in forecasts.columns:
        forecasts = forecasts.filter(pl.col("horizon") == horizon)
    return (
        forecasts.filter(pl.col("forecast").is_finite())
        .sort(["date", "split"])
        .unique(subset="date", keep="last", maintain_order=True)
    )


def stitch_one_step(predictions: pl.DataFrame) -> pl.DataFrame:
    """`one_forecast_per_date` of the forecasts, with columns date, split, actual, forecast, last
    (of step 1, for a table with a `horizon` column)."""
    if "horizon" in predictions.columns:
        predictions = predictions.filter(pl.col("horizon") == 1)
    return one_forecast_per_date(predictions.select("date", "split", "actual", "forecast", "last"))


def forecast_steps(predictions: pl.DataFrame, stitched: pl.DataFrame, price_dates: np.ndarray) -> np.ndarray:
    """(n, h): for each stitched date t, every step's forecast made at the origin of t's step-1
    forecast (the close of t-1), by the same split: step k is the forecast for k-1 observed dates
    after t. NaN where there is none (a step past the data, a date without a forecast). A table
    without a `horizon` column gives (n, 1)."""
    if "horizon" not in predictions.columns:
        return stitched["forecast"].to_numpy().astype(float)[:, None]
    horizon = int(predictions["horizon"].max())
    target = np.searchsorted(price_dates, comparable_dates(predictions["date"].to_numpy()), side="left")
    steps = predictions.select("split", "horizon", "forecast").with_columns(
        origin=pl.Series(target - predictions["horizon"].to_numpy()))
    day = np.searchsorted(price_dates, comparable_dates(stitched["date"].to_numpy()), side="left")
    wanted = pl.DataFrame({"row": np.arange(stitched.height), "split": stitched["split"].cast(pl.Int64),
                           "origin": day - 1})
    found = wanted.join(steps.with_columns(pl.col("split").cast(pl.Int64)), on=["split", "origin"], how="inner")
    matrix = np.full((stitched.height, horizon), np.nan)
    matrix[found["row"].to_numpy(), found["horizon"].to_numpy() - 1] = found["forecast"].to_numpy()
    return matrix


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


def annualised_return(total_return: float, n_days: int, periods_per_year: float = PERIODS_PER_YEAR) -> float:
    """Geometric: (1 + total)^(periods_per_year / n) - 1; -1 once the equity is wiped out."""
    if n_days == 0:
        return math.nan
    if total_return <= -1.0:
        return -1.0
    with np.errstate(over="ignore"):  # a short, lucky series annualises to inf rather than warn
        return float(np.power(1.0 + total_return, periods_per_year / n_days) - 1.0)


def periods_per_year(dates: Any) -> tuple[float, str]:
    """Periods per year of a date series, inferred from its step, and a short text of what was assumed.

    252 was once assumed for every series, and 240 weekly rows annualised to +1,010 %. The step
    is the median spacing of the dates, so a few gaps (holidays, missing rows) do not move it:
    under 0.9 days is intraday, under 4 daily, 4-11 weekly (52), 25-35 monthly (12), 80-100
    quarterly (4), 350-380 yearly (1); any other step s gives 365.25 / s. Daily data is 252 a
    year, or 365 when at least a fifth of its days fall on a weekend (7-day data, e.g. crypto,
    has 2/7). Intraday data is bars a day × those days, with bars a day counted per calendar
    day (the median count: a short first or last day does not move it), so a 6.5-hour session
    of hourly bars is 7 × 252 and 24-hour crypto bars 24 × 365. Dates that are not calendar
    dates (plain numbers), or fewer than two, cannot tell: 252 is assumed, and said.

    >>> periods_per_year(np.arange("2024-01-01", "2024-03-01", dtype="datetime64[W]"))
    (52.0, '52 (weekly)')
    """
    times = comparable_dates(dates)
    if times.dtype.kind != "M" or times.size < 2:
        why = "too few dates to tell" if times.dtype.kind == "M" else "the dates are not calendar dates"
        return float(PERIODS_PER_YEAR), f"{PERIODS_PER_YEAR} ({why}: assumed daily)"
    step_days = float(np.median(np.diff(times) / np.timedelta64(1, "D")))
    days, bars_per_day = np.unique(times.astype("datetime64[D]"), return_counts=True)
    every_day = float(np.mean(~np.is_busday(days))) >= WEEKEND_SHARE
    days_per_year = CALENDAR_DAYS_PER_YEAR if every_day else PERIODS_PER_YEAR
    if step_days < INTRADAY_BELOW_DAYS:
        bars = float(np.median(bars_per_day))
        periods = bars * days_per_year
        return periods, f"{periods:,.0f} (intraday: {bars:g} bars a day × {days_per_year} days)"
    if step_days < STEPS[0][2]:
        return float(days_per_year), f"{days_per_year} (daily{', weekends included' if every_day else ''})"
    for name, periods, low, high in STEPS:
        if low <= step_days < high:
            return periods, f"{periods:g} ({name})"
    periods = 365.25 / step_days
    return periods, f"{periods:.4g} (one row every {step_days:g} days)"


def figures(daily: DailyPnl, periods_per_year: float = PERIODS_PER_YEAR) -> dict[str, float]:
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
    periods_per_year: float  # what the figures were annualised with
    periods_per_year_source: str  # e.g. "inferred from the data's step: 252 (daily)"


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
    periods_per_year: float | None = None,
) -> StrategyResult:
    """Stitch the forecasts, ask the strategy for positions, and trade them against buy-and-hold.

    `prices_dates`/`prices_values` are the full observed series (sorted). Both p_{t-1} and
    p_t come from it: the history holds only prices dated before t, and p_t is looked up
    separately to score the position, never shown to the strategy. A strategy that overrides
    `on_day` then decides each day in turn from its own path (see `_walk_days`).
    `periods_per_year`: None infers it from the price dates (`periods_per_year(dates)`).

    >>> import datetime as dt
    >>> from wfbt.builtin_strategies import LongShort
    >>> days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    >>> predictions = pl.DataFrame({"split": [0, 1], "date": days[1:], "actual": [101.0, 99.0],
    ...                             "forecast": [102.0, 98.0], "last": [100.0, 101.0]})
    >>> result = run_strategy(LongShort(), predictions, days, [100.0, 101.0, 99.0])
    >>> result.equity["position"].to_list(), round(result.figures["total_return"], 6)
    ([1.0, -1.0], 0.03)
    >>> result.periods_per_year_source
    "inferred from the data's step: 252 (daily)"
    """
    for key, value in (("cost_bps", cost_bps), ("slippage_bps", slippage_bps)):
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"[strategy] {key}: must be a number >= 0, got {value!r}")
    stitched = _every_observed_date(stitch_one_step(predictions), predictions["date"].to_numpy(), prices_dates)
    price_dates = comparable_dates(prices_dates)
    price_values = np.asarray(prices_values, dtype=float)
    year, year_source = _periods_per_year(periods_per_year, price_dates)
    dates = comparable_dates(stitched["date"].to_numpy())
    history = build_history(dates, price_dates, price_values, strategy.lookback)
    if np.isnan(history.last).any():
        raise ValueError("a forecast date has no observed price before it; nothing to trade from")
    # a date no split has a valid forecast for (a failed split) is flat, but stays in both series
    forecast = stitched["forecast"].to_numpy().astype(float)
    known_forecast = np.isfinite(forecast)
    if strategy.horizons:  # every step from each date's origin, (n, h); step 1 decides what is known
        forecast = np.where(known_forecast[:, None], forecast_steps(predictions, stitched, price_dates), np.nan)
    if known_forecast.all():
        positions = compute_positions(strategy, forecast, history)
    else:
        positions = np.zeros(known_forecast.size)
        known_history = History(history.last[known_forecast], history.window[known_forecast])
        for array in (known_history.last, known_history.window):
            array.flags.writeable = False  # as build_history hands them out
        positions[known_forecast] = compute_positions(strategy, forecast[known_forecast], known_history)
    prices = _prices_on(dates, price_dates, price_values)
    if decides_daily(strategy):
        targets = np.where(known_forecast, positions, np.nan)
        observed = np.searchsorted(price_dates, dates, side="left")  # prices dated before each t
        positions = _walk_days(strategy, targets, prices / history.last - 1.0, price_values, observed,
                               cost_bps + slippage_bps, year, stitched["date"].to_list())
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
    return StrategyResult(equity, figures(daily, year), figures(held, year), per_split, year, year_source)


def _periods_per_year(given: float | None, price_dates: np.ndarray) -> tuple[float, str]:
    """The periods per year to annualise with, and where the number came from."""
    if given is None:
        inferred, assumed = periods_per_year(price_dates)
        return inferred, f"inferred from the data's step: {assumed}"
    if isinstance(given, bool) or not isinstance(given, numbers.Real) or not (math.isfinite(given) and given > 0):
        raise UserError(f"[strategy] periods_per_year: must be a number > 0, got {given!r}")
    return float(given), "set in [strategy] periods_per_year"


def _walk_days(
    strategy: Strategy,
    targets: np.ndarray,
    asset_return: np.ndarray,
    observed_prices: np.ndarray,
    n_observed: np.ndarray,
    cost_per_unit_bps: float,
    periods_per_year: float,
    dates: Sequence[Any],
) -> np.ndarray:
    """The positions of a strategy that follows its own path, decided one day at a time.

    Day t calls `strategy.on_day(targets[t], past, state)` with `past` the path up to the close
    of t-1 (see `wfbt.strategy.Past`): read-only views of arrays filled in as the days go, so
    nothing of day t or later can be seen. Each day's return and cost use `pnl`'s formula term
    for term, so `past.returns` and `past.equity` equal what `pnl(positions, ...)` gives for the
    finished series, bit for bit. A NaN target (no forecast that day) is flat, and `on_day` is
    not called. `asset_return` is p_t / p_{t-1} - 1 as `pnl` computes it, `n_observed[t]` counts
    the observed prices dated before t, `cost_per_unit_bps` is cost_bps + slippage_bps.
    """
    n = targets.size
    paths = {name: np.zeros(n) for name in ("positions", "returns", "equity", "peak")}
    seen = {name: _read_only(array) for name, array in [*paths.items(), ("asset_returns", asset_return)]}
    all_prices = _read_only(observed_prices)
    state = strategy.initial_state()
    held, equity, peak = 0.0, 1.0, 1.0
    for t in range(n):
        if np.isnan(targets[t]):
            position = 0.0
        else:
            past = Past(seen["positions"][:t], seen["asset_returns"][:t], seen["returns"][:t], seen["equity"][:t],
                        seen["peak"][:t], all_prices[:n_observed[t]], periods_per_year)
            position, state = compute_day_position(strategy, float(targets[t]), past, state, dates[t])
        cost = abs(position - held) * cost_per_unit_bps / 1e4  # pnl's turnover * (cost + slippage) / 1e4
        day_return = position * asset_return[t] - cost
        equity *= 1.0 + day_return
        peak = max(peak, equity)
        paths["positions"][t], paths["returns"][t], paths["equity"][t], paths["peak"][t] = (
            position, day_return, equity, peak)
        held = position
    return paths["positions"].copy()


def _read_only(array: np.ndarray) -> np.ndarray:
    """A view that cannot be written through; it still shows later writes to `array`."""
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


def check_strategy(strategy: Strategy, price_dates: Any, price_values: Any,
                   periods_per_year: float | None = None, horizon: int = 1) -> None:
    """Run the strategy on synthetic forecasts from the first prices, so its bugs surface before training.

    A typo in a plugin (`history.windw`) used to be reported only after every split had trained.
    The forecasts are the last price ×(1 ± 1 %), alternating up and down, for the dates from the
    second observed one to `lookback + 30` after it: the first days have NaN-padded windows, the
    later ones full windows, as a real run has. (A per-day rule that waits longer, e.g. a
    `vol_target` window above 30, is only checked while it waits.) Both `positions` and, when overridden, `on_day` run,
    through the same checks as a real run; a failure is the same `UserError`, naming the
    plugin's file and line, with a note that this trial run found it. Needs two prices at least;
    with fewer it checks nothing. `horizon` ([model] horizon): the forecasts get that many steps,
    as a horizon run's have (the same value for every step).
    """
    dates = np.asarray(price_dates)
    values = np.asarray(price_values, dtype=float)
    stop = min(dates.size, strategy.lookback + CHECK_DAYS + 1)
    if stop < 2:
        return
    last = values[: stop - 1]
    predictions = pl.DataFrame({
        "split": np.zeros(stop - 1, dtype=np.int64),
        "date": dates[1:stop].tolist() if dates.dtype == object else dates[1:stop],  # Python dates: a Date column
        "actual": values[1:stop],
        "forecast": last * (1.0 + 0.01 * np.where(np.arange(stop - 1) % 2 == 0, 1.0, -1.0)),
        "last": last,
    })
    if horizon > 1:  # every step from each origin, as a horizon run's test_predictions.csv has them
        predictions = pl.concat([predictions.head(stop - k).with_columns(
            horizon=pl.lit(k, pl.Int64), date=predictions["date"].slice(k - 1, stop - k),
            actual=predictions["actual"].slice(k - 1, stop - k)) for k in range(1, horizon + 1) if stop - k > 0])
    try:
        run_strategy(strategy, predictions, dates, values, periods_per_year=periods_per_year)
    except UserError as exc:
        raise UserError(f"{exc}; found by a trial run on synthetic forecasts before training") from exc
