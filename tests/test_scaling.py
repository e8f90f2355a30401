import numpy as np

from wfbt import scaling
from wfbt.features import build_windows
from wfbt.splits import split_plan
from wfbt.config import SplitsConfig


def test_minmax_and_zscore_by_hand():
    values = np.array([[1.0, 3.0, 5.0, 99.0]])
    mask = np.array([[True, True, True, False]])  # the 99 lies outside the window
    mm = scaling.fit("minmax", values, mask)
    assert mm.offset[0] == 1.0 and mm.scale[0] == 4.0
    np.testing.assert_allclose(scaling.apply(mm, values[:, :3]), [[0.0, 0.5, 1.0]])
    z = scaling.fit("zscore", values, mask)
    # mean 3, population std sqrt((4 + 0 + 4) / 3)
    assert z.offset[0] == 3.0 and np.isclose(z.scale[0], np.sqrt(8 / 3))
    none = scaling.fit("none", values, mask)
    assert none.offset[0] == 0.0 and none.scale[0] == 1.0
    np.testing.assert_allclose(scaling.invert(mm, scaling.apply(mm, values)), values)


def test_flat_window_scales_by_one():
    params = scaling.fit("minmax", np.full((1, 3), 7.0), np.ones((1, 3), bool))
    assert params.scale[0] == 1.0


def test_windows_use_only_the_training_window_for_scaling():
    values = np.arange(30, dtype=float) ** 1.5
    plan = split_plan(30, SplitsConfig(train=10, val=3, step=5))
    before = build_windows(values, plan, np.arange(len(plan)), 4, "minmax")
    future = values.copy()
    future[10:] *= 50  # split 0's validation window and everything after it
    after = build_windows(future, plan, np.array([0]), 4, "minmax")
    assert after.scaler.offset[0] == before.scaler.offset[0] and after.scaler.scale[0] == before.scaler.scale[0]
    np.testing.assert_array_equal(after.x_train[0], before.x_train[0])


def test_window_layout_by_hand():
    values = np.arange(12, dtype=float)
    plan = split_plan(12, SplitsConfig(train=6, val=2, step=1, gap=1))
    w = build_windows(values, plan, np.array([0]), 3, "none")
    # training samples: targets 3, 4, 5 with the 3 points before each
    np.testing.assert_array_equal(w.x_train[0], [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(w.y_train[0], [3, 4, 5])
    # validation starts after the gap (row 6 skipped): targets 7, 8; inputs are the past
    np.testing.assert_array_equal(w.y_val[0], [7, 8])
    np.testing.assert_array_equal(w.x_val[0], [[4, 5, 6], [5, 6, 7]])
    assert w.n_train[0] == 3
