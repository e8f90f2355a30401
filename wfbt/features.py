"""Model inputs for a batch of splits: scaled lookback windows, built by index arithmetic.

Each split gets its own scaler, fit on its training window only. Without features the input is
the target's own window, (S, N, L); with `inputs` (the `[[features]]` columns, rows x F) it is
(S, N, L, F), each column scaled by a scaler of its own (per split, fit on the training window),
while the targets keep the target's scaler, so forecasts invert to price units as before. Training samples are built
inside the training window; a validation target's inputs are the `lookback` observations just
before it (the past: they may reach back into the training window, never to the target or later).
Arrays are padded to a common shape across splits so that one compiled program serves them all;
`n_train` / `train_len` say how much of each row is real.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from wfbt import scaling
from wfbt.splits import SplitPlan


@dataclass(frozen=True)
class WindowArrays:
    split: np.ndarray  # (S,) split indices
    train_series: np.ndarray  # (S, W) scaled training window, zero beyond train_len
    train_len: np.ndarray  # (S,)
    x_train: np.ndarray  # (S, N, L) float32, or (S, N, L, F) with features
    y_train: np.ndarray  # (S, N) float32; (S, N, h) with horizon h > 1: the h points after each input
    n_train: np.ndarray  # (S,) real training samples = train_len - lookback - horizon + 1
    x_val: np.ndarray  # (S, V, L) or (S, V, L, F) float32
    # (S, V) float32; (S, V, h) with h > 1: row i targets validation points i .. i+h-1, and a
    # target past the validation window is 0 (masked out by `horizon_mask`, never read)
    y_val: np.ndarray
    scaler: scaling.ScalerParams
    # the points right after the validation window, up to the next split's: no model-selection
    # step of this split ever saw them, so their forecasts are honest out-of-sample ones (P&L)
    x_test: np.ndarray  # (S, P, L) or (S, P, L, F) float32
    test_rows: np.ndarray  # (S, P) row of each test target, (S, P, h) per step; >= len(values) when past the data
    # the scaled target observed just before each validation / test target (the naive forecast);
    # without features it is the last input of each window
    last_val: np.ndarray  # (S, V) float32
    last_test: np.ndarray  # (S, P) float32

    def __len__(self) -> int:
        return len(self.split)

    @staticmethod
    def concatenate(parts: list[WindowArrays]) -> WindowArrays:
        """The windows of several batches of splits, one after the other (same shapes)."""
        scaler = scaling.ScalerParams(np.concatenate([p.scaler.offset for p in parts]),
                                      np.concatenate([p.scaler.scale for p in parts]))
        arrays = {f.name: np.concatenate([getattr(p, f.name) for p in parts])
                  for f in dataclasses.fields(WindowArrays) if f.name != "scaler"}
        return WindowArrays(**arrays, scaler=scaler)

    def take(self, index: np.ndarray) -> WindowArrays:
        """The windows of the splits at `index` (positions along the leading axis)."""
        scaler = scaling.ScalerParams(self.scaler.offset[index], self.scaler.scale[index])
        arrays = {f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self) if f.name != "scaler"}
        return WindowArrays(**arrays, scaler=scaler)


def build_windows(
    values: np.ndarray,
    plan: SplitPlan,
    splits: np.ndarray,
    lookback: int,
    method: str,
    window_len: int | None = None,
    test_len: int = 1,
    inputs: np.ndarray | None = None,
    horizon: int = 1,
) -> WindowArrays:
    """Windows for `splits` of `plan` over the price `values` (1-D, float64).

    `inputs` (rows, F), aligned with `values`: the model's input columns (`[[features]]`); None:
    the target's own window is the input.

    A split that reuses an earlier split's model (`refit_every > 1`) gets that model's training
    window and scaler, and its own validation window. `window_len` pads the training window to
    a fixed length (the longest in a chunk by default). `test_len` is how many points after the
    validation window each split forecasts for the P&L (the split step, so they tile the dates).
    `horizon` h > 1: each input window is followed by h targets (a training sample is lookback + h
    consecutive points of the training window), and `y_train`, `y_val`, `test_rows` get a last
    axis of h; h = 1 keeps them (S, N), (S, V), (S, P).
    """
    splits = np.asarray(splits, dtype=np.int64)
    fit_split = plan.refit_from[splits]
    train_start, train_len = plan.train_start[fit_split], plan.train_len[fit_split]
    width = int(window_len if window_len is not None else train_len.max())
    positions = np.arange(width)
    in_window = positions[None, :] < train_len[:, None]
    raw_window = values[np.minimum(train_start[:, None] + positions, len(values) - 1)]
    scaler = scaling.fit(method, raw_window, in_window)
    train_series = np.where(in_window, scaling.apply(scaler, raw_window), 0.0)

    n_train = train_len - lookback - horizon + 1
    samples = np.arange(width - lookback - horizon + 1)
    sample_rows = train_start[:, None, None] + samples[None, :, None] + np.arange(lookback + horizon)
    train_windows = scaling.apply(scaler, values[np.minimum(sample_rows, len(values) - 1)])
    train_windows = np.where((samples[None, :] < n_train[:, None])[..., None], train_windows, 0.0)

    val_len = int((plan.val_stop - plan.val_start)[0])
    val_rows = (plan.val_start[splits][:, None, None] + np.arange(val_len)[None, :, None]
                - lookback + np.arange(lookback + 1))
    val_windows = scaling.apply(scaler, values[val_rows])
    test_rows = plan.val_stop[splits][:, None] + np.arange(test_len)
    y_val = val_windows[..., lookback]
    if horizon > 1:  # step k of validation row i targets point i + k - 1: read it only inside the window
        ahead = np.arange(val_len)[:, None] + np.arange(horizon)
        target_rows = plan.val_start[splits][:, None, None] + np.minimum(ahead, val_len - 1)
        y_val = np.where(horizon_mask(val_len, horizon), scaling.apply(scaler, values[target_rows]), 0.0)
    input_rows = test_rows[..., None] - lookback + np.arange(lookback)
    x_test = scaling.apply(scaler, values[np.minimum(input_rows, len(values) - 1)])
    x_train, x_val = train_windows[..., :lookback], val_windows[..., :lookback]
    last_val, last_test = x_val[..., -1], x_test[..., -1]
    if inputs is not None:
        last_val = scaling.apply(scaler, values[val_rows[..., lookback - 1]])
        last_test = scaling.apply(scaler, values[np.minimum(input_rows[..., -1], len(values) - 1)])
        columns = fit_input_scalers(method, inputs, train_start, train_len, width)
        x_train = scaling.apply_columns(columns, inputs[np.minimum(sample_rows[..., :lookback], len(values) - 1)])
        x_train = np.where((samples[None, :] < n_train[:, None])[..., None, None], x_train, 0.0)
        x_val = scaling.apply_columns(columns, inputs[val_rows[..., :lookback]])
        x_test = scaling.apply_columns(columns, inputs[np.minimum(input_rows, len(values) - 1)])

    f32 = np.float32
    return WindowArrays(
        split=splits,
        train_series=train_series.astype(f32),
        train_len=train_len,
        x_train=x_train.astype(f32),
        y_train=(train_windows[..., lookback] if horizon == 1 else train_windows[..., lookback:]).astype(f32),
        n_train=n_train,
        x_val=x_val.astype(f32),
        y_val=y_val.astype(f32),
        scaler=scaler,
        x_test=x_test.astype(f32),
        test_rows=test_rows if horizon == 1 else test_rows[..., None] + np.arange(horizon),
        last_val=last_val.astype(f32),
        last_test=last_test.astype(f32),
    )


def fit_input_scalers(method: str, inputs: np.ndarray, train_start: np.ndarray, train_len: np.ndarray,
                      width: int) -> scaling.ScalerParams:
    """Each split's per-column scalers of the input features (S, F), fit on its training window
    `[train_start, train_start + train_len)` padded to `width` (the same arrays `build_windows`
    fits on, so a saved model's scalers equal the ones it trained with bit for bit)."""
    positions = np.arange(width)
    in_window = positions[None, :] < train_len[:, None]
    rows = np.minimum(train_start[:, None] + positions, len(inputs) - 1)
    return scaling.fit_columns(method, inputs[rows], in_window)


def horizon_mask(val_len: int, horizon: int) -> np.ndarray:
    """(V, h) bool: step k of validation row i targets point i + k - 1, inside the window or not.

    >>> horizon_mask(3, 2).astype(int).tolist()
    [[1, 1], [1, 1], [1, 0]]
    """
    return np.arange(val_len)[:, None] + np.arange(horizon)[None, :] < val_len


def next_point_windows(values: np.ndarray, train_start: np.ndarray, train_stop: np.ndarray, lookback: int,
                       method: str, n_val: int, window_len: int | None = None, test_len: int = 1,
                       inputs: np.ndarray | None = None, horizon: int = 1) -> WindowArrays:
    """Windows that train on `[train_start, train_stop)` and forecast the point after the data
    (the `horizon` points after it).

    Validation row 0 of each window is that forecast: its inputs are the last `lookback`
    observations. The data has no target for it, so the series is padded with placeholders
    (the last value) that only ever appear as validation targets, never in training or scaling.
    `window_len` and `test_len` give the arrays the walk-forward shapes, so its program serves.
    """
    n = len(values)
    count = len(train_start)
    plan = SplitPlan(np.asarray(train_start), np.asarray(train_stop), np.full(count, n), np.full(count, n + n_val),
                     np.arange(count))
    padded = np.concatenate([values, np.full(n_val, values[-1])])
    if inputs is not None:  # the same placeholders: inputs of validation rows after the first only
        inputs = np.concatenate([inputs, np.repeat(inputs[-1:], n_val, axis=0)])
    return build_windows(padded, plan, np.arange(count), lookback, method, window_len, test_len, inputs, horizon)
