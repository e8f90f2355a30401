import pytest

from wfbt.config import SplitsConfig
from wfbt.errors import UserError
from wfbt.splits import split_plan


def test_rolling_plan_by_hand():
    plan = split_plan(10, SplitsConfig(mode="rolling", train=4, val=2, step=2))
    # (10 - 4 - 2) // 2 + 1 = 3 splits; half-open (train_start, train_stop, val_start, val_stop)
    assert plan.rows() == [(0, 4, 4, 6), (2, 6, 6, 8), (4, 8, 8, 10)]


def test_expanding_plan_by_hand():
    plan = split_plan(10, SplitsConfig(mode="expanding", train=4, val=2, step=2))
    assert plan.rows() == [(0, 4, 4, 6), (0, 6, 6, 8), (0, 8, 8, 10)]


def test_gap_is_skipped_between_windows():
    plan = split_plan(10, SplitsConfig(mode="rolling", train=4, val=2, step=1, gap=2))
    # span 8 -> 3 splits; validation starts 2 points after training stops
    assert plan.rows() == [(0, 4, 6, 8), (1, 5, 7, 9), (2, 6, 8, 10)]


def test_max_splits_cuts_the_plan():
    plan = split_plan(100, SplitsConfig(train=4, val=2, step=1, max_splits=5))
    assert len(plan) == 5 and plan.rows()[-1] == (4, 8, 8, 10)


def test_reference_experiment_has_988_splits():
    assert len(split_plan(1197, SplitsConfig(train=200, val=10, step=1))) == 988


def test_refit_every_points_at_the_last_trained_split():
    plan = split_plan(20, SplitsConfig(train=4, val=2, step=1, refit_every=3))
    assert plan.refit_from.tolist()[:7] == [0, 0, 0, 3, 3, 3, 6]


def test_too_few_rows():
    with pytest.raises(UserError, match="needs 6 rows"):
        split_plan(5, SplitsConfig(train=4, val=2))
