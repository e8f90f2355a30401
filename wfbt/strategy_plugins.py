"""Finding strategies by name (`load_strategy`) and listing them (`available_strategies`, `wfbt
list`): built-ins, files `strategies/x.py:Name` next to a config, and installed packages' entry
points in the group `wfbt.strategies`; the discovery itself is shared with models (`wfbt.plugins`).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfbt import plugins
from wfbt.builtin_strategies import BUILTINS
from wfbt.errors import UserError
from wfbt.strategy import MAX_LOOKBACK, Parameter, Strategy, strategy_parameters


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
