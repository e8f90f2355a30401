"""Finding plugin classes (strategies, models): a file `dir/x.py:Class` or an entry point.

The rules are the same for every kind of plugin, so they live here once: a relative file is
looked up in each search directory in order (the config's folder, then the working directory);
the file is imported under a private module name so its annotations resolve; an entry point is
looked up in the group `wfbt.<plural>`. Errors are `UserError`s naming the config key.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfbt.errors import UserError, did_you_mean, known


@dataclass(frozen=True)
class Kind:
    """A kind of plugin: `name` as in `[strategy] name`, `plural` as in the entry point group and the
    `strategies/` folder, `is_class`: whether an object is a plugin class of this kind."""

    name: str
    plural: str
    is_class: Callable[[Any], bool]

    @property
    def group(self) -> str:
        return f"wfbt.{self.plural}"


def is_file_spec(name: str) -> bool:
    return ".py:" in name or name.endswith(".py")


def entry_points(kind: Kind) -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=kind.group)}


def class_from_entry_point(name: str, kind: Kind, builtins: Sequence[str]) -> Any:
    found = entry_points(kind)
    if name not in found:
        choices = [*builtins, *found]
        raise UserError(
            f"[{kind.name}] name: unknown {kind.name} '{name}'.{did_you_mean(name, choices)} "
            f"Known: {known(choices)}; or give a file as '{kind.plural}/file.py:ClassName'"
        )
    try:
        return found[name].load()
    except (Exception, SystemExit) as exc:  # exit() in a plugin must not end wfbt silently
        raise UserError(
            f"[{kind.name}] name: entry point '{name}' ({found[name].value}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def class_from_file(spec: str, search_dirs: Sequence[Path], kind: Kind) -> Any:
    path_text, _, class_name = spec.rpartition(":")
    if not path_text.endswith(".py") or not class_name.isidentifier():
        file_part = path_text if path_text.endswith(".py") else spec
        raise UserError(f"[{kind.name}] name: '{spec}' names no class; write it as '{file_part}:ClassName'")
    relative = not Path(path_text).is_absolute()
    candidates = [Path(d) / path_text for d in search_dirs] if relative else [Path(path_text)]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        looked = ", ".join(str(p) for p in candidates)
        raise UserError(f"[{kind.name}] name: {kind.name} file '{path_text}' not found (looked at: {looked})")
    module = import_file(path, kind)
    if class_name not in vars(module):
        defined = defined_classes(module, kind)
        raise UserError(
            f"[{kind.name}] name: no class '{class_name}' in {path}.{did_you_mean(class_name, defined)} "
            f"{kind.plural.capitalize()} defined there: {known(defined) or 'none'}"
        )
    return vars(module)[class_name]


def defined_classes(module: Any, kind: Kind) -> list[str]:
    """Plugin classes the module defines itself (not the ones it imports)."""
    return [k for k, v in vars(module).items() if kind.is_class(v) and v.__module__ == module.__name__]


def import_file(path: Path, kind: Kind) -> Any:
    """Import a plugin file under a private module name, so its annotations resolve."""
    resolved = path.resolve()
    module_name = f"_wfbt_{kind.name}_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:10]}"
    module_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"[{kind.name}] name: cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # exit() in a plugin must not end wfbt silently
        del sys.modules[module_name]
        raise UserError(
            f"[{kind.name}] name: {kind.name} file {path} raised {type(exc).__name__} on import: {exc}"
        ) from exc
    return module


def file_plugins(search_dirs: Sequence[Path], kind: Kind) -> list[tuple[str, Path]]:
    """(`plural/<file>.py`, path) of every file under `<dir>/<plural>/` of each search directory; a
    file name found under two directories comes once, from the first (as loading picks)."""
    seen: dict[str, Path] = {}
    for directory in search_dirs:
        for path in sorted((Path(directory) / kind.plural).glob("*.py")):
            seen.setdefault(f"{kind.plural}/{path.name}", path)
    return list(seen.items())
