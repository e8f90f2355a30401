"""Strategy plugins: turn forecasts into target positions, seeing only the past.

A strategy is a small class: typed, defaulted parameters declared as class attributes, and ONE
vectorized method `positions(forecast, history)`. The framework builds `history` from prices
strictly before each forecast date, so a strategy cannot look ahead even by mistake. A strategy
whose position depends on its own path (its equity, drawdown, realised volatility) adds an
optional per-day method `on_day(target, past, state)`, run after `positions` one day at a time
with `past` holding only what was known at the close of the day before.
Strategies are found by name: a built-in (`wfbt.builtin_strategies`), a file
`strategies/x.py:Name`, or an installed package's entry point in the group `wfbt.strategies`
(`wfbt.strategy_plugins`). This module is the API a strategy is written against: `Strategy`,
`History`, `Past`, its parameters, and how the framework calls it. See docs/strategies.md.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from wfbt.config import STRATEGY_OWN_KEYS
from wfbt.errors import UserError, did_you_mean, known

PARAMETER_TYPES = (bool, int, float, str)
MAX_LOOKBACK = 10_000  # prices in a strategy's history window
RESERVED_NAMES = ("positions", "on_day", "initial_state")  # methods a parameter must not shadow


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
