import numpy as np

from wfbt.metrics import price_metrics, regression_metrics


def test_regression_metrics_by_hand():
    y = np.array([[1.0, 2.0, 3.0, 4.0]])
    yhat = np.array([[1.0, 2.0, 4.0, 3.0]])
    m = regression_metrics(y, yhat)
    # errors 0, 0, -1, 1: mse 0.5, mae 0.5; SS_tot/n = 1.25 -> r2 = 1 - 0.5/1.25 = 0.6
    # error mean 0, error variance 0.5 -> ev = 0.6 too
    assert np.isclose(m["mse"][0], 0.5) and np.isclose(m["rmse"][0], np.sqrt(0.5))
    assert np.isclose(m["mae"][0], 0.5) and np.isclose(m["r2"][0], 0.6) and np.isclose(m["ev"][0], 0.6)


def test_explained_variance_ignores_a_constant_bias():
    y = np.array([[1.0, 2.0, 3.0]])
    m = regression_metrics(y, y + 1.0)
    # mse 1, SS_tot/n = 2/3 -> r2 = 1 - 1.5 = -0.5; errors constant -> ev = 1
    assert np.isclose(m["r2"][0], -0.5) and np.isclose(m["ev"][0], 1.0)


def test_weights_mask_padding():
    y = np.array([[1.0, 2.0, 3.0, 100.0]])
    yhat = np.array([[1.0, 2.0, 4.0, -100.0]])
    m = regression_metrics(y, yhat, np.array([[1, 1, 1, 0]]))
    assert np.isclose(m["mse"][0], 1 / 3) and np.isclose(m["mae"][0], 1 / 3)


def test_price_metrics_by_hand():
    m = price_metrics(np.array([[100.0, 200.0]]), np.array([[110.0, 190.0]]))
    # errors -10, 10: mse 100, rmse 10, mae 10, mape = (10% + 5%) / 2 = 7.5
    assert np.isclose(m["mse_price"][0], 100) and np.isclose(m["rmse_price"][0], 10)
    assert np.isclose(m["mae_price"][0], 10) and np.isclose(m["mape"][0], 7.5)


def test_r2_and_ev_of_a_constant_target_follow_scikit_learn():
    y = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    yhat = np.array([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])  # wrong, perfect, biased
    out = regression_metrics(y, yhat)
    np.testing.assert_array_equal(out["r2"], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(out["ev"], [0.0, 1.0, 1.0])  # a constant error has no variance
