"""Example plugin: trade the forecast's direction only when the recent trend agrees.

Use it from a config with:

    [strategy]
    name = "strategies/momentum_filter.py:MomentumFilter"
    min_move_pct = 0.2      # ignore forecasts within 0.2 % of the last price
"""

from __future__ import annotations

import numpy as np

from wfbt.strategy import History, Strategy


class MomentumFilter(Strategy):
    """Long/short on the forecast's direction, but only when the last `lookback` prices trend the same way."""

    lookback = 20
    min_move_pct: float = 0.0

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        # The trend compares the last price with the oldest in the window. Without enough
        # history the window starts with NaN: every comparison is then False, so it stays flat.
        move = self.min_move_pct / 100.0
        trend = history.last - history.window[:, 0]
        up = (forecast > history.last * (1.0 + move)) & (trend > 0)
        down = (forecast < history.last * (1.0 - move)) & (trend < 0)
        return np.where(up, 1.0, np.where(down, -1.0, 0.0))
