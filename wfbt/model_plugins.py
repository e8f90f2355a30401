"""Model plugins: a user's Flax module, found like a strategy, checked before anything trains.

`[model] name = "models/mlp_lags.py:MLPLags"` (a file next to the config, or in the working
directory) or the name of an entry point in the group `wfbt.models`. The module's dataclass
fields are its parameters, set from the other keys of `[model]` (bool, int, float, str; a field
without a default must be given). It is called as `module(x, deterministic=..., dropout_seed=...)`
on scaled inputs x (B, lookback) and returns one forecast per row, (B,); a module that declares a
field `n_outputs` gets 2 with `loss = "gaussian_nll"` and returns (B, 2) (mean, raw variance). With
`[model] horizon` h > 1 it gets n_outputs = h (2h with Gaussian NLL) and returns (B, n_outputs):
the means of steps 1 .. h, then (Gaussian NLL) their h raw variances.
Its parameters are drawn by `wfbt.models.parameter_rule` (docs/models.md), never by its own
initialisers, so a split's draw depends on its seed alone and nothing runs inside `vmap`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from wfbt import hashrng, plugins
from wfbt.config import MODEL_OWN_KEYS, ModelConfig
from wfbt.errors import UserError, did_you_mean, known
from wfbt.models import MODELS, init_params, param_shapes

PARAMETER_TYPES = (bool, int, float, str)
FRAMEWORK_FIELDS = ("parent", "name", "n_outputs")  # set by Flax or by wfbt, not from [model]
CHECK_ROWS = 3  # rows of the dummy input every plugin is run on before training


def _is_model_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, nn.Module) and obj is not nn.Module


KIND = plugins.Kind("model", "models", _is_model_class)


class Plugin(nn.Module):
    """A user's module as the engine calls every model (its parameters live under `module`)."""

    module: nn.Module
    n_outputs: int = 1
    init_scheme: str = "torch"  # the [model] init the parameter rules follow

    def __call__(self, x: jax.Array, deterministic: bool, dropout_seed: jax.Array | None = None) -> jax.Array:
        return self.module(x, deterministic=deterministic, dropout_seed=dropout_seed)


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    default: Any  # dataclasses.MISSING: must be set in [model]


def model_parameters(cls: type) -> dict[str, Parameter]:
    """The parameters a plugin class declares: its dataclass fields other than Flax's and wfbt's own."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        raise UserError(f"model {cls.__name__}: cannot read its parameter annotations ({exc})") from exc
    params = {}
    for f in dataclasses.fields(cls):
        if f.name in FRAMEWORK_FIELDS or not f.init:
            continue
        hint = hints.get(f.name)
        if hint not in PARAMETER_TYPES:
            raise UserError(f"model {cls.__name__} parameter '{f.name}': type {hint!r} is not supported; "
                            "use bool, int, float or str")
        params[f.name] = Parameter(f.name, hint, f.default)
    return params


def _coerce(value: Any, expected: type) -> Any:
    """`value` as `expected`, or None when it is the wrong type (an int is a float; a bool is no int)."""
    if isinstance(value, bool) != (expected is bool):
        return None
    if expected is float and isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return value if isinstance(value, expected) and expected is not float else None


def bind_parameters(cls: type, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `[model]` table's plugin keys checked against the class's fields, defaults filled in."""
    declared = model_parameters(cls)
    for key in raw:
        if key not in declared:
            valid = f"valid parameters: {known(declared)}" if declared else "it takes no parameters"
            raise UserError(f"[model] {key}: unknown parameter of model {cls.__name__}."
                            f"{did_you_mean(key, [*declared, *MODEL_OWN_KEYS])} ({valid})")
    values = {}
    for name, param in declared.items():
        if name not in raw:
            if param.default is dataclasses.MISSING:
                raise UserError(f"[model] {name}: model {cls.__name__} needs this parameter "
                                f"({param.type.__name__}); set it in the [model] table")
            continue
        coerced = _coerce(raw[name], param.type)
        if coerced is None:
            raise UserError(f"[model] {name}: expected {param.type.__name__}, got "
                            f"{type(raw[name]).__name__} ({raw[name]!r})")
        values[name] = coerced
    return values


def plugin_class(name: str, search_dirs: Sequence[Path]) -> type:
    cls = (plugins.class_from_file(name, search_dirs, KIND) if plugins.is_file_spec(name)
           else plugins.class_from_entry_point(name, KIND, list(MODELS)))
    if not _is_model_class(cls):
        raise UserError(f"[model] name: '{name}' is {cls!r}, not a Flax module (a subclass of flax.linen.Module)")
    return cls


def build_plugin(config: ModelConfig, n_outputs: int, search_dirs: Sequence[Path]) -> Plugin:
    """The plugin named in `config`, bound to its parameters and run once on a dummy input: a
    wrong output shape, a non-finite output at the initial parameters or a failing call is a
    `UserError` here, before anything trains."""
    cls = plugin_class(config.name, search_dirs)
    values = bind_parameters(cls, config.params)
    has_outputs = "n_outputs" in {f.name for f in dataclasses.fields(cls)}
    if n_outputs != 1 and not has_outputs:
        needs = ("[model] horizon = {h} needs {n} outputs per row (the next {h} points{nll})".format(
                 h=config.horizon, n=n_outputs, nll=", then their variances" if n_outputs > config.horizon else "")
                 if config.horizon > 1 else "loss = \"gaussian_nll\" needs a mean and a variance")
        raise UserError(f"[model] name: model {cls.__name__} gives one output per row; {needs}: "
                        "declare a field `n_outputs: int = 1` and return (B, n_outputs)")
    try:
        module = cls(**values, **({"n_outputs": n_outputs} if has_outputs else {}))
    except Exception as exc:
        raise UserError(f"[model] name: model {cls.__name__} cannot be built: {type(exc).__name__}: {exc}") from exc
    model = Plugin(module, n_outputs, config.init)
    check_plugin(model, config.lookback, cls.__name__)
    return model


def check_plugin(model: Plugin, lookback: int, name: str) -> None:
    """Run the model on (CHECK_ROWS, lookback) inputs with split 0's initial parameters."""
    expected = (CHECK_ROWS,) if model.n_outputs == 1 else (CHECK_ROWS, model.n_outputs)
    try:
        shapes = param_shapes(model, (lookback,))
        params = jax.tree.map(lambda leaf: leaf[0], init_params(model, (lookback,), hashrng.split_seeds(0, np.arange(1))))
        x = jnp.asarray(np.linspace(0.0, 1.0, CHECK_ROWS * lookback, dtype=np.float32).reshape(CHECK_ROWS, lookback))
        out = model.apply({"params": params}, x, deterministic=True)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"[model] name: model {name} fails on a dummy input ({CHECK_ROWS}, {lookback}): "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if not jax.tree.leaves(shapes):
        raise UserError(f"[model] name: model {name} has no parameters to train")
    if getattr(out, "shape", None) != expected:
        what = "one forecast per row" if model.n_outputs == 1 else f"n_outputs = {model.n_outputs} per row"
        raise UserError(f"[model] name: model {name} returned shape {getattr(out, 'shape', type(out).__name__)} for "
                        f"inputs ({CHECK_ROWS}, {lookback}); it must return {expected}: {what}")
    if not np.isfinite(np.asarray(out)).all():
        raise UserError(f"[model] name: model {name} returned NaN/inf at its initial parameters on a dummy input "
                        f"({CHECK_ROWS}, {lookback}); check the parameter rule in docs/models.md")


@dataclass(frozen=True)
class ModelInfo:
    """What `wfbt list` shows about one model."""

    name: str
    source: str  # "built-in", "file" or "entry point (<distribution>)"
    summary: str
    parameters: str


def available_models(search_dirs: Sequence[Path] = ()) -> list[ModelInfo]:
    """Built-ins, then every module class in `<dir>/models/*.py`, then entry points in `wfbt.models`;
    one that fails to load is listed with why."""
    shared = "hidden_size, num_layers, dense_size, dropout, init"
    infos = [ModelInfo(name, "built-in", _summary(cls), shared + (", heads" if name == "attention" else ""))
             for name, cls in MODELS.items()]
    for file_name, path in plugins.file_plugins(search_dirs, KIND):
        try:
            module = plugins.import_file(path, KIND)
        except UserError as exc:
            infos.append(ModelInfo(file_name, "file", f"cannot load: {exc}", "-"))
            continue
        for class_name in plugins.defined_classes(module, KIND):
            infos.append(_info(f"{file_name}:{class_name}", "file", vars(module)[class_name]))
    for name, entry_point in sorted(plugins.entry_points(KIND).items()):
        source = f"entry point ({entry_point.dist.name if entry_point.dist is not None else 'unknown package'})"
        try:
            infos.append(_info(name, source, plugin_class(name, ())))
        except UserError as exc:
            infos.append(ModelInfo(name, source, f"cannot load: {exc}", "-"))
    return infos


def _info(name: str, source: str, cls: type) -> ModelInfo:
    try:
        params = model_parameters(cls).values()
    except UserError as exc:
        return ModelInfo(name, source, f"cannot load: {exc}", "-")
    text = ", ".join(f"{p.name}: {p.type.__name__}" + ("" if p.default is dataclasses.MISSING else f" = {p.default!r}")
                     for p in params)
    return ModelInfo(name, source, _summary(cls), text or "-")


def _summary(cls: type) -> str:
    lines = (cls.__doc__ or "").strip().splitlines()
    return lines[0] if lines else cls.__name__
