"""Evaluation statistics against numbers worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wfbt.evaluation import (
    describe,
    dir_acc,
    direction_scores,
    dm_against_baselines,
    dm_test,
    first_step,
    gaussian_z,
    hln_factor,
    interval_coverage,
    share_better,
    t_two_sided_p_value,
    up_confusion,
    up_scores,
)

NAN = np.nan

# Split 0, last = 10 everywhere:
#   actual   11   9  10  12   8  13    move: +  -  0  +  -  +
#   forecast 10.5 10.5 10 9   7   9    call: +  +  0  -  -  -
#   hit       y   n   y   n   y   n   -> dir_acc 3/6 = 0.5
#   up: actual up {0, 3, 5}, predicted up {0, 1} -> tp 1 (0), fp 1 (1), fn 2 (3, 5), tn 2 (2, 4)
#   precision 1/2, recall 1/3, f1 = 2*1 / (2*1 + 1 + 2) = 0.4  (= 2PR/(P+R) = (1/3)/(5/6))
# Split 1: the forecast never says up, the price rose twice (points 0 and 1), point 5 is NaN:
#   actual   11  12   9   9  10 NaN    move: +  +  -  -  0
#   forecast  9   9   9  10  10   9    call: -  -  -  0  0
#   hit       n   n   y   n   y       -> dir_acc 2/5 = 0.4
#   tp 0, fp 0, fn 2, tn 3 -> precision 0/0 = NaN, recall 0/2 = 0, f1 0/(0+0+2) = 0
# Split 2: a failed split, all NaN forecasts -> everything NaN.
# Split 3: nothing went up and nothing was called up -> precision, recall, f1 all 0/0 = NaN;
#   actual 9 9 9 10 10 10, forecast 9 9 10 10 9 8
#   (actual, call): (-,-) (-,-) (-,0)x (0,0) (0,-)x (0,-)x -> dir_acc 3/6
LAST = np.full((4, 6), 10.0)
ACTUAL = np.array(
    [
        [11, 9, 10, 12, 8, 13],
        [11, 12, 9, 9, 10, NAN],
        [11, 9, 10, 12, 8, 13],
        [9, 9, 9, 10, 10, 10],
    ],
    dtype=np.float64,
)
FORECAST = np.array(
    [
        [10.5, 10.5, 10, 9, 7, 9],
        [9, 9, 9, 10, 10, 9],
        [NAN] * 6,
        [9, 9, 10, 10, 9, 8],
    ]
)


def test_dir_acc_by_hand():
    np.testing.assert_allclose(dir_acc(ACTUAL, FORECAST, LAST), [0.5, 0.4, NAN, 0.5])


def test_up_confusion_by_hand():
    counts = up_confusion(ACTUAL, FORECAST, LAST)
    np.testing.assert_array_equal(counts["tp"], [1, 0, 0, 0])
    np.testing.assert_array_equal(counts["fp"], [1, 0, 0, 0])
    np.testing.assert_array_equal(counts["fn"], [2, 2, 0, 0])
    np.testing.assert_array_equal(counts["tn"], [2, 3, 0, 6])


def test_up_scores_by_hand_with_undefined_cases():
    scores = up_scores(ACTUAL, FORECAST, LAST)
    np.testing.assert_allclose(scores["precision"], [1 / 2, NAN, NAN, NAN])
    np.testing.assert_allclose(scores["recall"], [1 / 3, 0.0, NAN, NAN])
    np.testing.assert_allclose(scores["f1"], [0.4, 0.0, NAN, NAN])


def test_pooled_direction_scores_by_hand():
    # valid points: 6 + 5 + 0 + 6 = 17; hits 3 + 2 + 3 = 8 -> 8/17
    # tp 1, fp 1, fn 4, -> precision 1/2, recall 1/5, f1 2 / (2 + 1 + 4) = 2/7
    pooled = direction_scores(ACTUAL, FORECAST, LAST, pooled=True)
    expected = {"dir_acc": 8 / 17, "precision": 0.5, "recall": 0.2, "f1": 2 / 7}
    assert pooled == pytest.approx(expected)
    per_split = direction_scores(ACTUAL, FORECAST, LAST)
    np.testing.assert_allclose(per_split["f1"], [0.4, 0.0, NAN, NAN])


# Diebold-Mariano, h = 1, by hand:
#   actual   1    2    3    4
#   model    1.5  2    2    4.5   errors -0.5 0  1 -0.5   squared 0.25 0 1 0.25
#   baseline 0    2    4    5     errors  1   0 -1 -1     squared 1    0 1 1
#   d = [-0.75, 0, 0, -0.75], mean -0.375, centred [-0.375, 0.375, 0.375, -0.375]
#   gamma_0 = 4 * 0.140625 / 4 = 0.140625; sqrt(gamma_0 / n) = sqrt(0.03515625) = 0.1875
#   DM = -0.375 / 0.1875 = -2; HLN = sqrt((4 + 1 - 2) / 4) = sqrt(3) / 2 -> statistic -sqrt(3)
#   Student t, 3 df: F(t) = 1/2 + (t / (sqrt(3) (1 + t^2/3)) + arctan(t / sqrt(3))) / pi
#   at t = sqrt(3): 1/2 + (1/2 + pi/4) / pi = 3/4 + 1/(2 pi); p = 2 (1 - F) = 1/2 - 1/pi
DM_ACTUAL = np.array([1.0, 2.0, 3.0, 4.0])
DM_MODEL = np.array([1.5, 2.0, 2.0, 4.5])
DM_BASELINE = np.array([0.0, 2.0, 4.0, 5.0])


def test_dm_test_by_hand_one_step():
    result = dm_test(DM_ACTUAL, DM_MODEL, DM_BASELINE)
    assert result["n"] == 4
    assert result["statistic"] == pytest.approx(-math.sqrt(3))
    assert result["p_value"] == pytest.approx(0.5 - 1 / math.pi)


def test_dm_test_by_hand_two_steps():
    # gamma_1 = (c2 c1 + c3 c2 + c4 c3) / n = (-0.140625 + 0.140625 - 0.140625) / 4 = -0.03515625
    # long-run variance = 0.140625 + 2 (-0.03515625) = 0.0703125; sqrt(0.0703125 / 4) = 0.1325825
    # DM = -0.375 / 0.1325825 = -2 sqrt(2); HLN = sqrt((4 + 1 - 4 + 2/4) / 4) = sqrt(3/8)
    # statistic = -2 sqrt(2) sqrt(3/8) = -sqrt(3) again, so the same p-value as above
    result = dm_test(DM_ACTUAL, DM_MODEL, DM_BASELINE, horizon=2)
    assert hln_factor(4, 2) == pytest.approx(math.sqrt(3 / 8))
    assert result["statistic"] == pytest.approx(-math.sqrt(3))
    assert result["p_value"] == pytest.approx(0.5 - 1 / math.pi)


def t_two_sided_p(statistic, df):
    """Two-sided Student-t p-value by integrating the density numerically (no scipy)."""
    norm = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    grid = np.linspace(0.0, abs(statistic), 200_001)
    density = norm * (1 + grid**2 / df) ** (-(df + 1) / 2)
    return 1 - 2 * np.trapezoid(density, grid)


def dm_direct(actual, model, baseline, horizon):
    """The textbook formula written out with loops, to cross-check the vectorised version."""
    d = [(a - m) ** 2 - (a - b) ** 2 for a, m, b in zip(actual, model, baseline)]
    n = len(d)
    d_bar = sum(d) / n
    gamma = [
        sum((d[t] - d_bar) * (d[t - k] - d_bar) for t in range(k, n)) / n for k in range(horizon)
    ]
    variance = gamma[0] + 2 * sum(gamma[1:])
    dm = d_bar / math.sqrt(variance / n)
    return dm * math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)


@pytest.mark.parametrize("horizon", [1, 3])
def test_dm_test_matches_direct_formula(horizon):
    rng = np.random.default_rng(3)
    actual = rng.standard_normal(40)
    model = actual + 0.8 * rng.standard_normal(40)
    baseline = actual + 1.0 * rng.standard_normal(40)
    result = dm_test(actual, model, baseline, horizon=horizon)
    expected = dm_direct(actual, model, baseline, horizon)
    assert result["statistic"] == pytest.approx(expected, rel=1e-12)
    assert result["p_value"] == pytest.approx(t_two_sided_p(expected, 39), abs=1e-8)


def test_dm_test_sign_says_which_forecast_is_better():
    rng = np.random.default_rng(4)
    actual = rng.standard_normal(500)
    good = actual + 0.1 * rng.standard_normal(500)
    bad = actual + 1.0 * rng.standard_normal(500)
    assert dm_test(actual, good, bad)["statistic"] < 0
    assert dm_test(actual, bad, good)["statistic"] > 0
    assert dm_test(actual, good, bad)["p_value"] < 1e-6


def test_dm_test_degenerate_cases_are_nan():
    actual = np.array([0.0, 0.0, 0.0])
    # identical forecasts: d = 0 everywhere
    same = dm_test(actual, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    # constant differential: model errors 1, baseline errors 0 -> d = [1, 1, 1]
    constant = dm_test(actual, np.array([1.0, -1.0, 1.0]), np.zeros(3))
    # one point after dropping NaN
    single = dm_test(np.array([1.0, NAN]), np.array([0.0, 0.0]), np.array([2.0, 0.0]))
    for result in (same, constant, single):
        assert math.isnan(result["statistic"]) and math.isnan(result["p_value"])
    assert single["n"] == 1
    with pytest.raises(ValueError, match="horizon"):
        dm_test(actual, actual, actual, horizon=0)


def test_dm_drops_nan_points_and_runs_against_each_baseline():
    actual = np.append(DM_ACTUAL, 7.0)
    model = np.append(DM_MODEL, NAN)  # a failed split's date
    results = dm_against_baselines(actual, model, {"naive": np.append(DM_BASELINE, 0.0)})
    assert results["naive"]["n"] == 4
    assert results["naive"]["statistic"] == pytest.approx(-math.sqrt(3))


def test_first_step_is_each_splits_first_validation_point():
    np.testing.assert_array_equal(first_step(np.array([[1, 2, 3], [4, 5, 6]])), [1, 4])


def test_gaussian_z_by_hand():
    assert gaussian_z(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert gaussian_z(0.8) == pytest.approx(1.281552, abs=1e-6)
    with pytest.raises(ValueError):
        gaussian_z(1.0)


def test_interval_coverage_by_hand():
    # mean 0, variance 4 (std 2): 80% half-width 2 * 1.2816 = 2.563, 95% half-width 3.920
    # |actual| = 0, 2, 3, 5, 3.919928 (exactly 2 * z95: bounds count as inside), NaN (left out)
    z95 = gaussian_z(0.95)
    actual = np.array([0.0, -2.0, 3.0, 5.0, 2 * z95, NAN])
    coverage = interval_coverage(actual, np.zeros(6), np.full(6, 4.0))
    # 80%: {0, 2} -> 2/5; 95%: {0, 2, 3, 2 z95} -> 4/5
    assert coverage == pytest.approx({0.8: 0.4, 0.95: 0.8})


def test_interval_coverage_per_split():
    actual = np.array([[0.0, 3.0], [5.0, 5.0]])
    coverage = interval_coverage(actual, np.zeros((2, 2)), np.ones((2, 2)), levels=(0.95,), axis=-1)
    np.testing.assert_allclose(coverage[0.95], [0.5, 0.0])


def test_interval_coverage_is_nominal_for_a_calibrated_gaussian():
    rng = np.random.default_rng(5)
    mean = rng.uniform(-1, 1, 20_000)
    variance = rng.uniform(0.1, 2.0, 20_000)  # heteroscedastic, as a variance head would give
    actual = mean + np.sqrt(variance) * rng.standard_normal(20_000)
    coverage = interval_coverage(actual, mean, variance, levels=(0.5, 0.8, 0.95))
    for level, share in coverage.items():
        assert abs(share - level) < 0.01, (level, share)
    # a model that claims half the true spread is overconfident and covers far less
    narrow = interval_coverage(actual, mean, variance / 4, levels=(0.95,))
    assert narrow[0.95] < 0.75


def test_describe_by_hand_like_pandas():
    # values 1 2 3 4 (NaN ignored): mean 2.5; std sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3) = sqrt(5/3)
    # quantiles at positions 0.75, 1.5, 2.25 of the sorted values: 1.75, 2.5, 3.25
    got = describe(np.array([4.0, 1.0, NAN, 3.0, 2.0]))
    assert got == pytest.approx(
        {"count": 4, "mean": 2.5, "std": math.sqrt(5 / 3), "min": 1.0,
         "25%": 1.75, "50%": 2.5, "75%": 3.25, "max": 4.0}
    )


def test_describe_edge_cases():
    single = describe(np.array([2.0]))
    assert single["count"] == 1 and single["mean"] == 2.0 and math.isnan(single["std"])
    empty = describe(np.array([NAN, NAN]))
    assert empty["count"] == 0
    assert all(math.isnan(value) for key, value in empty.items() if key != "count")


def test_share_better_by_hand():
    # pairs (1, 2) better, (2, 2) a tie is not better, (3, 1) worse, (NaN, 5) left out -> 1/3
    model = np.array([1.0, 2.0, 3.0, NAN])
    base = np.array([2.0, 2.0, 1.0, 5.0])
    assert share_better(model, base) == pytest.approx(1 / 3)
    assert math.isnan(share_better(np.array([NAN]), np.array([1.0])))


@pytest.mark.parametrize("statistic", [0.0, 0.3, 1.0, 2.5, 8.0, 40.0])
def test_t_p_value_matches_closed_forms(statistic):
    from wfbt.evaluation import t_two_sided_p_value

    # df = 1 is Cauchy, df = 2 has a closed form; far in the tail the p-value stays relative-exact
    assert t_two_sided_p_value(statistic, 1) == pytest.approx(1 - 2 / math.pi * math.atan(statistic), rel=1e-12)
    assert t_two_sided_p_value(statistic, 2) == pytest.approx(1 - statistic / math.sqrt(2 + statistic**2),
                                                              rel=1e-9, abs=1e-15)
    normal_tail = math.erfc(statistic / math.sqrt(2))  # df -> infinity
    assert t_two_sided_p_value(statistic, 1e8) == pytest.approx(normal_tail, rel=2e-5, abs=1e-300)


def test_dm_is_undefined_for_a_loss_differential_constant_up_to_rounding():
    y = np.linspace(0.1, 3.3, 30)  # d_t = -3 everywhere, but rounding gives several values
    out = dm_test(y, y + 1, y + 2)
    assert np.isnan(out["statistic"]) and np.isnan(out["p_value"]) and out["n"] == 30


def test_t_p_value_of_a_tiny_statistic_keeps_its_precision():
    # 2 P(T_10 > 1e-8) = 1 - 2e-8 * f(0), f the t density at 0: x = df / (df + t^2) rounds to 1
    density_at_0 = math.gamma(5.5) / (math.sqrt(10 * math.pi) * math.gamma(5.0))
    assert t_two_sided_p_value(1e-8, 10) == pytest.approx(1 - 2e-8 * density_at_0, rel=1e-15)
    assert t_two_sided_p_value(1e-8, 10) < 1.0


def test_pooled_r2_is_of_moves_not_of_price_levels():
    import polars as pl

    from wfbt.summary import pooled

    rng = np.random.default_rng(0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 1501)))
    last, actual = prices[:-1], prices[1:]

    def frame(forecast):
        return pl.DataFrame({"actual": actual, "forecast": forecast, "last": last})

    naive = pooled(frame(last))  # on levels its R^2 would be ~0.997
    assert abs(naive["r2_moves"]) < 0.01 and naive["points"] == 1500
    assert pooled(frame(actual))["r2_moves"] == 1.0


def test_dm_constant_up_to_rounding_at_a_high_price_level():
    y = 2e6 + np.linspace(0.0, 3.3, 30)  # the rounding of e^2 - e'^2 grows with the level
    out = dm_test(y, y + 0.01, y + 0.03)
    assert np.isnan(out["statistic"]) and np.isnan(out["p_value"])
    wobble = dm_test(y, y + 0.01 + 1e-4 * np.sin(np.arange(30)), y + 0.03)  # a real, small difference
    assert out["n"] == 30 and np.isfinite(wobble["statistic"])
