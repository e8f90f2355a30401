"""Experiment config: TOML validated once, at the edge, into frozen objects.

Every key has a declared type and default (the dataclass fields below). Unknown keys, wrong
types and out-of-range values raise `UserError` naming the file, the `[section] key` and what
to do; nothing downstream re-checks or reads raw dicts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wfbt.errors import UserError, did_you_mean, known


@dataclass(frozen=True)
class DataConfig:
    source: str | tuple[str, ...] = "sample:AAPL"  # a list: several tickers in one run (wfbt.tickers)
    date_column: str = "Date"
    target: str = "Adj Close"
    start: dt.date | None = None
    end: dt.date | None = None
    separator: Literal["", ",", ";", "\t", "|"] = ""  # CSV field separator; "": read from the header line
    decimal: Literal[".", ","] = "."  # CSV decimal mark
    missing: Literal["error", "drop", "ffill", "interpolate"] = "error"  # missing or non-finite values of the columns used
    adjust: bool = False  # scale Open/High/Low/Close by Adj Close / Close (split- and dividend-adjusted OHLC)
    # what the model learns: the price, or its next one-period log return (forecasts turned back
    # into prices at their origin, wfbt.transform; docs/data.md)
    target_transform: Literal["none", "log_return"] = "none"
    ticker_column: str = "Ticker"  # a long file (one row per date and ticker): the column naming the ticker
    tickers: tuple[str, ...] = ()  # keep only these tickers of the source(s); (): all of them


# [[features]] kinds: the parameters each takes besides `kind`, `column` and `name`, with defaults
# (docs/data.md gives every formula and warm-up length; wfbt.indicators computes them)
FEATURE_KINDS: dict[str, dict[str, Any]] = {
    "column": {}, "return": {}, "log_return": {}, "lag": {"periods": 1},
    "sma": {"window": 20}, "ema": {"window": 20}, "rolling_std": {"window": 20}, "rolling_min": {"window": 20},
    "rolling_max": {"window": 20}, "zscore": {"window": 20},
    "range": {"relative": False, "high": "High", "low": "Low"},
    "volume": {"window": 0},  # 0: log volume; more: the rolling z-score of log volume
    "rsi": {"window": 14}, "macd": {"fast": 12, "slow": 26, "signal": 9},
}
FEATURE_COMMON = ("kind", "column", "name")


@dataclass(frozen=True)
class FeatureConfig:
    """One `[[features]]` table: a kind and its parameters (only those of its kind are set)."""

    kind: str
    column: str = ""  # "": the target (volume: "Volume")
    name: str = ""  # "": derived from kind, column and parameters (wfbt.indicators.feature_names)
    periods: int = 1
    window: int = 0
    relative: bool = False
    high: str = "High"
    low: str = "Low"
    fast: int = 12
    slow: int = 26
    signal: int = 9

    def params(self) -> dict[str, Any]:
        """The kind's own parameters, in declaration order (what to_toml writes and the fingerprint holds)."""
        return {key: getattr(self, key) for key in FEATURE_KINDS[self.kind]}


@dataclass(frozen=True)
class SplitsConfig:
    mode: Literal["rolling", "expanding"] = "rolling"
    train: int = 200
    val: int = 10
    step: int = 1
    gap: int = 0
    refit_every: int = 1
    max_splits: int | None = None


@dataclass(frozen=True)
class ModelConfig:
    name: str = "lstm"
    lookback: int = 20
    hidden_size: int = 50
    num_layers: int = 2
    dense_size: int = 25
    dropout: tuple[float, ...] = (0.3, 0.2)
    init: Literal["torch", "keras"] = "torch"  # see docs/configuration.md: torch matched the reference loops
    heads: int = 2  # attention heads (model "attention" only); must divide hidden_size
    horizon: int = 1  # points forecast at once from each input window (docs/models.md, "Horizons")
    params: Mapping[str, Any] = field(default_factory=dict)  # a plugin model's own keys (docs/models.md)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 10
    learning_rate: float = 0.001
    patience: int = 5
    loss: Literal["mse", "gaussian_nll"] = "mse"
    seed: int = 0
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = 0.0  # decoupled weight decay (adamw, sgd)
    clip_norm: float = 0.0  # clip gradients to this global norm; 0: no clipping
    momentum: float = 0.0  # sgd only
    schedule: Literal["constant", "cosine"] = "constant"  # cosine: to 0 over each split's updates
    warmup_steps: int = 0  # linear learning-rate warm-up over this many updates


@dataclass(frozen=True)
class ScalingConfig:
    method: Literal["minmax", "zscore", "none"] = "minmax"


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "long_short"
    cost_bps: float = 0.0
    slippage_bps: float = 0.0
    periods_per_year: float | None = None  # None: inferred from the data's step
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationConfig:
    baselines: tuple[str, ...] = ("naive", "drift", "mean", "linear")
    next_forecast: bool = True  # forecast the first date after the data
    forecast_average: int = 10  # ... also as the average of the last k windows' forecasts
    # permutation importance of each model input per split (wfbt.importance); "auto": with 2+ inputs
    importance: Literal["auto", True, False] = "auto"
    importance_repeats: int = 5  # permutations per input and split; the delta is their mean


@dataclass(frozen=True)
class EngineConfig:
    chunk_size: int = 0  # 0: chosen from the device
    devices: int = 0  # 0: every local device of the default backend
    unroll: int = 0  # LSTM time steps per loop iteration; 0: 1 on CPU, the whole lookback on GPU/TPU
    ray: str = ""  # "": this process; "local", "auto" or "ray://host:port": chunks trained by Ray actors


@dataclass(frozen=True)
class OutputConfig:
    dir: str = ""  # "": runs/<config file stem>
    save_params: bool = False  # also save every split's trained parameters (docs/models.md)


@dataclass(frozen=True)
class Config:
    data: DataConfig
    splits: SplitsConfig
    model: ModelConfig
    train: TrainConfig
    scaling: ScalingConfig
    strategy: StrategyConfig | None
    evaluation: EvaluationConfig
    engine: EngineConfig
    output: OutputConfig
    path: Path  # the file it came from; relative data and plugin paths resolve against its folder
    features: tuple[FeatureConfig, ...] = ()  # [[features]], in input order; (): the target alone

    @property
    def base_dirs(self) -> tuple[Path, ...]:
        """Where relative paths are looked up: the config's folder, then the working directory."""
        return (self.path.parent.resolve(), Path.cwd())


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "splits": SplitsConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "scaling": ScalingConfig,
    "strategy": StrategyConfig,
    "evaluation": EvaluationConfig,
    "engine": EngineConfig,
    "output": OutputConfig,
}
STUDY_SECTIONS = ("sweep", "tune")  # tables of many experiments over one config (wfbt.sweep)
STRATEGY_OWN_KEYS = ("name", "cost_bps", "slippage_bps", "periods_per_year")
BUILTIN_MODELS = ("lstm", "mlp", "gru", "attention")  # any other [model] name is a plugin (wfbt.models)
MODEL_OWN_KEYS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "params")
MAX_ROWS = 100_000_000  # rows, window lengths, steps, batch sizes: far beyond any price series
MAX_BATCH = 100_000
MAX_UNITS = 4_096  # LSTM and dense units
MAX_LAYERS = 64
MAX_EPOCHS = 1_000_000


# ---------------------------------------------------------------- reading


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override (`section.key=value`) and validate a TOML experiment file."""
    raw, overridden = load_raw(Path(path), overrides)
    return config_from_dict(raw, Path(path), overridden)


def load_raw(path: Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The parsed TOML document with `--set` overrides applied, and the (section, key) pairs they set."""
    if not path.is_file():
        raise UserError(f"{path}: config file not found.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the config file: {exc}.") from None
    overridden = {_apply_override(raw, item, path) for item in overrides}
    return raw, overridden


def config_from_dict(raw: Mapping[str, Any], path: Path, overridden: set[tuple[str, str]] = frozenset()) -> Config:
    """Validate a parsed TOML document into a `Config` (the one place that reads raw dicts);
    a bad value of a key in `overridden` ((section, key) pairs from `--set`) is named as such."""
    for section, table in raw.items():
        # [sweep]/[tune] are read by `wfbt sweep` / `wfbt tune` (one run is the base config);
        # [[features]] is an array of tables, read below
        if section in STUDY_SECTIONS or section == "features":
            continue
        if section not in SECTIONS:
            raise UserError(
                f"{path}: unknown section [{section}].{did_you_mean(section, [*SECTIONS, *STUDY_SECTIONS])} "
                f"Known sections: {known([*SECTIONS, *STUDY_SECTIONS])}."
            )
        if not isinstance(table, dict):
            raise UserError(f"{path}: [{section}] must be a table, got {_describe(table)}.")
    parts = {name: _build(cls, raw.get(name, {}), name, path, overridden) for name, cls in SECTIONS.items()}
    if "strategy" not in raw:
        parts["strategy"] = None
    config = Config(**parts, path=path, features=_features(raw.get("features", []), path))
    _check_ranges(config, overridden)
    model = config.model
    if "dropout" in raw.get("model", {}) and len(model.dropout) > model.num_layers:  # the default may be longer
        where = "--set model.dropout" if ("model", "dropout") in overridden else f"{path}: [model] dropout"
        raise UserError(f"{where}: {len(model.dropout)} rates for {model.num_layers} layer(s); "
                        f"give one per layer (or fewer: the rest get none).")
    # the rates the layers use: so the run's config.toml reads back as the same experiment
    return dataclasses.replace(config, model=dataclasses.replace(model, dropout=model.dropout[: model.num_layers]))


def _build(cls: type, table: Mapping[str, Any], section: str, path: Path, overridden: set[tuple[str, str]]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    if cls is StrategyConfig:  # the strategy's own parameters are checked by the strategy itself
        values["params"] = {k: v for k, v in table.items() if k not in STRATEGY_OWN_KEYS}
        table = {k: v for k, v in table.items() if k in STRATEGY_OWN_KEYS}
        names = list(STRATEGY_OWN_KEYS)
    elif cls is ModelConfig:  # a plugin's own keys are checked by the plugin (wfbt.model_plugins)
        plugin = table.get("name", ModelConfig.name) not in BUILTIN_MODELS
        values["params"] = {k: v for k, v in table.items() if plugin and k not in MODEL_OWN_KEYS}
        table = {k: v for k, v in table.items() if k not in values["params"]}
        names = list(MODEL_OWN_KEYS)
    for key, value in table.items():
        where = f"--set {section}.{key}" if (section, key) in overridden else f"{path}: [{section}] {key}"
        if key not in names:
            raise UserError(f"{where}: unknown key.{did_you_mean(key, names)} Known keys: {known(names)}.")
        values[key] = _coerce(value, hints[key], where)
    return cls(**values)


def _features(tables: Any, path: Path) -> tuple[FeatureConfig, ...]:
    """`[[features]]`: each table's kind known, its keys those of its kind, values typed and in range."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UserError(f"{path}: features must be an array of tables ([[features]] with a kind each), "
                        f"got {_describe(tables)}.")
    hints = typing.get_type_hints(FeatureConfig)
    features = []
    for number, table in enumerate(tables, 1):
        where = f"{path}: [[features]] {number}"
        kind = table.get("kind")
        if not isinstance(kind, str) or kind not in FEATURE_KINDS:
            hint = did_you_mean(str(kind), FEATURE_KINDS) if isinstance(kind, str) else ""
            got = "no kind" if kind is None else f"kind {_describe(kind)}"
            raise UserError(f"{where}: {got}.{hint} Known kinds: {known(FEATURE_KINDS)}.")
        names = [*FEATURE_COMMON, *FEATURE_KINDS[kind]]
        values: dict[str, Any] = dict(FEATURE_KINDS[kind])
        for key, value in table.items():
            if key not in names:
                raise UserError(f"{where} ({kind}): unknown key '{key}'.{did_you_mean(key, names)} "
                                f"Keys of {kind}: {known(names)}.")
            values[key] = _coerce(value, hints[key], f"{where} ({kind}) {key}")
        feature = FeatureConfig(**values)
        for key, low in (("periods", 1), ("window", 2 if kind in ("rolling_std", "zscore") else 1),
                         ("fast", 1), ("signal", 1)):
            if key in FEATURE_KINDS[kind] and not (kind == "volume" and getattr(feature, key) == 0):
                value = getattr(feature, key)
                if not low <= value <= MAX_ROWS:
                    raise UserError(f"{where} ({kind}) {key}: must be between {low} and {MAX_ROWS:,}, got {value}.")
        if kind == "volume" and feature.window == 1:
            raise UserError(f"{where} (volume) window: a z-score needs at least 2 points; 0 for log volume, got 1.")
        if kind == "macd" and not feature.fast < feature.slow <= MAX_ROWS:
            raise UserError(f"{where} (macd): slow must be more than fast, got fast {feature.fast}, slow {feature.slow}.")
        features.append(feature)
    return tuple(features)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against a field's type; return it in the field's canonical form."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None, or str | tuple[str, ...]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1:  # a value or a list of them: the list form when a list is given
            listed = [a for a in inner if typing.get_origin(a) is tuple]
            if isinstance(value, list) and listed:
                return _coerce(value, listed[0], where)
            plain = [a for a in inner if typing.get_origin(a) is not tuple]
            if not isinstance(value, str) and plain == [str]:
                raise UserError(f"{where}: expected a string or a list of strings, got {_describe(value)}.")
            inner = plain
        return _coerce(value, inner[0], where)
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in args):  # 1 is not true, "true" is not true
            hint_text = did_you_mean(str(value), [str(a) for a in args])
            choices = known(args) if all(isinstance(a, str) for a in args) else ", ".join(map(json.dumps, args))
            raise UserError(f"{where}: {json.dumps(value, default=str)} is not one of {choices}.{hint_text}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise UserError(f"{where}: expected a list, got {_describe(value)}.")
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {_describe(value)}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {_describe(value)}.")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{where}: expected a number, got {_describe(value)}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {_describe(value)}.")
        return value
    if hint is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise UserError(f"{where}: expected a date like 2008-05-30, got {_describe(value)}.")
    raise TypeError(f"unsupported config field type {hint!r}")  # a bug, not a user error


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    return f"{json.dumps(value, default=str)} ({kind})"


def _check_ranges(config: Config, overridden: set[tuple[str, str]] = frozenset()) -> None:
    """Cross-field limits, each naming the key to change (as `--set section.key` if it came so)."""
    s, m, t = config.splits, config.model, config.train
    rules = [
        (m.lookback >= 1, "[model] lookback", f"must be at least 1, got {m.lookback}."),
        (s.train >= m.lookback + 2, "[splits] train",
         f"must be at least lookback + 2 = {m.lookback + 2} (two training samples), got {s.train}."),
        (s.val >= 1, "[splits] val", f"must be at least 1, got {s.val}."),
        (m.horizon >= 1, "[model] horizon", f"must be at least 1, got {m.horizon}."),
        (m.horizon <= s.val, "[model] horizon",
         (f"{m.horizon} is longer than [splits] val = {s.val}: every forecast step needs a validation target; "
          "raise val or lower horizon.")),
        (s.train >= m.lookback + m.horizon + 1, "[splits] train",
         (f"must be at least lookback + horizon + 1 = {m.lookback + m.horizon + 1} (two training samples of "
          f"{m.lookback} inputs and {m.horizon} targets), got {s.train}.")),
        (m.horizon == 1 or config.data.target_transform == "none", "[model] horizon",
         (f"{m.horizon} with [data] target_transform = \"{config.data.target_transform}\": a learned one-period "
          "return forecasts one step; use horizon = 1, or the price as the target (target_transform = \"none\").")),
        (s.step >= 1, "[splits] step", f"must be at least 1, got {s.step}."),
        (s.gap >= 0, "[splits] gap", f"must be 0 or more, got {s.gap}."),
        (s.refit_every >= 1, "[splits] refit_every", f"must be at least 1, got {s.refit_every}."),
        (s.max_splits is None or s.max_splits >= 1, "[splits] max_splits",
         f"must be at least 1, got {s.max_splits}."),
        (m.hidden_size >= 1, "[model] hidden_size", f"must be at least 1, got {m.hidden_size}."),
        (m.num_layers >= 1, "[model] num_layers", f"must be at least 1, got {m.num_layers}."),
        (m.heads >= 1, "[model] heads", f"must be at least 1, got {m.heads}."),
        (m.dense_size >= 0, "[model] dense_size", f"must be 0 or more, got {m.dense_size}."),
        (all(0.0 <= p < 1.0 for p in m.dropout), "[model] dropout",
         f"rates must lie in [0, 1), got {list(m.dropout)}."),
        (t.epochs >= 1, "[train] epochs", f"must be at least 1, got {t.epochs}."),
        (t.batch_size >= 1, "[train] batch_size", f"must be at least 1, got {t.batch_size}."),
        (t.learning_rate > 0, "[train] learning_rate", f"must be positive, got {t.learning_rate}."),
        (t.patience >= 0, "[train] patience", f"must be 0 (no early stopping) or more, got {t.patience}."),
        (t.weight_decay >= 0, "[train] weight_decay", f"must be 0 or more, got {t.weight_decay}."),
        (t.weight_decay == 0 or t.optimizer != "adam", "[train] weight_decay",
         f"{t.weight_decay} needs a decoupled-decay optimizer: set [train] optimizer = \"adamw\" (or \"sgd\")."),
        (t.clip_norm >= 0, "[train] clip_norm", f"must be 0 (no clipping) or more, got {t.clip_norm}."),
        (0 <= t.momentum < 1, "[train] momentum", f"must lie in [0, 1), got {t.momentum}."),
        (t.momentum == 0 or t.optimizer == "sgd", "[train] momentum",
         f"{t.momentum} applies to optimizer = \"sgd\" only (Adam keeps its own moments)."),
        (t.warmup_steps >= 0, "[train] warmup_steps", f"must be 0 or more, got {t.warmup_steps}."),
        (config.evaluation.forecast_average >= 1, "[evaluation] forecast_average",
         f"must be at least 1, got {config.evaluation.forecast_average}."),
        (config.evaluation.importance_repeats >= 1, "[evaluation] importance_repeats",
         f"must be at least 1, got {config.evaluation.importance_repeats}."),
        (config.engine.chunk_size >= 0, "[engine] chunk_size",
         f"must be 0 (automatic) or more, got {config.engine.chunk_size}."),
        (config.engine.devices >= 0, "[engine] devices",
         f"must be 0 (all) or more, got {config.engine.devices}."),
        (config.engine.unroll >= 0, "[engine] unroll",
         f"must be 0 (automatic) or more, got {config.engine.unroll}."),
    ]
    # upper bounds: past these a run fails deep inside (int32 overflow, terabyte arrays), not here
    limits = [("[splits] train", s.train, MAX_ROWS), ("[splits] val", s.val, MAX_ROWS), ("[splits] step", s.step, MAX_ROWS),
              ("[splits] gap", s.gap, MAX_ROWS), ("[splits] refit_every", s.refit_every, MAX_ROWS),
              ("[splits] max_splits", s.max_splits or 1, MAX_ROWS), ("[model] lookback", m.lookback, MAX_ROWS),
              ("[model] horizon", m.horizon, MAX_UNITS),
              ("[model] hidden_size", m.hidden_size, MAX_UNITS), ("[model] dense_size", m.dense_size, MAX_UNITS),
              ("[model] num_layers", m.num_layers, MAX_LAYERS), ("[model] heads", m.heads, MAX_UNITS), ("[train] epochs", t.epochs, MAX_EPOCHS),
              ("[train] patience", t.patience, MAX_EPOCHS), ("[train] batch_size", t.batch_size, MAX_BATCH),
              ("[train] warmup_steps", t.warmup_steps, MAX_ROWS),
              ("[evaluation] forecast_average", config.evaluation.forecast_average, MAX_ROWS),
              ("[evaluation] importance_repeats", config.evaluation.importance_repeats, 1_000),
              ("[engine] chunk_size", config.engine.chunk_size, MAX_ROWS),
              ("[engine] devices", config.engine.devices, MAX_ROWS), ("[engine] unroll", config.engine.unroll, MAX_ROWS)]
    rules += [(value <= limit, key, f"must be at most {limit:,}, got {value:,}.") for key, value, limit in limits]
    if config.strategy is not None:
        for key in ("cost_bps", "slippage_bps"):
            value = getattr(config.strategy, key)
            rules.append((value >= 0, f"[strategy] {key}", f"must be 0 or more, got {value}."))
        per_year = config.strategy.periods_per_year
        rules.append((per_year is None or per_year > 0, "[strategy] periods_per_year",
                      f"must be positive (e.g. 252 for daily, 52 for weekly data), got {per_year}."))
    rules += _data_rules(config.data)
    if config.data.start and config.data.end:
        rules.append((config.data.start <= config.data.end, "[data] start",
                      f"{config.data.start} is after [data] end {config.data.end}."))
    for ok, key, message in rules:
        if not ok:
            section, name = key.strip("[").split("] ")
            if (section, name) in overridden:
                raise UserError(f"--set {section}.{name} {message}")
            raise UserError(f"{config.path}: {key} {message}")


def _data_rules(data: DataConfig) -> list[tuple[bool, str, str]]:
    """Several tickers (docs/data.md): a non-empty list of sources, nothing named twice."""
    sources = (data.source,) if isinstance(data.source, str) else data.source
    twice = lambda items: next((x for i, x in enumerate(items) if x in items[:i]), None)  # noqa: E731
    return [
        (len(sources) >= 1, "[data] source",
         'is an empty list; give one source or several, e.g. ["sample:AAPL", "sample:MSFT"].'),
        (twice(sources) is None, "[data] source", f"lists {json.dumps(twice(sources))} twice; give each source once."),
        (twice(data.tickers) is None, "[data] tickers",
         f"lists {json.dumps(twice(data.tickers))} twice; give each ticker once."),
        (data.ticker_column != "", "[data] ticker_column", 'must name a column, e.g. "Ticker".'),
    ]


def _apply_override(raw: dict[str, Any], item: str, path: Path) -> tuple[str, str]:
    """`--set section.key=value`: the value is read as TOML, or as a plain string. Returns
    (section, key)."""
    name, sep, text = item.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise UserError(f"--set {item}: expected section.key=value, e.g. --set train.epochs=2.")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    if section not in SECTIONS:
        raise UserError(f"--set {item}: unknown section [{section}].{did_you_mean(section, SECTIONS)}")
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise UserError(f"{path}: [{section}] must be a table, got {_describe(table)}.")
    table[key] = value
    return section, key


# ---------------------------------------------------------------- writing


def to_toml(config: Config, data_source: str | None = None, out_dir: str | None = None) -> str:
    """The config as TOML, so `wfbt run RUN_DIR/config.toml` reproduces the run."""
    lines: list[str] = []
    for section in SECTIONS:
        part = getattr(config, section)
        if part is None:
            continue
        lines.append(f"[{section}]")
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            if section == "data" and f.name == "source" and data_source is not None:
                value = data_source
            if section == "output" and f.name == "dir" and out_dir is not None:
                value = out_dir
            if f.name == "params":
                for key, param in value.items():
                    lines.append(f"{key} = {_toml_value(param)}")
            elif value is not None:
                lines.append(f"{f.name} = {_toml_value(value)}")
        lines.append("")
    for feature in config.features:
        lines.append("[[features]]")
        lines.append(f"kind = {_toml_value(feature.kind)}")
        for key in ("column", "name"):
            if getattr(feature, key):
                lines.append(f"{key} = {_toml_value(getattr(feature, key))}")
        lines += [f"{key} = {_toml_value(value)}" for key, value in feature.params().items()]
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string
