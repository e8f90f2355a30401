"""Strategy plugins: turn forecasts into target positions, seeing only the past.

A strategy is a small class: typed, defaulted parameters declared as class attributes, and ONE
vectorized method `positions(forecast, history)`. The framework builds `history` from prices
strictly before each forecast date, so a strategy cannot look ahead even by mistake. A strategy
whose position depends on its own path (its equity, drawdown, realised volatility) adds an
optional per-day method `on_day(target, past, state)`, run after `positions` one day at a time
with `past` holding only what was known at the close of the day before.
Strategies are found by name: a built-in, a file `strategies/x.py:Name`, or an installed
package's entry point in the group `wfbt.strategies`. See docs/strategies.md.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import sys
import traceback
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from wfbt import plugins
from wfbt.config import STRATEGY_OWN_KEYS
from wfbt.errors import UserError, did_you_mean, known

ENTRY_POINT_GROUP = "wfbt.strategies"
PARAMETER_TYPES = (bool, int, float, str)
MAX_LOOKBACK = 10_000  # prices in a strategy's history window
RESERVED_NAMES = ("positions", "on_day", "initial_state")  # methods a parameter must not shadow
ZERO_VOLATILITY = 1e-12  # a realised volatility below this is zero (vol_target then takes max_leverage)


@dataclass(frozen=True)
class History:
    """The observed past before each forecast date; arrays are read-only.

    last:   (n,)   the last observed price before the date being forecast (time t-1).
    window: (n, k) the k most recent observed prices up to and including t-1, oldest first;
            left-padded with NaN where fewer than k prices precede the date.
    """

    last: np.ndarray
    window: np.ndarray


@dataclass(frozen=True)
class Past:
    """A strategy's own path up to the close of t-1, when it decides the position for day t.

    Read-only arrays. The first five have one entry per traded day before t (`day` of them):
    positions:     what was held each day (what `on_day` returned; 0 on a day without a forecast)
    asset_returns: the asset's return each day, p_s / p_{s-1} - 1
    returns:       the strategy's return each day after costs, exactly as `pnl.pnl` computes it
    equity:        prod(1 + returns) up to each day (1.0 before the first day)
    peak:          running maximum of equity, starting from 1.0
    prices:        every observed price up to and including the close of t-1, from the start of
                   the data (not only the traded days), so a window of past returns exists on
                   the first traded day; prices[-1] is history.last for day t.
    periods_per_year: the run's (inferred from the data or set in the config), to annualise.
    """

    positions: np.ndarray
    asset_returns: np.ndarray
    returns: np.ndarray
    equity: np.ndarray
    peak: np.ndarray
    prices: np.ndarray
    periods_per_year: float

    @property
    def day(self) -> int:
        """The index t of the day being decided (0 for the first traded day)."""
        return self.positions.size

    @property
    def position(self) -> float:
        """The position held on day t-1 (0.0 before the first day): trading away from it costs."""
        return float(self.positions[-1]) if self.day else 0.0

    @property
    def current_equity(self) -> float:
        """Equity at the close of t-1 (1.0 before the first day)."""
        return float(self.equity[-1]) if self.day else 1.0

    @property
    def drawdown(self) -> float:
        """current_equity / running peak - 1: 0.0 at a new peak, negative below it."""
        return self.current_equity / (float(self.peak[-1]) if self.day else 1.0) - 1.0


class Strategy:
    """Base class of every strategy; subclass it, declare parameters, implement `positions`.

    Parameters are annotated class attributes with a default, of type bool, int, float or str.
    Class settings (not parameters): `long_only = True` restricts positions to [0, 1] instead of
    [-1, 1]; `lookback = k` sets the width of `history.window` (default 20); `horizons = True`
    (runs with `[model] horizon` h > 1) hands `positions` every step, `forecast` (n, h), instead
    of the one-step forecast (n,) (docs/strategies.md). Instances are frozen,
    so the same instance gives the same positions however often it runs.

    >>> class Band(Strategy):
    ...     band_pct: float = 0.5
    ...     def positions(self, forecast, history):
    ...         move = forecast / history.last - 1.0
    ...         return np.where(np.abs(move) > self.band_pct / 100, np.sign(move), 0.0)
    >>> Band(band_pct=1)
    Band(band_pct=1.0)
    >>> history = build_history([3, 3, 3], [0, 1, 2], [98.0, 99.0, 100.0], lookback=1)
    >>> compute_positions(Band(band_pct=1), np.array([103.0, 100.5, 97.0]), history)
    array([ 1.,  0., -1.])

    A strategy that depends on its own path also overrides `on_day` (and `initial_state` when
    it carries state from day to day); see `on_day`.
    """

    long_only: ClassVar[bool] = False
    lookback: ClassVar[int] = 20
    horizons: ClassVar[bool] = False  # True: `positions` gets forecast (n, h), every step of a horizon run

    def __init__(self, **params: Any) -> None:
        for name, value in bind_parameters(type(self), params).items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; pass parameters to the constructor")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in parameter_values(self).items())
        return f"{type(self).__name__}({args})"

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        """Target positions (n,) for forecasts (n,): in [-1, 1], or [0, 1] when long_only."""
        raise NotImplementedError

    def initial_state(self) -> Any:
        """The state `on_day` receives on the first day (default None: no state)."""
        return None

    def on_day(self, target: float, past: Past, state: Any) -> tuple[float, Any]:
        """Optional: the position for day t and the state for day t+1, from the strategy's own past.

        `target` is what `positions` said for day t; `past` is the path up to the close of t-1.
        The instance is frozen, so anything carried from day to day (a stop that fired, an entry
        level) goes in `state`: returned here, handed back tomorrow, as optax's update carries
        its state. Only a class that overrides this method is run day by day; the default
        (follow the target) is never called, so a plain strategy stays vectorized. It is not
        called on a day without a forecast (a failed split): that day is flat.
        """
        return target, state


def decides_daily(strategy: Strategy) -> bool:
    """Whether the strategy overrides `on_day`, so P&L must be walked one day at a time."""
    return type(strategy).on_day is not Strategy.on_day


@dataclass(frozen=True)
class Parameter:
    """One declared strategy parameter."""

    name: str
    type: type
    default: Any


def strategy_parameters(cls: type[Strategy]) -> dict[str, Parameter]:
    """The parameters a strategy class declares, checked: each typed, supported and defaulted."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # an annotation that does not resolve is the plugin author's mistake
        raise UserError(f"strategy {cls.__name__}: cannot read its parameter annotations ({exc})") from exc
    attributes = _class_attributes(cls)
    params = {}
    for name, hint in hints.items():
        if name.startswith("_") or hint is ClassVar or typing.get_origin(hint) is ClassVar:
            continue
        where = f"strategy {cls.__name__} parameter '{name}'"
        if name in RESERVED_NAMES:
            raise UserError(f"{where}: the name '{name}' is reserved for the method; rename it")
        if hint not in PARAMETER_TYPES:
            raise UserError(f"{where}: type {hint!r} is not supported; use bool, int, float or str")
        if name not in attributes:
            raise UserError(f"{where} has no default; declare it as `{name}: {hint.__name__} = ...`")
        default = _coerce(attributes[name], hint)
        if default is None:
            raise UserError(f"{where}: default {attributes[name]!r} is not a {hint.__name__}")
        params[name] = Parameter(name, hint, default)
    return params


def _class_attributes(cls: type) -> dict[str, Any]:
    """Class attributes along the MRO, a subclass's value winning (as attribute lookup does)."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        found.update(vars(klass))
    return found


def _coerce(value: Any, expected: type) -> Any:
    """`value` as `expected`, or None when it is the wrong type (int is a float; bool is no int)."""
    if isinstance(value, bool) != (expected is bool):
        return None
    if expected is float and isinstance(value, int | float):
        return float(value)
    return value if isinstance(value, expected) else None


def bind_parameters(cls: type[Strategy], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by the `[strategy]` table's values, each checked against its type."""
    declared = strategy_parameters(cls)
    for key in raw:
        if key not in declared:
            valid = f"valid parameters: {known(declared)}" if declared else "it takes no parameters"
            # the table's own keys too: `cost_bp` is more likely a misspelt cost_bps than a parameter
            raise UserError(
                f"[strategy] {key}: unknown parameter of strategy {cls.__name__}."
                f"{did_you_mean(key, [*declared, *STRATEGY_OWN_KEYS])} ({valid})"
            )
    values = {}
    for name, param in declared.items():
        value = raw.get(name, param.default)
        coerced = _coerce(value, param.type)
        if coerced is None:
            raise UserError(
                f"[strategy] {name}: expected {param.type.__name__}, got {type(value).__name__} ({value!r})"
            )
        if name in raw and isinstance(coerced, float) and not math.isfinite(coerced):  # a default may be inf
            raise UserError(f"[strategy] {name}: expected a finite number, got {coerced!r}")
        values[name] = coerced
    return values


def parameter_values(strategy: Strategy) -> dict[str, Any]:
    """The parameter values of a strategy instance, e.g. for summary.json."""
    return {name: getattr(strategy, name) for name in strategy_parameters(type(strategy))}


# ---------------------------------------------------------------- history and positions


def comparable_dates(values: Any) -> np.ndarray:
    """Dates as comparable numpy values: datetime64[ns] for dates and datetimes (numpy, polars,
    or Python objects), so Date and Datetime columns compare; plain numbers are kept as given."""
    array = np.asarray(values)
    return array.astype("datetime64[ns]") if array.dtype.kind in "MO" else array


def build_history(forecast_dates: Any, price_dates: Any, price_values: Any, lookback: int) -> History:
    """The past of each forecast date: only prices dated strictly before it can enter.

    `searchsorted(side="left")` counts the prices dated < t, and the window is the `lookback`
    prices just before that count, so the price at t (the value being forecast) never enters.
    """
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise UserError(f"strategy lookback must be an integer >= 1, got {lookback!r}")
    dates = comparable_dates(price_dates)
    prices = np.asarray(price_values, dtype=float)
    if dates.shape != prices.shape or dates.ndim != 1:
        raise ValueError(f"price dates {dates.shape} and values {prices.shape} must be matching 1-d arrays")
    if np.any(dates[1:] <= dates[:-1]):
        raise ValueError("price dates must be strictly increasing")
    n_before = np.searchsorted(dates, comparable_dates(forecast_dates), side="left")
    padded = np.concatenate([np.full(lookback, np.nan), prices])  # prices[j] sits at padded[j + k]
    window = padded[n_before[:, None] + np.arange(lookback)[None, :]]
    last = window[:, -1].copy()
    window.flags.writeable = False
    last.flags.writeable = False
    return History(last=last, window=window)


def compute_positions(strategy: Strategy, forecast: np.ndarray, history: History) -> np.ndarray:
    """Call the strategy and check its answer: shape (n,), finite, inside its allowed range."""
    name = type(strategy).__name__
    forecast = np.array(forecast, dtype=float)
    forecast.flags.writeable = False
    n = forecast.shape[0]
    try:
        returned = strategy.positions(forecast, history)
    except UserError:  # already a message for the user (e.g. a built-in checking its parameters)
        raise
    except Exception as exc:  # a plugin's bug is the user's to fix: say where it happened
        raise UserError(
            f"strategy {name}.positions raised {type(exc).__name__}: {exc}{where_raised(type(strategy), exc)}"
        ) from exc
    try:
        positions = np.asarray(returned, dtype=float)
    except (TypeError, ValueError) as exc:
        kind = type(returned).__name__
        raise UserError(f"strategy {name} returned {kind}, not an array of numbers") from exc
    if positions.shape != (n,):
        raise UserError(
            f"strategy {name} returned shape {positions.shape} for {n} forecasts; expected ({n},)"
        )
    bad = ~np.isfinite(positions)
    if bad.any():
        raise UserError(
            f"strategy {name} returned {bad.sum()} NaN/inf positions (first at row {np.argmax(bad)}); "
            "return 0 (flat) where it cannot decide"
        )
    low = 0.0 if strategy.long_only else -1.0
    outside = (positions < low) | (positions > 1.0)
    if outside.any():
        row = int(np.argmax(outside))
        note = " (long_only = True)" if strategy.long_only else ""
        raise UserError(
            f"strategy {name} returned positions outside [{low:g}, 1]{note}: {positions[row]:g} at row {row}"
        )
    return positions


def compute_day_position(strategy: Strategy, target: float, past: Past, state: Any, date: Any) -> tuple[float, Any]:
    """Call `on_day` for one day and check its answer as `compute_positions` checks a whole series:
    a (position, state) pair, the position one finite number inside the strategy's range. Errors
    name the day (its index and `date`), so a user can find it in equity.csv."""
    name = type(strategy).__name__
    day = f"day {past.day} ({date})"
    try:
        answer = strategy.on_day(target, past, state)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"strategy {name}.on_day raised {type(exc).__name__} on {day}: {exc}{where_raised(type(strategy), exc)}"
        ) from exc
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise UserError(
            f"strategy {name}.on_day returned {type(answer).__name__} on {day}; return a pair (position, state)"
        )
    returned, state = answer
    try:
        position = np.asarray(returned, dtype=float)
    except (TypeError, ValueError) as exc:
        raise UserError(f"strategy {name}.on_day returned {type(returned).__name__} as the position on {day}, "
                        "not a number") from exc
    if position.shape != ():
        raise UserError(f"strategy {name}.on_day returned shape {position.shape} as the position on {day}; "
                        "expected one number")
    if not np.isfinite(position):
        raise UserError(f"strategy {name}.on_day returned {float(position)} on {day}; "
                        "return 0 (flat) where it cannot decide")
    low = 0.0 if strategy.long_only else -1.0
    if not low <= position <= 1.0:
        note = " (long_only = True)" if strategy.long_only else ""
        raise UserError(f"strategy {name}.on_day returned a position outside [{low:g}, 1]{note}: "
                        f"{float(position):g} on {day}")
    return float(position), state


def where_raised(cls: type, exc: BaseException) -> str:
    """' (strategies/x.py, line 12)': the last traceback frame in the file that defines the strategy
    (or a class it inherits from), so a typo in a plugin points at its own line, not at wfbt's
    or numpy's; '' when no frame is there."""
    files = {_real(f) for f in (_source_file(k) for k in cls.__mro__ if k not in (Strategy, object)) if f}
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if _real(frame.filename) in files]
    if not frames:
        return ""
    return f" ({_shown(frames[-1].filename)}, line {frames[-1].lineno})"


def _source_file(cls: type) -> str | None:
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None)


def _real(path: str) -> str:
    return os.path.realpath(path)


def _shown(path: str) -> str:
    """A path relative to the current directory when it lies below it (as users wrote it), else absolute."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


# ---------------------------------------------------------------- built-ins


class LongShort(Strategy):
    """Long when the forecast is above the last price, short when below, flat when equal."""

    lookback = 1

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        return np.sign(forecast - history.last)


class LongOnly(Strategy):
    """Long when the forecast exceeds the last price by more than `threshold` (a fraction), else flat."""

    long_only = True
    lookback = 1
    threshold: float = 0.0

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        return np.where(forecast > history.last * (1.0 + self.threshold), 1.0, 0.0)


class Threshold(Strategy):
    """Long above, short below a dead band of `band_pct` percent around the last price, else flat."""

    lookback = 1
    band_pct: float = 0.5

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        band = self.band_pct / 100.0
        long = forecast > history.last * (1.0 + band)
        short = forecast < history.last * (1.0 - band)
        return np.where(long, 1.0, np.where(short, -1.0, 0.0))


class VolTarget(Strategy):
    """The forecast's direction, sized to `target_vol` a year over the asset's recent volatility."""

    lookback = 1
    target_vol: float = 0.10  # annualised, a fraction: 0.10 = 10 %
    window: int = 20  # past one-period asset returns the volatility is measured over
    max_leverage: float = 1.0  # at most 1: positions stay within [-1, 1]

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        _require(self.target_vol > 0, "target_vol", "must be > 0 (a fraction a year: 0.10 = 10 %)", self.target_vol)
        _require(self.window >= 2, "window", "must be 2 or more (a volatility needs two returns)", self.window)
        _require(0 < self.max_leverage <= 1, "max_leverage", "must be in (0, 1]: positions stay within [-1, 1]",
                 self.max_leverage)
        return np.sign(forecast - history.last)

    def on_day(self, target: float, past: Past, state: Any) -> tuple[float, Any]:
        # flat until `window` past returns exist: a volatility from fewer would size on noise
        if past.prices.size <= self.window:
            return 0.0, state
        recent = past.prices[-(self.window + 1):]
        volatility = float(np.std(recent[1:] / recent[:-1] - 1.0, ddof=1)) * math.sqrt(past.periods_per_year)
        if volatility < ZERO_VOLATILITY:  # prices that never moved: no risk measured, full size
            return target * self.max_leverage, state
        return target * min(self.max_leverage, self.target_vol / volatility), state


class StopState(NamedTuple):
    """What `StopLoss` carries from day to day."""

    peak: float  # the highest equity since the strategy (re-)entered, 1.0 at the start
    stopped_on: float | None  # the signal in force when the stop fired; None while trading


class StopLoss(Strategy):
    """The forecast's direction; flat after a `max_drawdown_pct` % fall from the peak, until the signal changes."""

    lookback = 1
    max_drawdown_pct: float = 10.0

    def positions(self, forecast: np.ndarray, history: History) -> np.ndarray:
        _require(self.max_drawdown_pct > 0, "max_drawdown_pct", "must be > 0 (percent)", self.max_drawdown_pct)
        return np.sign(forecast - history.last)

    def initial_state(self) -> StopState:
        return StopState(peak=1.0, stopped_on=None)

    def on_day(self, target: float, past: Past, state: StopState) -> tuple[float, StopState]:
        equity = past.current_equity
        if state.stopped_on is not None:
            if target == state.stopped_on:  # the signal that lost is still the signal: stay out
                return 0.0, state
            return target, StopState(peak=equity, stopped_on=None)  # a new signal: re-enter, peak from here
        peak = max(state.peak, equity)
        if equity / peak - 1.0 < -self.max_drawdown_pct / 100.0:
            return 0.0, StopState(peak, stopped_on=target)
        return target, StopState(peak, stopped_on=None)


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    """A built-in's check of its own parameter, worded like the config's errors."""
    if not ok:
        raise UserError(f"[strategy] {key}: {rule}, got {value!r}")


BUILTINS: dict[str, type[Strategy]] = {
    "long_short": LongShort,
    "long_only": LongOnly,
    "threshold": Threshold,
    "vol_target": VolTarget,
    "stop_loss": StopLoss,
}


# ---------------------------------------------------------------- discovery


def load_strategy(name: str, params: Mapping[str, Any], search_dirs: Sequence[Path]) -> Strategy:
    """The strategy named in `[strategy] name`, built with the table's other keys as parameters.

    `name` is a built-in, a file `path/to/file.py:ClassName` (relative paths are tried against
    each of `search_dirs` in order), or an entry point in the group `wfbt.strategies`.
    """
    if plugins.is_file_spec(name):
        cls = _class_from_file(name, search_dirs)
    elif name in BUILTINS:
        cls = BUILTINS[name]
    else:
        cls = _class_from_entry_point(name)
    _check_strategy_class(cls, name)
    strategy = cls(**params)
    _check_lookback(strategy.lookback, cls, name)  # also when it is a parameter the config set
    return strategy


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return plugins.entry_points(KIND)


def _class_from_entry_point(name: str) -> Any:
    return plugins.class_from_entry_point(name, KIND, list(BUILTINS))


def _class_from_file(spec: str, search_dirs: Sequence[Path]) -> Any:
    return plugins.class_from_file(spec, search_dirs, KIND)


def _import_file(path: Path) -> Any:
    return plugins.import_file(path, KIND)


def _is_strategy_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy


KIND = plugins.Kind("strategy", "strategies", _is_strategy_class)


def _check_strategy_class(cls: Any, name: str) -> None:
    """A clear error for an object that is not a usable Strategy subclass."""
    if not _is_strategy_class(cls):
        raise UserError(
            f"[strategy] name: '{name}' is {cls!r}, not a subclass of wfbt.strategy.Strategy"
        )
    if cls.positions is Strategy.positions:
        raise UserError(
            f"strategy {cls.__name__} ('{name}') does not define positions(self, forecast, history)"
        )
    _check_lookback(cls.lookback, cls, name)


def _check_lookback(lookback: Any, cls: type, name: str) -> None:
    if isinstance(lookback, bool) or not isinstance(lookback, int) or not 1 <= lookback <= MAX_LOOKBACK:
        raise UserError(
            f"strategy {cls.__name__} ('{name}'): lookback must be an integer from 1 to {MAX_LOOKBACK:,}, "
            f"got {lookback!r}"
        )


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class StrategyInfo:
    """What `wfbt list` shows about one strategy."""

    name: str
    source: str  # "built-in", "file" or "entry point (<distribution>)"
    summary: str  # first line of the docstring, or why it could not be loaded
    parameters: tuple[Parameter, ...]
    long_only: bool
    lookback: int


def _info(name: str, source: str, cls: type[Strategy]) -> StrategyInfo:
    doc_lines = (cls.__doc__ or "").strip().splitlines()
    summary = doc_lines[0] if doc_lines else ""
    params = tuple(strategy_parameters(cls).values())
    return StrategyInfo(name, source, summary, params, bool(cls.long_only), int(cls.lookback))


def available_strategies(search_dirs: Sequence[Path] = ()) -> list[StrategyInfo]:
    """Built-ins, then file plugins under `search_dirs`, then installed entry points.

    For each directory, every `strategies/*.py` below it is imported and each Strategy subclass
    it defines is listed as `strategies/<file>.py:<Class>`, the name `[strategy] name` takes. A
    name found under two directories is listed once, from the first (as `load_strategy` picks).
    A plugin that fails to load (a file raising on import, a class without `positions`) is
    listed with why, never raised: one broken file must not hide the others.
    """
    infos = [_info(name, "built-in", cls) for name, cls in BUILTINS.items()]
    seen: set[str] = set()
    for directory in search_dirs:
        for path in sorted((Path(directory) / "strategies").glob("*.py")):
            file_name = f"strategies/{path.name}"
            if file_name in seen:
                continue
            seen.add(file_name)
            infos.extend(_file_infos(file_name, path))
    for name, entry_point in sorted(_entry_points().items()):
        dist = entry_point.dist.name if entry_point.dist is not None else "unknown package"
        source = f"entry point ({dist})"
        try:
            cls = _class_from_entry_point(name)
            _check_strategy_class(cls, name)
            infos.append(_info(name, source, cls))
        except UserError as exc:
            infos.append(StrategyInfo(name, source, f"cannot load: {exc}", (), False, 0))
    return infos


def _file_infos(file_name: str, path: Path) -> list[StrategyInfo]:
    """One entry per Strategy subclass defined in the file, or one saying why it cannot be loaded."""
    try:
        module = _import_file(path)
    except UserError as exc:
        return [StrategyInfo(file_name, "file", f"cannot load: {exc}", (), False, 0)]
    infos = []
    for class_name, cls in vars(module).items():
        if not (_is_strategy_class(cls) and cls.__module__ == module.__name__):
            continue  # imported names (Strategy, a base from elsewhere) are not defined here
        name = f"{file_name}:{class_name}"
        try:
            _check_strategy_class(cls, name)
            infos.append(_info(name, "file", cls))
        except UserError as exc:
            infos.append(StrategyInfo(name, "file", f"cannot load: {exc}", (), False, 0))
    return infos
