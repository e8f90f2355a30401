"""Strategy plugins: parameters, history, position checks, built-ins, discovery, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from wfbt.builtin_strategies import BUILTINS, LongOnly, LongShort, Threshold
from wfbt.errors import UserError
from wfbt.strategy import (
    History,
    Strategy,
    build_history,
    compute_positions,
    parameter_values,
    strategy_parameters,
)
from wfbt.strategy_plugins import available_strategies, load_strategy

ROOT = Path(__file__).resolve().parents[1]


def history_of(last: list[float], lookback: int = 1) -> History:
    """A history whose last price is `last` (window filled with the same value)."""
    last_array = np.array(last, dtype=float)
    return History(last=last_array, window=np.repeat(last_array[:, None], lookback, axis=1))


# ---------------------------------------------------------------- built-ins


def test_long_short_is_the_sign_of_the_forecast_move():
    positions = compute_positions(LongShort(), np.array([11.0, 9.0, 10.0]), history_of([10, 10, 10]))
    np.testing.assert_array_equal(positions, [1.0, -1.0, 0.0])


def test_long_only_needs_the_forecast_to_beat_the_threshold():
    forecast, history = np.array([10.5, 10.05, 9.0, 10.0]), history_of([10, 10, 10, 10])
    np.testing.assert_array_equal(compute_positions(LongOnly(), forecast, history), [1, 1, 0, 0])
    strict = LongOnly(threshold=0.01)
    np.testing.assert_array_equal(compute_positions(strict, forecast, history), [1, 0, 0, 0])


def test_threshold_is_flat_inside_the_band():
    forecast, history = np.array([101.0, 100.4, 99.6, 99.0]), history_of([100, 100, 100, 100])
    np.testing.assert_array_equal(compute_positions(Threshold(), forecast, history), [1, 0, 0, -1])  # 0.5 %
    narrow = Threshold(band_pct=0.2)
    np.testing.assert_array_equal(compute_positions(narrow, forecast, history), [1, 1, -1, -1])


# ---------------------------------------------------------------- parameters


def test_parameters_have_types_and_defaults_and_instances_are_frozen():
    assert strategy_parameters(Threshold)["band_pct"].type is float
    assert strategy_parameters(LongShort) == {}
    rule = Threshold(band_pct=1)  # an int is a fine float
    assert rule.band_pct == 1.0 and isinstance(rule.band_pct, float)
    assert parameter_values(rule) == {"band_pct": 1.0}
    assert repr(rule) == "Threshold(band_pct=1.0)"
    with pytest.raises(AttributeError, match="frozen"):
        rule.band_pct = 2.0


def test_unknown_parameter_names_the_key_with_did_you_mean():
    with pytest.raises(UserError, match=r"\[strategy\] treshold: .*Did you mean 'threshold'\?.*'threshold'"):
        load_strategy("long_only", {"treshold": 0.1}, [ROOT])
    with pytest.raises(UserError, match="takes no parameters"):
        load_strategy("long_short", {"band_pct": 1.0}, [ROOT])


@pytest.mark.parametrize(
    ("value", "got"), [(True, "bool"), ("0.5", "str"), ([1.0], "list")]
)
def test_wrong_parameter_type_names_key_expected_and_got(value, got):
    with pytest.raises(UserError, match=rf"\[strategy\] band_pct: expected float, got {got}"):
        load_strategy("threshold", {"band_pct": value}, [ROOT])


def test_bool_is_not_an_int_and_float_is_not_an_int():
    class Windowed(Strategy):
        days: int = 5
        enabled: bool = True

        def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
            return np.zeros_like(forecast)

    assert Windowed(days=3, enabled=False).days == 3
    with pytest.raises(UserError, match=r"days: expected int, got bool"):
        Windowed(days=True)
    with pytest.raises(UserError, match=r"days: expected int, got float"):
        Windowed(days=3.0)
    with pytest.raises(UserError, match=r"enabled: expected bool, got int"):
        Windowed(enabled=1)


def test_bad_parameter_declarations_are_reported():
    class NoDefault(Strategy):
        size: float

    class OddType(Strategy):
        sizes: list = []

    class BadDefault(Strategy):
        size: int = 0.5

    with pytest.raises(UserError, match="parameter 'size' has no default"):
        NoDefault()
    with pytest.raises(UserError, match="parameter 'sizes': type .* not supported"):
        OddType()
    with pytest.raises(UserError, match=r"default 0.5 is not a int"):
        BadDefault()


# ---------------------------------------------------------------- history and position checks


def test_history_holds_only_prices_strictly_before_each_forecast_date():
    price_dates = np.arange(6)
    prices = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    history = build_history(np.array([1, 3, 5]), price_dates, prices, lookback=3)
    np.testing.assert_array_equal(history.last, [10.0, 12.0, 14.0])
    np.testing.assert_array_equal(history.window[1:], [[10.0, 11.0, 12.0], [12.0, 13.0, 14.0]])
    assert np.isnan(history.window[0, :2]).all() and history.window[0, 2] == 10.0  # NaN-padded
    assert not history.window.flags.writeable and not history.last.flags.writeable
    # Perturbing the price on a forecast date and after it changes nothing about that date's past.
    future = prices.copy()
    future[3:] *= 100
    perturbed = build_history(np.array([3]), price_dates, future, lookback=3)
    np.testing.assert_array_equal(perturbed.window, history.window[1:2])


def misbehaving(returned: object, long_only: bool = False) -> Strategy:
    class MyRule(Strategy):
        def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
            return returned

    MyRule.long_only = long_only
    return MyRule()


@pytest.mark.parametrize(
    ("returned", "long_only", "message"),
    [
        (np.zeros(3), False, r"strategy MyRule returned shape \(3,\) for 5 forecasts"),
        (0.0, False, r"strategy MyRule returned shape \(\) for 5 forecasts"),
        (np.array([0, 0, np.nan, 0, 0]), False, r"MyRule returned 1 NaN/inf positions \(first at row 2\)"),
        (np.array([0, 0, 0, np.inf, 0]), False, r"NaN/inf positions \(first at row 3\)"),
        (np.array([0, 1.5, 0, 0, 0]), False, r"outside \[-1, 1\]: 1.5 at row 1"),
        (np.array([0, 0, 0, 0, -1]), True, r"outside \[0, 1\] \(long_only = True\): -1 at row 4"),
        (["a"] * 5, False, r"strategy MyRule returned list, not an array of numbers"),
    ],
)
def test_bad_positions_are_clear_user_errors(returned, long_only, message):
    with pytest.raises(UserError, match=message):
        compute_positions(misbehaving(returned, long_only), np.ones(5), history_of([1.0] * 5))


def test_a_strategy_that_raises_or_writes_its_inputs_gets_a_user_error():
    class Scribbler(Strategy):
        def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
            history.window[:] = 0.0  # read-only: a strategy cannot tamper with the past
            return forecast

    with pytest.raises(UserError, match=r"strategy Scribbler.positions raised ValueError"):
        compute_positions(Scribbler(), np.ones(2), build_history([1, 2], [0, 1], [1.0, 2.0], 2))


# ---------------------------------------------------------------- discovery: files


def test_example_plugins_load_from_a_file_path_and_trade():
    rule = load_strategy("strategies/momentum_filter.py:MomentumFilter", {"min_move_pct": 1}, [ROOT])
    assert type(rule).__name__ == "MomentumFilter" and rule.min_move_pct == 1.0
    window = np.array([[10.0, 11.0, 12.0], [12.0, 11.0, 10.0], [10.0, 11.0, 12.0], [np.nan, np.nan, 10.0]])
    history = History(last=window[:, -1], window=window)
    positions = compute_positions(rule, np.array([13.0, 9.0, 11.0, 12.0]), history)
    np.testing.assert_array_equal(positions, [1, -1, 0, 0])  # up trend, down trend, too small, no history

    fader = load_strategy("strategies/mean_reversion.py:MeanReversion", {}, [ROOT])
    window = np.array([[9.0, 11.0], [9.0, 11.0], [10.0, 10.0], [np.nan, 10.0]])  # mean 10, std 1
    history = History(last=window[:, -1], window=window)
    positions = compute_positions(fader, np.array([11.0, 4.0, 12.0, 12.0]), history)
    np.testing.assert_allclose(positions, [-0.5, 1.0, 0.0, 0.0])  # z=+1 -> -1/2; z=-6 -> clipped


def write_plugin(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("import numpy as np\nfrom wfbt.strategy import History, Strategy\n\n" + body)
    return path


GOOD_RULE = '''
class MyRule(Strategy):
    """Always long, a fraction `size` of capital."""
    long_only = True
    size: float = 0.5

    def positions(self, forecast, history):
        return np.full(forecast.shape, self.size)
'''


def test_file_plugins_resolve_against_search_dirs_in_order(tmp_path):
    write_plugin(tmp_path / "config_dir" / "strategies", "my_rule.py", GOOD_RULE)
    write_plugin(tmp_path / "cwd" / "strategies", "my_rule.py", GOOD_RULE.replace("0.5", "0.25"))
    dirs = [tmp_path / "config_dir", tmp_path / "cwd"]
    assert load_strategy("strategies/my_rule.py:MyRule", {}, dirs).size == 0.5
    assert load_strategy("strategies/my_rule.py:MyRule", {}, dirs[::-1]).size == 0.25
    absolute = tmp_path / "cwd" / "strategies" / "my_rule.py"
    rule = load_strategy(f"{absolute}:MyRule", {"size": 1}, [])
    assert compute_positions(rule, np.ones(2), history_of([1.0, 1.0])).tolist() == [1.0, 1.0]


def test_file_plugin_mistakes_are_clear_user_errors(tmp_path):
    extra = "\nclass NotAStrategy:\n    pass\n\nclass Lazy(Strategy):\n    pass\n"
    write_plugin(tmp_path, "rules.py", GOOD_RULE + extra)
    write_plugin(tmp_path, "broken.py", "raise RuntimeError('no data today')\n")
    write_plugin(tmp_path, "typo.py", "def oops(:\n")
    cases = [
        ("missing.py:MyRule", r"strategy file 'missing.py' not found \(looked at: .*missing.py\)"),
        ("rules.py", r"'rules.py' names no class; write it as 'rules.py:ClassName'"),
        ("rules.py:MyRul", r"no class 'MyRul' in .*rules.py. Did you mean 'MyRule'\?"),
        ("rules.py:NotAStrategy", r"'rules.py:NotAStrategy' is .*not a subclass of wfbt.strategy.Strategy"),
        ("rules.py:Lazy", r"strategy Lazy \('rules.py:Lazy'\) does not define positions\(self, forecast"),
        ("broken.py:MyRule", r"strategy file .*broken.py raised RuntimeError on import: no data today"),
        ("typo.py:MyRule", r"strategy file .*typo.py raised SyntaxError on import"),
    ]
    for name, message in cases:
        with pytest.raises(UserError, match=message):
            load_strategy(name, {}, [tmp_path])
    with pytest.raises(UserError, match=r"\[strategy\] sise: .*Did you mean 'size'\?"):
        load_strategy("rules.py:MyRule", {"sise": 1.0}, [tmp_path])


def test_unknown_strategy_name_suggests_the_closest():
    message = r"unknown strategy 'long_shrt'\. Did you mean 'long_short'\?.*'threshold'"
    with pytest.raises(UserError, match=message):
        load_strategy("long_shrt", {}, [ROOT])


# ---------------------------------------------------------------- discovery: entry points


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """An installed package `fake-wfbt-plugins` with two entry points in group wfbt.strategies."""
    dist_info = tmp_path / "fake_wfbt_plugins-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-wfbt-plugins\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[wfbt.strategies]\nfake_rule = fake_wfbt_strategies:FakeRule\nghost_rule = fake_wfbt_missing:Ghost\n"
    )
    write_plugin(tmp_path, "fake_wfbt_strategies.py", GOOD_RULE.replace("MyRule", "FakeRule"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("fake_wfbt_strategies", None)


def test_entry_point_plugins_load_and_are_listed(fake_distribution):
    rule = load_strategy("fake_rule", {"size": 0.75}, [])
    assert type(rule).__name__ == "FakeRule" and rule.size == 0.75
    with pytest.raises(UserError, match=r"unknown strategy 'fake_rul'\. Did you mean 'fake_rule'\?"):
        load_strategy("fake_rul", {}, [])
    with pytest.raises(UserError, match=r"entry point 'ghost_rule' \(fake_wfbt_missing:Ghost\) failed"):
        load_strategy("ghost_rule", {}, [])
    listed = {info.name: info for info in available_strategies()}
    assert listed["fake_rule"].source == "entry point (fake-wfbt-plugins)"
    assert listed["fake_rule"].summary == "Always long, a fraction `size` of capital."
    assert [(p.name, p.type, p.default) for p in listed["fake_rule"].parameters] == [("size", float, 0.5)]
    assert listed["fake_rule"].long_only is True
    assert listed["ghost_rule"].summary.startswith("cannot load:")


def test_available_strategies_lists_the_builtins_with_parameters():
    listed = {info.name: info for info in available_strategies()}
    assert {"long_short", "long_only", "threshold"} <= set(listed)
    assert listed["threshold"].source == "built-in"
    assert [(p.name, p.default) for p in listed["threshold"].parameters] == [("band_pct", 0.5)]
    assert listed["long_only"].long_only and not listed["long_short"].long_only
    assert all(info.summary for info in listed.values())


def test_available_strategies_lists_file_plugins_under_the_search_dirs(tmp_path):
    extra = "\nclass Lazy(Strategy):\n    pass\n"
    write_plugin(tmp_path / "config_dir" / "strategies", "rules.py", GOOD_RULE + extra)
    write_plugin(tmp_path / "config_dir" / "strategies", "broken.py", "raise RuntimeError('no data today')\n")
    write_plugin(tmp_path / "cwd" / "strategies", "rules.py", GOOD_RULE.replace("0.5", "0.25"))  # shadowed
    write_plugin(tmp_path / "cwd" / "strategies", "other.py", GOOD_RULE.replace("MyRule", "Other"))
    infos = available_strategies(search_dirs=[tmp_path / "config_dir", tmp_path / "cwd"])
    files = [info for info in infos if info.source == "file"]
    assert [info.name for info in files] == [
        "strategies/broken.py", "strategies/rules.py:MyRule", "strategies/rules.py:Lazy", "strategies/other.py:Other"]
    assert infos[0].source == "built-in" and infos.index(files[0]) == len(BUILTINS)  # after the built-ins
    broken, rule, lazy, other = files
    assert broken.summary.startswith("cannot load:") and "RuntimeError on import: no data today" in broken.summary
    assert rule.summary == "Always long, a fraction `size` of capital." and rule.long_only
    assert [(p.name, p.default) for p in rule.parameters] == [("size", 0.5)]  # the first directory's file
    assert lazy.summary.startswith("cannot load:") and "does not define positions" in lazy.summary
    assert other.name == "strategies/other.py:Other"
    loaded = load_strategy(rule.name, {}, [tmp_path / "config_dir", tmp_path / "cwd"])  # the listed name loads
    assert loaded.size == 0.5
    assert all(info.source != "file" for info in available_strategies())  # no directories, no files
