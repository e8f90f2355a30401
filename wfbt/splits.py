"""The split plan: immutable index ranges, computed once, printable, the contract tests pin.

Split `s` trains on `[train_start, train_stop)` and validates on `[val_start, val_stop)`, all
half-open row indices into the loaded series. Rolling windows keep their size; expanding windows
keep their start at 0. `gap` rows (an embargo) lie between the two windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def split_plan(n_rows: int, config: SplitsConfig) -> SplitPlan:
    """All splits that fit in `n_rows` observations (cut to `max_splits` if set)."""
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
