"""`wfbt sweep CONFIG`: every combination of the `[sweep]` table's lists, trained side by side.

    [sweep]
    train.learning_rate = [0.001, 0.003]
    train.seed = [0, 1]

Trials are the Cartesian product, numbered 000, 001, ... in the table's order (the last key
varies fastest). Trials whose configs differ only in numbers the training program takes as
per-split inputs (`BATCHED`: learning rate, seed, patience, epochs, weight decay, clip norm,
momentum, warm-up steps) train in ONE compiled program, their splits side by side in every chunk;
any other difference (lookback, hidden size, layers, dropout, window lengths, scaling...) gets a
program of its own. Trials that differ only in what changes no saved number (the strategy,
baselines) train once and share their raw outputs. Each trial is an ordinary run directory
`RUN_DIR/trials/<id>/` whose numbers equal `wfbt run` of its `config.toml`, bit for bit on CPU;
`RUN_DIR/trials.csv` has one row per trial. A killed sweep resumes: each trial's store keeps its
finished chunks.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from wfbt import rundir
from wfbt.api import Experiment, Member, ProgressFn, Results, open_store, compute, make_trainer, prepare
from wfbt.api import run_directory, train_missing
from wfbt.config import SECTIONS, Config, config_from_dict, load_raw, to_toml
from wfbt.engine import choose_chunk_size
from wfbt.errors import UserError, did_you_mean, known
from wfbt.store import fingerprinted_settings, identity

# numbers that enter the training program as per-split inputs: trials differing only in them
# share a program. Whether weight decay, clipping, momentum or warm-up is on at all changes the
# optimizer chain's transforms, so that is structure (see `structure`).
BATCHED = ("train.learning_rate", "train.seed", "train.patience", "train.epochs", "train.weight_decay",
           "train.clip_norm", "train.momentum", "train.warmup_steps")
SWITCHES = ("train.weight_decay", "train.clip_norm", "train.momentum", "train.warmup_steps")
TRIALS = "trials"
TRIALS_CSV = "trials.csv"


@dataclass(frozen=True)
class Trial:
    id: str  # "000", "001", ...
    values: dict[str, Any]  # "section.key" -> the value this trial takes
    config: Config


def sweep_grid(table: Any, path: Path) -> dict[str, list[Any]]:
    """The `[sweep]` table as "section.key" -> values, checked: known keys, non-empty lists."""
    if not isinstance(table, dict) or not table:
        raise UserError(f"{path}: a sweep needs a [sweep] table of lists, e.g. train.learning_rate = [0.001, 0.003].")
    grid: dict[str, list[Any]] = {}
    for section, keys in table.items():
        if section not in SECTIONS:
            raise UserError(f"{path}: [sweep] {section}: unknown section.{did_you_mean(section, SECTIONS)} "
                            f"Write keys as section.key, e.g. train.learning_rate = [0.001, 0.003].")
        if not isinstance(keys, dict):
            raise UserError(f"{path}: [sweep] {section}: write keys as {section}.key = [values].")
        names = [f.name for f in dataclasses.fields(SECTIONS[section])]
        for key, values in keys.items():
            if section != "strategy" and key not in names:
                raise UserError(f"{path}: [sweep] {section}.{key}: unknown key.{did_you_mean(key, names)} "
                                f"Known keys: {known(names)}.")
            if not isinstance(values, list) or not values:
                raise UserError(f"{path}: [sweep] {section}.{key}: expected a non-empty list of values, "
                                f"got {json.dumps(values, default=str)}.")
            grid[f"{section}.{key}"] = values
    return grid


def expand(raw: dict[str, Any], grid: dict[str, list[Any]], path: Path,
           overridden: set[tuple[str, str]] = frozenset()) -> list[Trial]:
    """Every combination of the grid's values over the base config `raw`, each validated."""
    trials = []
    combinations = list(itertools.product(*grid.values()))
    width = max(3, len(str(len(combinations) - 1)))
    for number, combination in enumerate(combinations):
        values = dict(zip(grid, combination))
        trial_raw = copy.deepcopy({k: v for k, v in raw.items() if k != "sweep"})
        for key, value in values.items():
            section, name = key.split(".", 1)
            trial_raw.setdefault(section, {})[name] = value
        try:
            config = config_from_dict(trial_raw, path, overridden)
        except UserError as exc:
            shown = ", ".join(f"{k} = {json.dumps(v, default=str)}" for k, v in values.items())
            raise UserError(f"[sweep] trial {number:0{width}d} ({shown}): {exc}") from None
        trials.append(Trial(f"{number:0{width}d}", values, config))
    return trials


def structure(config: Config) -> str:
    """What a compiled program depends on: every fingerprinted setting but the batched numbers,
    and whether each optional transform of the optimizer chain is on."""
    settings = fingerprinted_settings(config)
    key = {k: v for k, v in settings.items() if k not in BATCHED}
    key |= {f"{k} on": bool(settings.get(k, 0)) for k in SWITCHES}  # a key at its default is absent
    return json.dumps(key, sort_keys=True, default=str)


@dataclass(frozen=True)
class SweepResults:
    run_dir: Path
    trials: list[Trial]
    table: pl.DataFrame  # trials.csv
    results: list[Results]
    programs: int  # compiled training programs (groups of trials)


def run_sweep(path: Path, overrides: Sequence[str] = (), out_dir: str | Path | None = None,
              overwrite: bool = False, progress: ProgressFn | None = None,
              log: Callable[[str], None] | None = None) -> SweepResults:
    """Run every trial of the config's `[sweep]` grid; write each trial's run directory and trials.csv."""
    raw, overridden = load_raw(path, overrides)
    grid = sweep_grid(raw.get("sweep"), path)
    base = config_from_dict(raw, path, overridden)
    out = Path(out_dir) if out_dir else run_directory(base)
    trials = expand(raw, grid, path, overridden)
    experiments = [prepare(dataclasses.replace(t.config, output=dataclasses.replace(
        t.config.output, dir=str(out / TRIALS / t.id)))) for t in trials]
    groups: dict[str, list[int]] = {}
    for index, trial in enumerate(trials):
        groups.setdefault(structure(trial.config), []).append(index)
    results: list[Results | None] = [None] * len(trials)
    seconds: list[float] = [0.0] * len(trials)
    for indices in groups.values():
        group = _share_program([experiments[i] for i in indices])
        started = time.perf_counter()
        stores = [open_store(e, out / TRIALS / trials[i].id, overwrite) for i, e in zip(indices, group)]
        for store in stores:
            store.tell(log)
        members = _members(group, stores)
        first = group[0]
        chunk = choose_chunk_size(len(np.unique(first.plan.refit_from)), first.devices, first.config.engine.chunk_size)
        sessions = train_missing([m for m, _ in members], chunk, progress)
        trained = {id(store): session for (_, owners), session in zip(members, sessions) for store in owners}
        train_seconds = time.perf_counter() - started
        for i, experiment, store in zip(indices, group, stores):
            mark = time.perf_counter()
            trial_dir = out / TRIALS / trials[i].id
            result = compute(experiment, store, session=trained[id(store)], run_dir=trial_dir)
            rundir.write_run(result, trial_dir, to_toml(experiment.config, data_source=experiment.prices.source,
                                                        out_dir=str(trial_dir.resolve())))
            results[i] = result
            seconds[i] = train_seconds / len(indices) + time.perf_counter() - mark
    table = trials_table(trials, grid, results, seconds)
    rundir.write_csv_atomic(out / TRIALS_CSV, table)
    return SweepResults(out, trials, table, results, len(groups))


def _share_program(group: list[Experiment]) -> list[Experiment]:
    """The group's experiments with one trainer, compiled for the longest training among them."""
    first = group[0]
    epochs = max(e.settings.epochs for e in group)
    trainer = make_trainer(first.config, first.trainer.model, dataclasses.replace(first.settings, epochs=epochs),
                           first.devices)
    return [dataclasses.replace(e, trainer=trainer) for e in group]


def _members(group: list[Experiment], stores: list) -> list[tuple[Member, tuple]]:
    """One member per distinct experiment identity: trials that differ only in settings that change
    no saved number (strategy, baselines) train once and all of their stores take the results."""
    by_identity: dict[str, list[int]] = {}
    for position, experiment in enumerate(group):
        key = identity(experiment.config, experiment.prices.dates, experiment.prices.values, {}).fingerprint
        by_identity.setdefault(key, []).append(position)
    members = []
    for positions in by_identity.values():
        owners = tuple(stores[p] for p in positions)
        members.append((Member(group[positions[0]], owners), owners))
    return members


def trials_table(trials: list[Trial], grid: dict[str, list[Any]], results: list[Results],
                 seconds: list[float]) -> pl.DataFrame:
    """One row per trial: its swept values, then the headline walk-forward figures."""
    rows = []
    for trial, result, trial_seconds in zip(trials, results, seconds):
        summary = result.summary
        rmse = summary["describe"]["val"]["rmse_price"]
        dm = summary.get("dm_test", {}).get("naive", {})
        row = {"trial": trial.id, **{key: _cell(trial.values[key]) for key in grid},
               "val_rmse_price_median": rmse["50%"], "val_rmse_price_iqr": rmse["75%"] - rmse["25%"],
               "beats_naive": summary.get("model_beats_share", {}).get("naive"),
               "dm_naive_statistic": dm.get("statistic"), "dm_naive_p_value": dm.get("p_value")}
        if "strategy" in summary:
            row["sharpe"] = summary["strategy"]["figures"]["sharpe"]
        row["seconds"] = trial_seconds
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def _cell(value: Any) -> Any:
    """A swept value as a CSV cell: lists as their TOML text, numbers and strings as they are."""
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)
