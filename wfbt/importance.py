"""Permutation importance of each model input, per split, on its validation window.

For split s and input column f, the delta is the split's validation MSE (scaled units of the
target, as `val_mse`) with column f permuted across the validation samples, minus the MSE
without: a permutation moves the whole lookback window of that input from one validation sample
to another, so the input no longer lines up with its target while keeping its distribution. The
delta is the mean over `[evaluation] importance_repeats` permutations. Positive: the model relies on
the input; near zero: it does not; negative: shuffling it happened to help.

The deltas are computed with each split's final (restored-best) parameters right after its chunk
trains, in one vmapped program over the chunk (every permuted copy of the validation inputs
through one forward pass per split), compiled once per run. The permutations are drawn on the
host from the split's own seed words (`wfbt.hashrng`, stream `STREAM`), so a split's deltas never
depend on its chunk or device. They are saved as the raw output `importance` (`wfbt.schema.RAW`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wfbt import hashrng, schema
from wfbt.config import Config
from wfbt.data import SAMPLE_PREFIX, PriceSeries
from wfbt.evaluation import describe
from wfbt.features import horizon_mask
from wfbt.models import split_outputs

STREAM = 2  # of a split's seed words: 0 initialises, 1 trains (wfbt.engine.Trainer.seeds), 2 permutes
UNIT = "validation MSE increase, scaled units of the target"


def wanted(config: Config, prices: PriceSeries) -> bool:
    """Whether the run computes importance: `[evaluation] importance`, "auto" meaning with two or
    more model inputs (with one, the delta says only how much the model uses its input at all)."""
    setting = config.evaluation.importance
    return len(feature_names(prices)) >= 2 if setting == "auto" else bool(setting)


def feature_names(prices: PriceSeries) -> tuple[str, ...]:
    """One name per model input, as `wfbt inspect --features` names the columns; the target alone
    without [[features]]."""
    return tuple(prices.input_names) or (prices.target,)


def ticker_name(source: str, tickers: tuple[str, ...] = ()) -> str:
    """The ticker of a data source: AAPL for sample:AAPL, the one ticker `[data] tickers` picks
    from a long file, a file's stem, "data" for a DataFrame."""
    if len(tickers) == 1:
        return tickers[0]
    if source.startswith(SAMPLE_PREFIX):
        return source[len(SAMPLE_PREFIX):]
    return Path(source).stem if source != "DataFrame" else "data"


def permutations(seed: int, splits: np.ndarray, n_inputs: int, repeats: int, n_val: int) -> np.ndarray:
    """(S, F, R, V) int32: for each split, input and repeat, a permutation of the validation samples,
    from the seed and the split index alone (repeat r of input f is the same whatever `repeats`)."""
    words = hashrng.derive(hashrng.split_seeds(seed, splits), STREAM, np)  # (S, 2)
    by_input = hashrng.derive(words[:, None, :], np.arange(n_inputs), np)  # (S, F, 2)
    by_repeat = hashrng.derive(by_input[:, :, None, :], np.arange(repeats), np)  # (S, F, R, 2)
    keys = hashrng.bits(by_repeat[..., None, :], np.arange(n_val, dtype=np.uint32), np)  # (S, F, R, V)
    return np.argsort(keys, axis=-1, kind="stable").astype(np.int32)


def make_split_importance(model: Any):
    """The per-split function: (params, x_val (V, L) or (V, L, F), y_val (V,) or (V, h), perms (F, R, V)) -> (F,).

    With a horizon h > 1 the MSE is over every forecast step whose target is inside the window."""

    def split_importance(params, x_val, y_val, perms):
        columns = x_val if x_val.ndim == 3 else x_val[..., None]  # (V, L, F)
        n_inputs, repeats, n_val = perms.shape
        which = jnp.arange(n_inputs)

        def permuted(f, perm):  # column f of sample v taken from sample perm[v]; the other columns stay
            return jnp.where(which == f, columns[perm], columns)

        copies = jax.vmap(lambda f, p: jax.vmap(lambda q: permuted(f, q))(p))(which, perms)  # (F, R, V, L, F)
        inputs = jnp.concatenate([columns[None], copies.reshape(n_inputs * repeats, *columns.shape)])
        inputs = inputs.reshape(-1, *columns.shape[1:])
        if x_val.ndim == 2:
            inputs = inputs[..., 0]
        horizon = 1 if y_val.ndim == 1 else y_val.shape[-1]
        mean, _ = split_outputs(model.apply({"params": params}, inputs, deterministic=True), horizon)
        error = (mean.reshape(-1, *y_val.shape) - y_val) ** 2  # the original, then every copy
        if y_val.ndim == 1:
            mse = jnp.mean(error, axis=-1)
        else:  # [model] horizon h > 1: (V, h) targets, those past the validation window masked out
            mask = horizon_mask(*y_val.shape)
            mse = jnp.sum(jnp.where(mask, error, 0.0), axis=(1, 2)) / mask.sum()
        return jnp.mean(mse[1:].reshape(n_inputs, repeats), axis=-1) - mse[0]

    return split_importance


class Program:
    """`make_split_importance` vmapped over splits and jitted once, sharded like the trainer's."""

    def __init__(self, model: Any, devices: list, call_size: int | None):
        self.call_size = call_size
        self.sharding = NamedSharding(Mesh(np.array(devices), ("splits",)), PartitionSpec("splits"))
        self._run = jax.jit(jax.vmap(make_split_importance(model)), in_shardings=self.sharding,
                            out_shardings=self.sharding)

    def __call__(self, params: Any, x_val: np.ndarray, y_val: np.ndarray, perms: np.ndarray) -> np.ndarray:
        """(S, F) deltas; on CPU in calls of `call_size` splits, as the trainer trains them, so one
        program serves every chunk and a split's numbers do not depend on the chunk."""
        count = len(x_val)
        size = self.call_size or count
        index = np.minimum(np.arange(math.ceil(count / size) * size), count - 1)
        parts = []
        # on the host: indexing device arrays dispatches one gather per leaf and call (~70 ms each
        # on 2 busy cores, measured: most of a 988-split run's time); NumPy slices cost nothing
        params = jax.device_get(params)
        for i in range(0, len(index), size):
            part = index[i:i + size]
            params_part = jax.tree.map(lambda leaf, rows=part: leaf[rows], params)
            args = [jax.device_put(a, self.sharding) for a in (params_part, x_val[part], y_val[part], perms[part])]
            parts.append(np.asarray(jax.device_get(self._run(*args))))
        return np.concatenate(parts)[:count]


_PROGRAMS: dict[int, tuple[Any, Program]] = {}  # by trainer: one compiled program per run (and per sweep group)


def program_for(trainer: Any) -> Program:
    """The importance program of a trainer (the engine's `Trainer` or a `RayTrainer`: it runs here)."""
    key = id(trainer)
    if key not in _PROGRAMS or _PROGRAMS[key][0] is not trainer:
        _PROGRAMS[key] = (trainer, Program(trainer.model, trainer.devices, trainer.call_size))
    return _PROGRAMS[key][1]


def split_deltas(trainer: Any, config: Config, params: Any, windows: Any) -> np.ndarray:
    """(S, F) deltas of the splits in `windows` with their final `params` (stacked per split)."""
    x_val = windows.x_val
    n_inputs = 1 if x_val.ndim == 3 else x_val.shape[-1]
    perms = permutations(config.train.seed, windows.split, n_inputs, config.evaluation.importance_repeats,
                         x_val.shape[1])
    return program_for(trainer)(params, x_val, windows.y_val, perms).astype(np.float32)


# ---------------------------------------------------------------- tables


def importance_table(raw: dict[str, np.ndarray], prices: PriceSeries, tickers: tuple[str, ...] = ()) -> pl.DataFrame:
    """importance.csv: one row per (split, input), in split then input order; a failed split's
    deltas are NaN."""
    names = feature_names(prices)
    splits = raw["split"]
    deltas = np.where(raw["failed"][:, None], np.nan, raw["importance"].astype(np.float64))
    columns = {
        "split": np.repeat(splits, len(names)),
        "ticker": np.full(len(splits) * len(names), ticker_name(prices.source, tickers)),
        "feature": np.tile(np.asarray(names, dtype=object), len(splits)).astype(str),
        "delta": deltas.ravel(),
    }
    return pl.DataFrame({name: columns[name] for name in schema.column_names(schema.IMPORTANCE, [])})


def importance_summary(table: pl.DataFrame, repeats: int) -> dict[str, Any]:
    """Per input, the distribution of its deltas over splits (describe() and the share of splits
    where shuffling it made the forecasts worse), inputs sorted by mean delta, largest first."""
    rows = []
    for feature in table["feature"].unique(maintain_order=True).to_list():
        deltas = table.filter(pl.col("feature") == feature)["delta"].to_numpy()
        finite = deltas[np.isfinite(deltas)]
        share = float((finite > 0).mean()) if len(finite) else float("nan")
        rows.append({"feature": feature, **describe(deltas), "positive_share": share})
    rows.sort(key=lambda row: -row["mean"] if math.isfinite(row["mean"]) else math.inf)
    return {"unit": UNIT, "repeats": repeats, "features": rows}
