"""Example plugin: fade forecasts that stretch far from the recent average (fractional sizes).

Use it from a config with:

    [strategy]
    name = "strategies/mean_reversion.py:MeanReversion"
    full_size_z = 2.0       # a forecast 2 standard deviations above the mean is a full short
"""

from __future__ import annotations

import numpy as np

from wfbt.strategy import History, Strategy


class MeanReversion(Strategy):
    """Short a forecast above the `lookback`-day mean, long one below, sized by its z-score."""

    lookback = 20
    full_size_z: float = 2.0

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        # Rows padded with NaN (not enough history) and flat windows (std 0) have no z-score:
        # they stay flat. Dividing only where it is defined keeps NaN and warnings out.
        mean = history.window.mean(axis=1)
        std = history.window.std(axis=1)
        defined = np.isfinite(mean) & (std > 0) & (self.full_size_z > 0)
        z = np.divide(forecast - mean, std * self.full_size_z, out=np.zeros_like(forecast), where=defined)
        return np.clip(-z, -1.0, 1.0)
