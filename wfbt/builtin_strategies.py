"""The built-in strategies: `long_short`, `long_only`, `threshold`, and two that depend on their
own path, `vol_target` and `stop_loss` (docs/strategies.md). Each is an ordinary `Strategy`
subclass, written exactly as a plugin would be.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from wfbt.errors import UserError
from wfbt.strategy import History, Past, Strategy

ZERO_VOLATILITY = 1e-12  # a realised volatility below this is zero (vol_target then takes max_leverage)


class LongShort(Strategy):
    """Long when the forecast is above the last price, short when below, flat when equal."""

    lookback = 1

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        return np.sign(forecast - history.last)


class LongOnly(Strategy):
    """Long when the forecast exceeds the last price by more than `threshold` (a fraction), else flat."""

    long_only = True
    lookback = 1
    threshold: float = 0.0

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        return np.where(forecast > history.last * (1.0 + self.threshold), 1.0, 0.0)


class Threshold(Strategy):
    """Long above, short below a dead band of `band_pct` percent around the last price, else flat."""

    lookback = 1
    band_pct: float = 0.5

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        band = self.band_pct / 100.0
        long = forecast > history.last * (1.0 + band)
        short = forecast < history.last * (1.0 - band)
        return np.where(long, 1.0, np.where(short, -1.0, 0.0))


class VolTarget(Strategy):
    """The forecast's direction, sized to `target_vol` a year over the asset's recent volatility."""

    lookback = 1
    target_vol: float = 0.10  # annualised, a fraction: 0.10 = 10 %
    window: int = 20  # past one-period asset returns the volatility is measured over
    max_leverage: float = 1.0  # at most 1: positions stay within [-1, 1]

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        _require(self.target_vol > 0, "target_vol", "must be > 0 (a fraction a year: 0.10 = 10 %)", self.target_vol)
        _require(self.window >= 2, "window", "must be 2 or more (a volatility needs two returns)", self.window)
        _require(0 < self.max_leverage <= 1, "max_leverage", "must be in (0, 1]: positions stay within [-1, 1]",
                 self.max_leverage)
        return np.sign(forecast - history.last)

    def on_day(self, target: float, past: Past, state: Any) -> tuple[float, Any]:
        # flat until `window` past returns exist: a volatility from fewer would size on noise
        if past.prices.size <= self.window:
            return 0.0, state
        recent = past.prices[-(self.window + 1):]
        volatility = float(np.std(recent[1:] / recent[:-1] - 1.0, ddof=1)) * math.sqrt(past.periods_per_year)
        if volatility < ZERO_VOLATILITY:  # prices that never moved: no risk measured, full size
            return target * self.max_leverage, state
        return target * min(self.max_leverage, self.target_vol / volatility), state


class StopState(NamedTuple):
    """What `StopLoss` carries from day to day."""

    peak: float  # the highest equity since the strategy (re-)entered, 1.0 at the start
    stopped_on: float | None  # the signal in force when the stop fired; None while trading


class StopLoss(Strategy):
    """The forecast's direction; flat after a `max_drawdown_pct` % fall from the peak, until the signal changes."""

    lookback = 1
    max_drawdown_pct: float = 10.0

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        _require(self.max_drawdown_pct > 0, "max_drawdown_pct", "must be > 0 (percent)", self.max_drawdown_pct)
        return np.sign(forecast - history.last)

    def initial_state(self) -> StopState:
        return StopState(peak=1.0, stopped_on=None)

    def on_day(self, target: float, past: Past, state: StopState) -> tuple[float, StopState]:
        equity = past.current_equity
        if state.stopped_on is not None:
            if target == state.stopped_on:  # the signal that lost is still the signal: stay out
                return 0.0, state
            return target, StopState(peak=equity, stopped_on=None)  # a new signal: re-enter, peak from here
        peak = max(state.peak, equity)
        if equity / peak - 1.0 < -self.max_drawdown_pct / 100.0:
            return 0.0, StopState(peak, stopped_on=target)
        return target, StopState(peak, stopped_on=None)


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    """A built-in's check of its own parameter, worded like the config's errors."""
    if not ok:
        raise UserError(f"[strategy] {key}: {rule}, got {value!r}")


BUILTINS: dict[str, type[Strategy]] = {
    "long_short": LongShort,
    "long_only": LongOnly,
    "threshold": Threshold,
    "vol_target": VolTarget,
    "stop_loss": StopLoss,
}
