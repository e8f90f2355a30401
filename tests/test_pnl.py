"""P&L: daily returns, costs and figures against numbers worked out by hand; stitching; run_strategy."""

from __future__ import annotations

import datetime as dt
import math
import operator
from itertools import accumulate

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from wfbt.errors import UserError
from wfbt.pnl import (
    EQUITY_COLUMNS,
    buy_and_hold,
    figures,
    max_drawdown,
    pnl,
    pnl_per_split,
    periods_per_year,
    run_strategy,
    stitch_one_step,
)
from wfbt.builtin_strategies import LongShort
from wfbt.strategy import History, Strategy

# The toy series: p0 = 100 is the close before the first traded date; dates d1..d5 close at
# 102, 101, 103, 103, 100. Positions +1, +1, -1, 0, -1. Costs 10 bps + slippage 5 bps = 0.0015
# per unit of turnover.
PRICES_PREV = np.array([100.0, 102.0, 101.0, 103.0, 103.0])
PRICES = np.array([102.0, 101.0, 103.0, 103.0, 100.0])
POSITIONS = np.array([1.0, 1.0, -1.0, 0.0, -1.0])
COST, SLIPPAGE = 10.0, 5.0

# asset returns r_t = p_t / p_{t-1} - 1:   0.02,  -1/102,  2/101,  0,  -3/103
# turnover |pos_t - pos_{t-1}| (pos_0 = 0): 1,     0,       2,      1,  1      -> sum 5, 4 trades
# cost = turnover * 0.0015:                0.0015, 0,      0.003, 0.0015, 0.0015
# strategy return = pos * r - cost:
RETURNS = [
    0.02 - 0.0015,  # 0.0185
    -1 / 102,  # -0.0098039...
    -2 / 101 - 0.003,  # -0.0228020...
    0.0 - 0.0015,  # -0.0015 (flat, but paid to close the short)
    3 / 103 - 0.0015,  # 0.0276262...
]
# equity = running product of (1 + return): 1.0185, 1.0085147, 0.9855186, 0.9840403, 1.0112256
EQUITY = list(accumulate((1 + r for r in RETURNS), operator.mul))


def toy() -> tuple:
    daily = pnl(POSITIONS, PRICES_PREV, PRICES, COST, SLIPPAGE)
    return daily, figures(daily)


def test_daily_returns_turnover_and_costs_match_hand_arithmetic():
    daily, _ = toy()
    np.testing.assert_allclose(daily.asset_return, [0.02, -1 / 102, 2 / 101, 0.0, -3 / 103])
    np.testing.assert_allclose(daily.turnover, [1, 0, 2, 1, 1])
    np.testing.assert_allclose(daily.cost, [0.0015, 0, 0.003, 0.0015, 0.0015])
    np.testing.assert_allclose(daily.returns, RETURNS)
    np.testing.assert_allclose(daily.equity, EQUITY)


def test_figures_match_hand_arithmetic():
    _, fig = toy()
    mean = sum(RETURNS) / 5  # 0.0024041
    std = math.sqrt(sum((r - mean) ** 2 for r in RETURNS) / 4)  # ddof=1: 0.0205843
    downside = math.sqrt((RETURNS[1] ** 2 + RETURNS[2] ** 2 + RETURNS[3] ** 2) / 5)  # 0.0111202
    total = EQUITY[4] - 1  # 0.0112256
    yearly = (1 + total) ** (252 / 5) - 1  # 0.7552625
    drawdown = EQUITY[3] / EQUITY[0] - 1  # peak on d1, trough on d4: -0.0338338
    assert fig["total_return"] == pytest.approx(total)
    assert fig["annualised_return"] == pytest.approx(yearly)
    assert fig["annualised_volatility"] == pytest.approx(std * math.sqrt(252))  # 0.3267660
    assert fig["sharpe"] == pytest.approx(mean / std * math.sqrt(252))  # 1.8539987
    assert fig["sortino"] == pytest.approx(mean / downside * math.sqrt(252))  # 3.4318822
    assert fig["max_drawdown"] == pytest.approx(drawdown)
    assert fig["calmar"] == pytest.approx(yearly / -drawdown)  # 22.3227345
    assert fig["hit_rate"] == pytest.approx(2 / 4)  # active d1,d2,d3,d5; winners d1,d5
    assert fig["turnover"] == pytest.approx(5.0)
    assert fig["mean_daily_turnover"] == pytest.approx(1.0)
    assert fig["exposure"] == pytest.approx(4 / 5)
    assert fig["n_trades"] == 4.0
    assert fig["n_days"] == 5.0
    assert all(isinstance(v, float) for v in fig.values())


def test_buy_and_hold_pays_one_entry_cost_then_rides_the_price():
    held = buy_and_hold(PRICES_PREV, PRICES, COST, SLIPPAGE)
    np.testing.assert_allclose(held.turnover, [1, 0, 0, 0, 0])
    # (1.02 - 0.0015) * (101/102) * (103/101) * (103/103) * (100/103) = 1.0185 / 1.02
    assert held.equity[-1] == pytest.approx(1.0185 / 1.02)
    fig = figures(held)
    assert fig["max_drawdown"] == pytest.approx(100 / 103 - 1)  # from the peak on d3 to d5
    assert fig["n_trades"] == 1.0
    assert fig["exposure"] == 1.0


def test_degenerate_series_give_nan_ratios_without_warnings():
    flat = figures(pnl(np.zeros(4), np.full(4, 10.0), np.full(4, 10.0)))
    assert flat["total_return"] == 0.0 and flat["max_drawdown"] == 0.0
    for name in ("sharpe", "sortino", "calmar", "hit_rate"):
        assert math.isnan(flat[name]), name
    winning = figures(pnl(np.ones(3), np.array([1.0, 1.1, 1.21]), np.array([1.1, 1.21, 1.331])))
    assert math.isnan(winning["sharpe"])  # constant +10 % a day: std 0
    assert math.isnan(winning["sortino"]) and math.isnan(winning["calmar"])  # no losing day, no drawdown
    empty = figures(pnl(np.zeros(0), np.zeros(0), np.zeros(0)))
    assert empty["n_days"] == 0.0 and empty["total_return"] == 0.0
    assert math.isnan(empty["annualised_return"]) and math.isnan(empty["exposure"])


def test_max_drawdown_counts_a_loss_on_the_first_day():
    assert max_drawdown(np.array([0.9, 1.2, 0.6])) == pytest.approx(-0.5)
    assert max_drawdown(np.array([0.9])) == pytest.approx(-0.1)
    assert max_drawdown(np.array([1.1, 1.2])) == 0.0


def overlapping_predictions() -> pl.DataFrame:
    """Split s trains on days [s, s+5) and validates on [s+5, s+8): windows overlap (step 1, val 3).

    The forecast encodes who made it: 1000 * split + day.
    """
    rows = [(s, d) for s in range(4) for d in range(s + 5, s + 8)]
    return pl.DataFrame(
        {
            "split": [s for s, _ in rows],
            "date": [d for _, d in rows],
            "actual": [float(d) for _, d in rows],
            "forecast": [1000.0 * s + d for s, d in rows],
            "last": [float(d - 1) for _, d in rows],
        }
    ).reverse()  # unsorted input on purpose


def test_stitch_takes_the_latest_model_that_had_not_seen_the_date():
    stitched = stitch_one_step(overlapping_predictions())
    assert stitched.columns == ["date", "split", "actual", "forecast", "last"]
    assert stitched["date"].to_list() == [5, 6, 7, 8, 9, 10]
    assert stitched["split"].to_list() == [0, 1, 2, 3, 3, 3]
    expected = [1000.0 * s + d for s, d in zip([0, 1, 2, 3, 3, 3], range(5, 11), strict=True)]
    assert stitched["forecast"].to_list() == expected
    for split, date in zip(stitched["split"], stitched["date"]):
        train_stop = split + 5
        assert train_stop <= date  # the chosen model never trained on the date it forecasts
        # and no later model that validated on this date was skipped
        assert all(not (s + 5 <= date < s + 8) for s in range(split + 1, 4))


def test_stitch_falls_back_to_an_older_model_when_a_split_failed():
    predictions = overlapping_predictions().with_columns(
        pl.when(pl.col("split") == 2).then(float("nan")).otherwise(pl.col("forecast")).alias("forecast")
    )
    stitched = stitch_one_step(predictions)
    assert stitched["split"].to_list() == [0, 1, 1, 3, 3, 3]  # day 7: split 2 failed, split 1 fills in


def test_pnl_per_split_compounds_the_days_each_split_supplied():
    table = pnl_per_split(np.array([0, 1, 1, 3]), np.array([0.1, 0.1, -0.5, 0.0]))
    assert table.columns == ["split", "n_days", "total_return"]
    assert table["split"].to_list() == [0, 1, 3]
    assert table["n_days"].to_list() == [1, 2, 1]
    np.testing.assert_allclose(table["total_return"].to_numpy(), [0.1, 1.1 * 0.5 - 1, 0.0])


def toy_run_inputs() -> tuple[pl.DataFrame, list, np.ndarray]:
    """Six observed days (day 0 closes at 100), forecasts for days 1..5 from two splits."""
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(6)]
    prices = np.array([100.0, 102.0, 101.0, 103.0, 103.0, 100.0])
    forecasts = [105.0, 106.0, 99.0, 103.0, 90.0]  # long, long, short, flat, short: POSITIONS
    predictions = pl.DataFrame(
        {
            "split": [0, 0, 0, 1, 1],
            "date": days[1:],
            "actual": prices[1:],
            "forecast": forecasts,
            "last": prices[:-1],
        }
    )
    return predictions, days, prices


def test_run_strategy_trades_the_toy_series_like_the_hand_arithmetic():
    predictions, days, prices = toy_run_inputs()
    result = run_strategy(LongShort(), predictions, days, prices, cost_bps=COST, slippage_bps=SLIPPAGE)
    assert tuple(result.equity.columns) == EQUITY_COLUMNS
    assert result.equity["date"].to_list() == days[1:]
    np.testing.assert_allclose(result.equity["position"].to_numpy(), POSITIONS)
    np.testing.assert_allclose(result.equity["return"].to_numpy(), RETURNS)
    np.testing.assert_allclose(result.equity["strategy_equity"].to_numpy(), EQUITY)
    assert result.equity["buy_hold_equity"][-1] == pytest.approx(1.0185 / 1.02)
    assert result.figures == pytest.approx(toy()[1], nan_ok=True)
    assert result.per_split["n_days"].to_list() == [3, 2]
    assert result.per_split["total_return"][0] == pytest.approx(EQUITY[2] - 1)
    assert result.per_split["total_return"][1] == pytest.approx(EQUITY[4] / EQUITY[2] - 1)


def test_run_strategy_never_shows_the_strategy_the_price_it_trades_on():
    seen: list[History] = []

    class Spy(Strategy):
        lookback = 3

        def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
            seen.append(history)
            return np.zeros_like(forecast)

    predictions, days, prices = toy_run_inputs()
    run_strategy(Spy(), predictions, days, prices)
    np.testing.assert_allclose(seen[0].last, prices[:-1])
    assert np.isnan(seen[0].window[0, :2]).all() and seen[0].window[0, 2] == 100.0
    np.testing.assert_allclose(seen[0].window[4], prices[2:5])  # day 5 sees days 2, 3, 4


def test_run_strategy_reports_bad_positions_and_costs_as_user_errors():
    class TooBig(Strategy):
        def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
            return np.full_like(forecast, 2.0)

    predictions, days, prices = toy_run_inputs()
    with pytest.raises(UserError, match=r"strategy TooBig returned positions outside \[-1, 1\]"):
        run_strategy(TooBig(), predictions, days, prices)
    with pytest.raises(UserError, match=r"\[strategy\] cost_bps: must be a number >= 0"):
        run_strategy(LongShort(), predictions, days, prices, cost_bps=-1.0)


def test_pnl_table_has_one_row_per_figure_and_prints():
    _, fig = toy()
    held = figures(buy_and_hold(PRICES_PREV, PRICES, COST, SLIPPAGE))
    from wfbt.report import strategy_table

    table = strategy_table({"figures": fig, "buy_hold": held})
    assert [c.header for c in table.columns] == ["figure", "strategy", "buy & hold"]
    assert table.row_count == len(fig)
    console = Console(record=True, width=100)
    console.print(table)
    text = console.export_text()
    assert "sharpe" in text and "1.85" in text and "-3.38%" in text


def test_a_day_without_a_valid_forecast_is_flat_and_buy_and_hold_still_counts_it():
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(6)]
    prices = np.array([100.0, 110.0, 99.0, 120.0, 130.0, 125.0])
    predictions = pl.DataFrame({"split": [0, 1, 2, 3, 4], "date": days[1:], "actual": prices[1:],
                                "forecast": [200.0, 200.0, float("nan"), 200.0, 200.0], "last": prices[:-1]})
    result = run_strategy(LongShort(), predictions, days, prices, cost_bps=10.0)
    assert result.equity["date"].to_list() == days[1:]  # the failed split's day is still there
    np.testing.assert_array_equal(result.equity["position"].to_numpy(), [1, 1, 0, 1, 1])
    # buy-and-hold earns every day's move, 125 / 100, less one entry cost on day 1
    assert result.buy_hold["total_return"] == pytest.approx((1.1 - 1e-3) / 1.1 * 1.25 - 1, rel=1e-12)
    assert result.buy_hold["n_days"] == 5 and result.figures["n_days"] == 5
    # the strategy misses day 3's +21 % and pays to enter, leave and re-enter: 3 units of turnover
    assert result.figures["turnover"] == pytest.approx(3.0)
    expected = (1.1 - 1e-3) * 0.9 * (1 - 1e-3) * (130 / 120 - 1e-3) * (125 / 130) - 1
    assert result.figures["total_return"] == pytest.approx(expected, rel=1e-12)
    assert result.per_split["split"].to_list() == [0, 1, 3, 4]


@pytest.mark.parametrize("failed", [0, 4])  # the first or the last split failed
def test_a_failed_split_at_either_end_keeps_its_day_in_both_series(failed):
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(6)]
    prices = np.array([100.0, 110.0, 99.0, 120.0, 130.0, 125.0])
    forecast = [200.0] * 5
    forecast[failed] = float("nan")
    predictions = pl.DataFrame({"split": [0, 1, 2, 3, 4], "date": days[1:], "actual": prices[1:],
                                "forecast": forecast, "last": prices[:-1]})
    result = run_strategy(LongShort(), predictions, days, prices)
    assert result.buy_hold["n_days"] == 5 and result.buy_hold["total_return"] == pytest.approx(0.25)
    assert result.equity["position"][failed] == 0.0
    assert result.per_split["split"].dtype == pl.Int64 and failed not in result.per_split["split"].to_list()


def test_filled_days_are_labelled_and_ordered_like_the_tables_and_history_stays_read_only():
    times = [dt.datetime(2024, 1, 2, 9, 30) + dt.timedelta(minutes=30 * i) for i in range(6)]
    prices = np.array([100.0, 101.0, 102.0, 101.0, 103.0, 104.0])
    labels = [t.isoformat() for t in times]  # what PriceSeries.date_text writes for intraday bars
    predictions = pl.DataFrame({"split": [0, 1, 2, 3, 4], "date": labels[1:], "actual": prices[1:],
                                "forecast": [200.0, 200.0, float("nan"), 200.0, 200.0], "last": prices[:-1]})
    result = run_strategy(LongShort(), predictions, times, prices)
    assert result.equity["date"].to_list() == labels[1:]

    class Scribbler(Strategy):
        def positions(self, forecast, history):
            history.last[:] = 0.0
            return np.zeros_like(forecast)

    with pytest.raises(UserError, match="read-only"):
        run_strategy(Scribbler(), predictions, times, prices)


# ---------------------------------------------------------------- periods per year


def test_business_daily_data_is_exactly_252_so_every_figure_stays_as_it_was():
    dates = np.busday_offset("2008-05-30", np.arange(300), roll="forward")
    assert periods_per_year(dates) == (252.0, "252 (daily)")
    predictions, days, prices = toy_run_inputs()  # Monday to Saturday: one weekend day in six
    result = run_strategy(LongShort(), predictions, days, prices, cost_bps=COST, slippage_bps=SLIPPAGE)
    assert result.periods_per_year == 252.0 and result.figures == toy()[1]  # bit for bit
    assert result.periods_per_year_source == "inferred from the data's step: 252 (daily)"


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (np.arange("2024-01-01", "2024-04-01", dtype="datetime64[D]"), (365.0, "365 (daily, weekends included)")),
        (np.arange("2020-01-03", "2024-01-01", 7, dtype="datetime64[D]"), (52.0, "52 (weekly)")),
        (np.arange("2020-01", "2024-01", dtype="datetime64[M]").astype("datetime64[D]") - 1, (12.0, "12 (monthly)")),
        (np.arange("2000-01", "2024-01", 3, dtype="datetime64[M]").astype("datetime64[D]"), (4.0, "4 (quarterly)")),
        (np.arange("1990", "2024", dtype="datetime64[Y]").astype("datetime64[D]"), (1.0, "1 (yearly)")),
        (np.arange("2024-01-01", "2024-06-01", 14, dtype="datetime64[D]"),
         (365.25 / 14, "26.09 (one row every 14 days)")),
        (np.arange(10), (252.0, "252 (the dates are not calendar dates: assumed daily)")),
        (np.array(["2024-01-02"], dtype="datetime64[D]"), (252.0, "252 (too few dates to tell: assumed daily)")),
    ],
)
def test_periods_per_year_follows_the_data_step(dates, expected):
    assert periods_per_year(dates) == pytest.approx(expected)


def test_intraday_bars_count_bars_a_day_times_trading_days():
    # hourly bars 9:30 .. 15:30 (7 a day) on 10 business days; the first day starts at noon
    days = np.busday_offset("2024-01-01", np.arange(10), roll="forward").astype("datetime64[m]")
    hours = (np.timedelta64(570, "m") + np.arange(7) * np.timedelta64(60, "m"))
    bars = (days[:, None] + hours[None, :]).ravel()[3:]
    assert periods_per_year(bars) == (1764.0, "1,764 (intraday: 7 bars a day × 252 days)")
    crypto = np.arange("2024-01-01T00", "2024-02-01T00", dtype="datetime64[h]")  # 24 bars, every day
    assert periods_per_year(crypto) == (8760.0, "8,760 (intraday: 24 bars a day × 365 days)")


def weekly_run(**keywords) -> tuple:
    """240 weekly closes rising 0.2 % a week, always long: each week returns exactly 0.2 %."""
    weeks = np.arange(240) * np.timedelta64(7, "D") + np.datetime64("2019-01-04")
    prices = 100.0 * 1.002 ** np.arange(240)
    predictions = pl.DataFrame({"split": np.arange(239), "date": weeks[1:], "actual": prices[1:],
                                "forecast": prices[1:] * 2, "last": prices[:-1]})
    return run_strategy(LongShort(), predictions, weeks, prices, **keywords), prices


def test_weekly_data_is_annualised_with_52_weeks():
    result, prices = weekly_run()
    assert result.periods_per_year == 52.0
    assert result.periods_per_year_source == "inferred from the data's step: 52 (weekly)"
    total = prices[-1] / prices[0] - 1  # 1.002^239 - 1
    assert result.figures["total_return"] == pytest.approx(total)
    # (1 + total)^(52 / 239) - 1 = 1.002^52 - 1 = 10.95 % a year; 252 would have said 65.5 %
    assert result.figures["annualised_return"] == pytest.approx(1.002**52 - 1)
    assert result.buy_hold["annualised_return"] == pytest.approx(1.002**52 - 1)


def test_a_periods_per_year_override_wins_and_is_checked():
    result, prices = weekly_run(periods_per_year=12)
    assert result.periods_per_year == 12.0 and result.periods_per_year_source == "set in [strategy] periods_per_year"
    assert result.figures["annualised_return"] == pytest.approx(1.002**12 - 1)  # (1.002^239)^(12 / 239)
    for bad in (0, -1.0, float("nan"), float("inf"), True, "52"):
        with pytest.raises(UserError, match=r"\[strategy\] periods_per_year: must be a number > 0"):
            weekly_run(periods_per_year=bad)
