"""The split plan: immutable index ranges, computed once, printable, the contract tests pin.

Split `s` trains on `[train_start, train_stop)` and validates on `[val_start, val_stop)`, all
half-open row indices into the loaded series. Rolling windows keep their size; expanding windows
keep their start at 0. `gap` rows (an embargo) lie between the two windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from wfbt.config import SplitsConfig
from wfbt.errors import UserError


@dataclass(frozen=True)
class SplitPlan:
    train_start: np.ndarray
    train_stop: np.ndarray
    val_start: np.ndarray
    val_stop: np.ndarray
    refit_from: np.ndarray  # the split whose trained model forecasts this one (itself unless refit_every > 1)

    def __len__(self) -> int:
        return len(self.train_start)

    @property
    def train_len(self) -> np.ndarray:
        return self.train_stop - self.train_start

    def rows(self) -> list[tuple[int, int, int, int]]:
        """(train_start, train_stop, val_start, val_stop) per split, for printing and tests."""
        return list(zip(*(a.tolist() for a in (self.train_start, self.train_stop, self.val_start, self.val_stop))))

    def to_frame(self, dates: np.ndarray | None = None) -> pl.DataFrame:
        """The fold table before anything trains: one row per split, half-open row ranges and the
        split whose model forecasts it; with the series' `dates`, also the first and last date of
        each window (both inclusive, as splits.csv has them).

        >>> split_plan(16, SplitsConfig(train=10, val=2, step=2)).to_frame()
        shape: (3, 6)
        ┌───────┬─────────────┬────────────┬───────────┬──────────┬────────────┐
        │ split ┆ train_start ┆ train_stop ┆ val_start ┆ val_stop ┆ refit_from │
        │ ---   ┆ ---         ┆ ---        ┆ ---       ┆ ---      ┆ ---        │
        │ i64   ┆ i64         ┆ i64        ┆ i64       ┆ i64      ┆ i64        │
        ╞═══════╪═════════════╪════════════╪═══════════╪══════════╪════════════╡
        │ 0     ┆ 0           ┆ 10         ┆ 10        ┆ 12       ┆ 0          │
        │ 1     ┆ 2           ┆ 12         ┆ 12        ┆ 14       ┆ 1          │
        │ 2     ┆ 4           ┆ 14         ┆ 14        ┆ 16       ┆ 2          │
        └───────┴─────────────┴────────────┴───────────┴──────────┴────────────┘
        """
        frame = pl.DataFrame({"split": np.arange(len(self), dtype=np.int64), "train_start": self.train_start,
                              "train_stop": self.train_stop, "val_start": self.val_start,
                              "val_stop": self.val_stop, "refit_from": self.refit_from})
        if dates is None:
            return frame
        dates = np.asarray(dates)
        fit = self.refit_from
        return frame.with_columns(
            pl.Series("train_start_date", dates[self.train_start[fit]]),
            pl.Series("train_end_date", dates[self.train_stop[fit] - 1]),
            pl.Series("val_start_date", dates[self.val_start]),
            pl.Series("val_end_date", dates[self.val_stop - 1]),
        )


def split_plan(n_rows: int, config: SplitsConfig) -> SplitPlan:
    """All splits that fit in `n_rows` observations (cut to `max_splits` if set).

    >>> plan = split_plan(215, SplitsConfig(train=200, val=10))
    >>> len(plan), plan.rows()[0], plan.rows()[-1]
    (6, (0, 200, 200, 210), (5, 205, 205, 215))
    >>> split_plan(215, SplitsConfig(mode="expanding", train=200, val=10, step=5)).rows()
    [(0, 200, 200, 210), (0, 205, 205, 215)]
    """
    span = config.train + config.gap + config.val
    if n_rows < span:
        raise UserError(f"[splits]: one split needs {span} rows (train + gap + val); the data has {n_rows}.")
    count = (n_rows - span) // config.step + 1
    if config.max_splits is not None:
        count = min(count, config.max_splits)
    offset = np.arange(count, dtype=np.int64) * config.step
    if config.mode == "rolling":
        train_start = offset
        train_stop = offset + config.train
    else:  # expanding
        train_start = np.zeros(count, dtype=np.int64)
        train_stop = config.train + offset
    val_start = train_stop + config.gap
    val_stop = val_start + config.val
    refit_from = (np.arange(count) // config.refit_every) * config.refit_every
    return SplitPlan(train_start, train_stop, val_start, val_stop, refit_from.astype(np.int64))
