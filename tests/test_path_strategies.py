"""Strategies that follow their own path (`on_day`), the vol_target and stop_loss built-ins,
check_strategy before training, and the runnable examples in the docstrings."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import wfbt.pnl
import wfbt.strategy
from wfbt.builtin_strategies import BUILTINS, LongShort, StopLoss, StopState, VolTarget
from wfbt.errors import UserError
from wfbt.pnl import check_strategy, pnl, run_strategy
from wfbt.strategy import History, Past, Strategy, decides_daily
from wfbt.strategy_plugins import available_strategies, load_strategy

ROOT = Path(__file__).resolve().parents[1]


def business_days(n: int) -> np.ndarray:
    """n business days from Monday 2024-01-01, as daily price data holds them (datetime64[D])."""
    return np.busday_offset("2024-01-01", np.arange(n), roll="forward")


def one_split(days: np.ndarray, prices: np.ndarray, forecasts: list[float]) -> pl.DataFrame:
    """Predictions for days[1:], one split: forecasts above the last price say long, below short."""
    n = len(forecasts)
    return pl.DataFrame({"split": [0] * n, "date": days[1 : n + 1], "actual": prices[1 : n + 1],
                         "forecast": forecasts, "last": prices[:n]})


def signals(prices: np.ndarray, directions: list[int]) -> list[float]:
    """Forecasts that make a sign strategy take `directions` (+1 long, -1 short) day after day."""
    return [float(prices[i] * (1 + 0.01 * d)) for i, d in enumerate(directions)]


class FollowTheTarget(Strategy):
    """Overrides on_day but changes nothing: its P&L must equal the vectorized one, bit for bit."""

    lookback = 1

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        return np.sign(forecast - history.last)

    def on_day(self, target: float, past: Past, state: list) -> tuple[float, list]:
        return target, state


# ---------------------------------------------------------------- the per-day loop


def test_a_plain_strategy_stays_vectorized_and_on_day_that_follows_the_target_changes_nothing():
    days = business_days(8)
    prices = np.array([100.0, 102.0, 101.0, 103.0, 103.0, 100.0, 104.0, 99.0])
    predictions = one_split(days, prices, signals(prices, [1, 1, -1, 1, -1, -1, 1]))
    assert not decides_daily(LongShort()) and decides_daily(FollowTheTarget())
    plain = run_strategy(LongShort(), predictions, days, prices, cost_bps=10.0, slippage_bps=5.0)
    walked = run_strategy(FollowTheTarget(), predictions, days, prices, cost_bps=10.0, slippage_bps=5.0)
    assert walked.equity.equals(plain.equity)  # every column, exactly
    assert walked.figures == pytest.approx(plain.figures, rel=0, abs=0, nan_ok=True)


def test_on_day_sees_its_own_past_up_to_the_day_before_and_costs_match_pnl():
    seen: list[dict] = []

    class Recorder(FollowTheTarget):
        def initial_state(self) -> int:
            return 0

        def on_day(self, target: float, past: Past, state: int) -> tuple[float, int]:
            seen.append({"day": past.day, "state": state, "position": past.position, "equity": past.current_equity,
                         "drawdown": past.drawdown, "past": past})
            return target * 0.5, state + 1  # half size, so positions differ from the targets

    days = business_days(6)
    prices = np.array([100.0, 110.0, 99.0, 120.0, 130.0, 125.0])
    predictions = one_split(days, prices, signals(prices, [1, 1, -1, 1, 1]))
    result = run_strategy(Recorder(), predictions, days, prices, cost_bps=20.0, slippage_bps=5.0)
    positions = result.equity["position"].to_numpy()
    np.testing.assert_array_equal(positions, [0.5, 0.5, -0.5, 0.5, 0.5])
    # the loop's running returns and equity are pnl()'s, term for term
    daily = pnl(positions, prices[:-1], prices[1:], 20.0, 5.0)
    np.testing.assert_array_equal(result.equity["return"].to_numpy(), daily.returns)
    assert [s["day"] for s in seen] == [0, 1, 2, 3, 4] and [s["state"] for s in seen] == [0, 1, 2, 3, 4]
    last = seen[-1]["past"]  # deciding day 4 (days[5]) at the close of days[4]
    np.testing.assert_array_equal(last.prices, prices[:5])  # up to and including p_{t-1}, never p_t
    np.testing.assert_array_equal(last.positions, positions[:4])
    np.testing.assert_array_equal(last.returns, daily.returns[:4])
    np.testing.assert_array_equal(last.equity, daily.equity[:4])
    np.testing.assert_array_equal(last.asset_returns, daily.asset_return[:4])
    np.testing.assert_array_equal(last.peak, np.maximum.accumulate(np.concatenate([[1.0], daily.equity[:4]]))[1:])
    assert seen[0]["position"] == 0.0 and seen[0]["equity"] == 1.0 and seen[0]["drawdown"] == 0.0
    assert seen[3]["position"] == -0.5 and seen[3]["equity"] == daily.equity[2]
    # day 2 lost: +0.5 * (99/110 - 1) less 0.5 * 25 bps; the drawdown is from the peak after day 1
    assert seen[2]["drawdown"] == pytest.approx(daily.equity[1] / daily.equity[0] - 1)
    assert last.periods_per_year == 252.0
    with pytest.raises(ValueError, match="read-only"):
        last.equity[0] = 2.0


def test_a_day_without_a_forecast_is_flat_and_on_day_is_not_called():
    called: list[int] = []

    class Counter(FollowTheTarget):
        def on_day(self, target: float, past: Past, state: None) -> tuple[float, None]:
            called.append(past.day)
            return target, state

    days = business_days(5)
    prices = np.array([100.0, 101.0, 102.0, 103.0, 104.0])
    predictions = one_split(days, prices, [200.0, float("nan"), 200.0, 200.0])
    result = run_strategy(Counter(), predictions, days, prices)
    assert called == [0, 2, 3]
    np.testing.assert_array_equal(result.equity["position"].to_numpy(), [1, 0, 1, 1])


@pytest.mark.parametrize(
    ("answer", "long_only", "message"),
    [
        ((1.5, None), False, r"Bad.on_day returned a position outside \[-1, 1\]: 1.5 on day 0 \(2024-01-02\)"),
        ((-0.5, None), True, r"outside \[0, 1\] \(long_only = True\): -0.5 on day 0"),
        ((float("nan"), None), False, r"Bad.on_day returned nan on day 0 \(2024-01-02\); return 0 \(flat\)"),
        (0.5, False, r"Bad.on_day returned float on day 0 \(2024-01-02\); return a pair \(position, state\)"),
        (([0.5], None), False, r"returned shape \(1,\) as the position on day 0"),
        (("long", None), False, r"returned str as the position on day 0 \(2024-01-02\), not a number"),
    ],
)
def test_bad_per_day_positions_are_user_errors_naming_the_day(answer, long_only, message):
    class Bad(FollowTheTarget):
        def on_day(self, target, past, state):
            return answer

    Bad.long_only = long_only
    days = business_days(3)
    prices = np.array([100.0, 101.0, 102.0])
    with pytest.raises(UserError, match=message):
        run_strategy(Bad(), one_split(days, prices, [200.0, 200.0]), days, prices)


def test_parameters_may_not_shadow_the_per_day_methods():
    class Shadow(Strategy):
        on_day: float = 1.0

    with pytest.raises(UserError, match="parameter 'on_day': the name 'on_day' is reserved"):
        Shadow()


# ---------------------------------------------------------------- vol_target


def test_vol_target_sizes_by_the_past_window_of_asset_returns():
    # Past prices 100, 101, 99.99, 100.9899: returns +1 %, -1 %, +1 %. With window 2 the sample std
    # of (+1 %, -1 %) is 0.02 / sqrt(2) = 0.01 * sqrt(2); a year of 252 days: 0.01 * sqrt(504).
    # target 10 % -> leverage 0.10 / (0.01 * sqrt(504)) = 10 / sqrt(504) = 0.445435
    leverage = 10 / math.sqrt(504)
    prices = np.array([100.0, 101.0, 99.99, 100.9899])
    rule = VolTarget(window=2)

    def past(n_prices: int, periods: float = 252.0) -> Past:
        empty = np.zeros(0)
        return Past(empty, empty, empty, empty, empty, prices[:n_prices], periods)

    assert rule.on_day(1.0, past(2), None) == (0.0, None)  # one past return: flat until there are 2
    assert rule.on_day(1.0, past(3), None)[0] == pytest.approx(leverage, rel=1e-9)
    assert rule.on_day(-1.0, past(4), None)[0] == pytest.approx(-leverage, rel=1e-9)  # (-1 %, +1 %): same vol
    # 12 periods a year: vol 0.01 * sqrt(24) = 0.04899, 0.10 / 0.04899 = 2.04 -> capped at max_leverage
    assert rule.on_day(1.0, past(3, 12.0), None)[0] == 1.0
    assert VolTarget(window=2, max_leverage=0.3).on_day(-1.0, past(3, 12.0), None)[0] == -0.3
    flat_prices = Past(*[np.zeros(0)] * 5, np.full(5, 100.0), 252.0)
    assert rule.on_day(1.0, flat_prices, None)[0] == 1.0  # no volatility measured: full size


def test_vol_target_trades_the_sized_positions_after_costs():
    days = business_days(5)
    prices = np.array([100.0, 101.0, 99.99, 100.9899, 99.980001])  # +1 %, -1 %, +1 %, -1 %
    predictions = one_split(days, prices, signals(prices, [1, 1, 1, -1]))
    result = run_strategy(load_strategy("vol_target", {"window": 2}, [ROOT]), predictions, days, prices,
                          cost_bps=10.0)
    leverage = 10 / math.sqrt(504)
    # day 0 sees 1 past price, day 1 two (one return): flat. Days 2 and 3 see two returns of ±1 %.
    np.testing.assert_allclose(result.equity["position"].to_numpy(), [0, 0, leverage, -leverage], rtol=1e-9)
    # day 2: L * (+1 %) - L * 10 bps; day 3: -L * (-1 %) - 2L * 10 bps (from +L to -L)
    expected = [0.0, 0.0, leverage * 0.01 - leverage * 1e-3, leverage * 0.01 - 2 * leverage * 1e-3]
    np.testing.assert_allclose(result.equity["return"].to_numpy(), expected, rtol=1e-6, atol=1e-15)
    assert result.figures["turnover"] == pytest.approx(3 * leverage)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"max_leverage": 2.0}, r"\[strategy\] max_leverage: must be in \(0, 1\]"),
     ({"window": 1}, r"\[strategy\] window: must be 2 or more"),
     ({"target_vol": 0.0}, r"\[strategy\] target_vol: must be > 0")],
)
def test_vol_target_parameters_out_of_range_are_user_errors(params, message):
    days = business_days(3)
    prices = np.array([100.0, 101.0, 102.0])
    with pytest.raises(UserError, match=message):
        check_strategy(VolTarget(**params), days, prices)


# ---------------------------------------------------------------- stop_loss


def test_stop_loss_goes_flat_after_the_drawdown_and_waits_for_a_new_signal():
    days = business_days(8)
    prices = np.array([100.0, 95.0, 85.5, 90.0, 99.0, 94.05, 105.336, 100.0])
    # signal: long, long, long, long, short, short, short
    predictions = one_split(days, prices, signals(prices, [1, 1, 1, 1, -1, -1, -1]))
    result = run_strategy(StopLoss(), predictions, days, prices)  # 10 %, no costs
    # day 0: long, 100 -> 95: equity 0.95 (drawdown 5 %: keep going)
    # day 1: long, 95 -> 85.5 (-10 %): equity 0.855, 14.5 % below the peak of 1.0
    # day 2: the stop fires: flat (stopped on the long signal). Equity stays 0.855
    # day 3: the signal is still long: stay flat
    # day 4: a new signal, short: re-enter; the peak is now 0.855 (all-time: 1.0, -14.5 %, would stop)
    #        99 -> 94.05 (-5 %): equity 0.855 * 1.05 = 0.89775
    # day 5: peak 0.89775, no drawdown (from 1.0 it would be -10.2 %): short, 94.05 -> 105.336 (+12 %)
    #        equity 0.89775 * 0.88 = 0.79002, 12 % below the re-entry peak
    # day 6: the stop fires again: flat
    np.testing.assert_array_equal(result.equity["position"].to_numpy(), [1, 1, 0, 0, -1, -1, 0])
    np.testing.assert_allclose(result.equity["strategy_equity"].to_numpy(),
                               [0.95, 0.855, 0.855, 0.855, 0.89775, 0.79002, 0.79002], rtol=1e-12)


def test_stop_loss_state_and_threshold_by_hand():
    empty = np.zeros(0)

    def at(equity: float) -> Past:  # a past whose equity is now `equity`, peak 1.0
        return Past(np.array([1.0]), np.array([equity - 1]), np.array([equity - 1]), np.array([equity]),
                    np.array([max(1.0, equity)]), np.array([100.0, 100.0 * equity]), 252.0)

    rule = StopLoss(max_drawdown_pct=5.0)
    start = rule.initial_state()
    assert start == StopState(peak=1.0, stopped_on=None)
    assert rule.on_day(1.0, at(0.96), start) == (1.0, StopState(1.0, None))  # -4 %: keep trading
    assert rule.on_day(-1.0, at(0.94), start) == (0.0, StopState(1.0, -1.0))  # -6 %: stop on the short
    assert rule.on_day(-1.0, at(0.94), StopState(1.0, -1.0)) == (0.0, StopState(1.0, -1.0))  # same signal
    assert rule.on_day(0.0, at(0.94), StopState(1.0, -1.0)) == (0.0, StopState(0.94, None))  # new: flat
    assert rule.on_day(1.0, at(1.2), StopState(1.0, None)) == (1.0, StopState(1.2, None))  # a new peak
    assert Past(empty, empty, empty, empty, empty, np.array([1.0]), 252.0).drawdown == 0.0


def test_the_new_builtins_are_listed_with_their_parameters():
    assert BUILTINS["vol_target"] is VolTarget and BUILTINS["stop_loss"] is StopLoss
    listed = {info.name: info for info in available_strategies()}
    assert [(p.name, p.type, p.default) for p in listed["vol_target"].parameters] == [
        ("target_vol", float, 0.10), ("window", int, 20), ("max_leverage", float, 1.0)]
    assert [(p.name, p.default) for p in listed["stop_loss"].parameters] == [("max_drawdown_pct", 10.0)]
    assert listed["vol_target"].summary and listed["stop_loss"].summary


# ---------------------------------------------------------------- check_strategy, before training


def write_plugin(directory: Path, name: str, body: str) -> Path:
    path = directory / "strategies" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import numpy as np\nfrom wfbt.strategy import History, Strategy\n\n" + body)
    return path


TYPO = '''
class Typo(Strategy):
    """Uses a misspelt history field."""

    def positions(self, forecast, history):
        window = history.windw
        return np.zeros_like(forecast)
'''

DAILY_BUG = '''
class DailyBug(Strategy):
    """Divides by zero on its second day."""

    lookback = 1

    def positions(self, forecast, history):
        return np.sign(forecast - history.last)

    def on_day(self, target, past, state):
        return target / (1 - past.day), state
'''


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_check_strategy_reports_a_plugin_typo_with_its_file_and_line(tmp_path, monkeypatch):
    path = write_plugin(tmp_path, "typo.py", TYPO)
    monkeypatch.chdir(tmp_path)  # the file is then shown as the config names it
    rule = load_strategy("strategies/typo.py:Typo", {}, [tmp_path])
    days, prices = business_days(40), np.linspace(100.0, 110.0, 40)
    message = (r"strategy Typo.positions raised AttributeError: .*'windw' "
               rf"\(strategies/typo.py, line {line_of(path, 'windw')}\); found by a trial run")
    with pytest.raises(UserError, match=message):
        check_strategy(rule, days, prices)


def test_check_strategy_runs_on_day_too_and_names_the_day_and_line(tmp_path):
    path = write_plugin(tmp_path, "daily_bug.py", DAILY_BUG)
    rule = load_strategy("strategies/daily_bug.py:DailyBug", {}, [tmp_path])
    days, prices = business_days(40), np.linspace(100.0, 110.0, 40)
    message = (rf"DailyBug.on_day raised ZeroDivisionError on day 1 \(2024-01-03\): .* "
               rf"\({path}, line {line_of(path, '1 - past.day')}\)")  # outside the cwd: absolute
    with pytest.raises(UserError, match=message):
        check_strategy(rule, days, prices)


def test_check_strategy_passes_every_builtin_and_example_and_uses_few_days():
    calls: list[int] = []

    class Counting(FollowTheTarget):
        def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
            calls.append(forecast.size)
            assert np.isfinite(forecast).all()
            return super().positions(forecast, history)

    days, prices = business_days(500), 100.0 + np.cumsum(np.random.default_rng(0).normal(0, 1, 500))
    examples = ["strategies/momentum_filter.py:MomentumFilter", "strategies/mean_reversion.py:MeanReversion"]
    for name in [*BUILTINS, *examples]:
        assert check_strategy(load_strategy(name, {}, [ROOT]), days, prices) is None
    check_strategy(Counting(), days, prices)
    assert calls == [1 + 30]  # lookback 1, then 30 days
    check_strategy(Counting(), days[:1], prices[:1])  # one price: nothing to forecast from
    assert calls == [31]


# ---------------------------------------------------------------- runnable docstring examples


@pytest.mark.parametrize("module", [wfbt.strategy, wfbt.pnl])
def test_docstring_examples_run(module):
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0 and outcome.failed == 0


HALF_IN_DRAWDOWN = '''
class HalfInDrawdown(Strategy):
    """Long/short on the forecast's direction; half size while equity is 5 % below its peak."""

    lookback = 1

    def positions(self, forecast, history):
        return np.sign(forecast - history.last)

    def on_day(self, target, past, state):
        return (target / 2 if past.drawdown < -0.05 else target), state
'''


def test_the_worked_example_of_docs_strategies_md(tmp_path):
    docs = (ROOT / "docs" / "strategies.md").read_text()
    assert "return (target / 2 if past.drawdown < -0.05 else target), state" in docs
    write_plugin(tmp_path, "half_in_drawdown.py", HALF_IN_DRAWDOWN)
    rule = load_strategy("strategies/half_in_drawdown.py:HalfInDrawdown", {}, [tmp_path])
    days, prices = business_days(4), np.array([100.0, 96.0, 90.0, 99.0])
    result = run_strategy(rule, one_split(days, prices, signals(prices, [1, 1, 1])), days, prices)
    np.testing.assert_array_equal(result.equity["position"].to_numpy(), [1.0, 1.0, 0.5])
    np.testing.assert_allclose(result.equity["strategy_equity"].to_numpy(), [0.96, 0.90, 0.945], rtol=1e-12)
