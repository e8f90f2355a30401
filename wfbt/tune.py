"""`wfbt tune CONFIG`: an Optuna search over `[tune.space]`, nested in the walk-forward.

    [tune]
    trials = 20
    holdout = 0.3                    # share of the last splits the search never sees
    [tune.space]
    train.learning_rate = { low = 0.0001, high = 0.01, log = true }
    model.hidden_size = [32, 50, 64] # a list: categorical

The splits are cut in two periods. The **holdout** is the last `holdout` share of the splits; the
**tuning** splits are the earlier ones whose validation and after-validation (P&L) points all lie
before the first holdout validation point (splits in between are used by neither). The search
trains and scores trials on tuning splits only, so nothing it chooses has seen a holdout point;
holdout training windows may reach back into the tuning period, which is the past. The best
config is then run once over every split, and its holdout figures are reported beside the naive
forecast's on the same splits and beside its own tuning score: the gap is the search's optimism.

Trials are asked `batch` at a time (Optuna's ask-and-tell, TPE seeded with `seed`); those that
share a structure train side by side in one compiled program, as a sweep's trials do. Each trial
reports its objective after a quarter, half and all of the tuning splits, and Optuna's median
pruner stops the poor ones early. The study lives in `RUN_DIR/study.db` (SQLite): a killed tune
resumes, a trial cut short is asked again with the same parameters and resumes from its saved
chunks, and several processes may share the study.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from wfbt import rundir, tables
from wfbt.api import Experiment, Member, ProgressFn, Results, open_store, make_trainer, prepare, run_directory
from wfbt.api import run_experiment
from wfbt.api import split_windows, train_missing, window_bytes
from wfbt.config import Config, config_from_dict, load_raw
from wfbt.engine import Trainer, choose_chunk_size
from wfbt.errors import UserError, did_you_mean, known
from wfbt.evaluation import dm_test, share_better
from wfbt.splits import SplitPlan
from wfbt.store import PARTIAL
from wfbt.summary import one_step_series
from wfbt.sweep import structure, sweep_grid

OBJECTIVES = {  # name -> (per-split column, reducer over splits); lower is better
    "median_val_mse": ("val_mse", np.nanmedian),
    "mean_val_mse": ("val_mse", np.nanmean),
    "median_val_rmse_price": ("val_rmse_price", np.nanmedian),
}
STAGES = (0.25, 0.5, 1.0)  # shares of the tuning splits after which a trial reports (pruning)
STUDY = "study.db"
TUNE_JSON = "tune.json"


@dataclass(frozen=True)
class Dimension:
    kind: str  # "float" | "int" | "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TuneSpec:
    trials: int
    holdout: float
    objective: str
    batch: int
    seed: int
    space: dict[str, Dimension]  # "section.key" -> its dimension


def tune_spec(table: Any, path: Path) -> TuneSpec:
    """The `[tune]` table, checked, with its defaults."""
    if not isinstance(table, dict) or not isinstance(table.get("space"), dict) or not table["space"]:
        raise UserError(f"{path}: tuning needs a [tune.space] table, e.g. "
                        f"train.learning_rate = {{ low = 0.0001, high = 0.01, log = true }}.")
    own = {"trials": 20, "holdout": 0.3, "objective": "median_val_mse", "batch": 4, "seed": 0}
    for key in table:
        if key != "space" and key not in own:
            raise UserError(f"{path}: [tune] {key}: unknown key.{did_you_mean(key, [*own, 'space'])} "
                            f"Known keys: {known([*own, 'space'])}.")
    values = {**own, **{k: v for k, v in table.items() if k != "space"}}
    for key in ("trials", "batch", "seed"):
        if isinstance(values[key], bool) or not isinstance(values[key], int) or values[key] < (0 if key == "seed" else 1):
            raise UserError(f"{path}: [tune] {key}: expected a whole number of at least "
                            f"{0 if key == 'seed' else 1}, got {json.dumps(values[key])}.")
    holdout = values["holdout"]
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise UserError(f"{path}: [tune] holdout: expected a share between 0 and 1 (e.g. 0.3), got {json.dumps(holdout)}.")
    if values["objective"] not in OBJECTIVES:
        raise UserError(f"{path}: [tune] objective: {json.dumps(values['objective'])} is not one of "
                        f"{known(OBJECTIVES)}.{did_you_mean(str(values['objective']), OBJECTIVES)}")
    # the space's keys are checked like a sweep's; each value is a range or a list of choices
    as_lists = {section: {k: v if isinstance(v, list) else [v] for k, v in keys.items()} if isinstance(keys, dict)
                else keys for section, keys in table["space"].items()}
    grid = sweep_grid(as_lists, path)
    space = {key: _dimension(key, choices, path) for key, choices in grid.items()}
    return TuneSpec(values["trials"], float(holdout), values["objective"], values["batch"], values["seed"], space)


def _dimension(key: str, values: list[Any], path: Path) -> Dimension:
    where = f"{path}: [tune.space] {key}"
    if len(values) == 1 and isinstance(values[0], dict):  # a range
        spec = values[0]
        unknown = [k for k in spec if k not in ("low", "high", "log")]
        if unknown:
            raise UserError(f"{where}: unknown key '{unknown[0]}' in the range; use low, high and log.")
        low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low < high or not isinstance(log, bool) or (log and low <= 0):
            raise UserError(f"{where}: a range needs numbers low < high (both > 0 with log = true), "
                            f"got {json.dumps(spec)}.")
        kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        return Dimension(kind, low, high, log)
    return Dimension("categorical", choices=tuple(values))


def periods(plan: SplitPlan, step: int, holdout: float) -> tuple[int, int]:
    """(tuning splits, first holdout split): the holdout is the last `holdout` share of the splits;
    a tuning split's validation and after-validation points all lie before the holdout's first
    validation point."""
    n = len(plan)
    first = n - max(1, round(holdout * n))
    touched = plan.val_stop + step  # exclusive end of each split's validation and P&L points
    tuning = int(np.searchsorted(touched, plan.val_start[first], side="right"))
    if tuning < 1 or first < 1:
        raise UserError(f"[tune] holdout: {holdout} of {n} splits leaves no tuning split before the holdout; "
                        f"use more splits or a smaller holdout.")
    return tuning, first


@dataclass(frozen=True)
class TuneResults:
    run_dir: Path
    report: dict[str, Any]  # tune.json
    trials: pl.DataFrame  # trials.csv
    holdout: Results


def run_tune(path: Path, overrides: Sequence[str] = (), out_dir: str | Path | None = None,
             overwrite: bool = False, progress: ProgressFn | None = None,
             log: Callable[[str], None] | None = None) -> TuneResults:
    optuna = _optuna()
    raw, overridden = load_raw(path, overrides)
    spec = tune_spec(raw.get("tune"), path)
    base = config_from_dict(raw, path, overridden)
    if "naive" not in base.evaluation.baselines:
        raise UserError(f"{path}: [evaluation] baselines: tuning reports the holdout beside the naive forecast; "
                        f"keep \"naive\" in the list.")
    out = Path(out_dir) if out_dir else run_directory(base)
    if overwrite and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    full = prepare(base)
    tuning, first_holdout = periods(full.plan, base.splits.step, spec.holdout)
    stages = sorted({max(1, math.ceil(share * tuning)) for share in STAGES})
    study = optuna.create_study(
        study_name="wfbt", storage=f"sqlite:///{out / STUDY}", load_if_exists=True, direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=max(2, spec.batch), n_warmup_steps=0))
    _requeue_cut_short(study, optuna)
    trainers: dict[str, Trainer] = {}
    while (finished := _finished(study, optuna)) < spec.trials:
        asked = [study.ask() for _ in range(min(spec.batch, spec.trials - finished))]
        chosen = [_suggest(trial, spec.space) for trial in asked]
        _run_batch(study, optuna, asked, chosen, raw, path, overridden, out, stages, spec, trainers, progress, log)
    best = study.best_trial
    holdout = _holdout(base, raw, path, overridden, best, out, log)
    report = {
        "objective": spec.objective, "trials": spec.trials, "holdout_share": spec.holdout,
        "tuning_splits": {"first": 0, "last": tuning - 1, "count": tuning,
                          "first_val_date": str(full.prices.date_text(full.plan.val_start[0])),
                          "last_val_date": str(full.prices.date_text(full.plan.val_stop[tuning - 1] - 1))},
        "holdout_splits": {"first": first_holdout, "last": len(full.plan) - 1, "count": len(full.plan) - first_holdout,
                           "first_val_date": str(full.prices.date_text(full.plan.val_start[first_holdout])),
                           "last_val_date": str(full.prices.date_text(full.plan.val_stop[-1] - 1))},
        "best": {"trial": best.number, "params": best.params, "tuning_score": best.value},
        "holdout": holdout_figures(holdout, first_holdout, spec.objective),
        "states": {state.name.lower(): sum(t.state == state for t in study.trials) for state in optuna.trial.TrialState},
    }
    report["optimism"] = report["holdout"]["model"] - best.value
    rundir.write_json_atomic(out / TUNE_JSON, report)
    table = trials_table(study, optuna)
    rundir.write_csv_atomic(out / "trials.csv", table)
    return TuneResults(out, report, table, holdout)


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - a dependency of wfbt
        raise UserError("wfbt tune needs Optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _finished(study, optuna) -> int:
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in done for t in study.trials)


def _requeue_cut_short(study, optuna) -> None:
    """Trials left running by a killed tune: failed, and asked again with the same parameters
    (their saved chunks are found again by their parameters)."""
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # enqueue_trial's experimental notes
                study.enqueue_trial(trial.params, skip_if_exists=False)


def _suggest(trial, space: dict[str, Dimension]) -> dict[str, Any]:
    chosen = {}
    for key, dim in space.items():
        if dim.kind == "float":
            chosen[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
        elif dim.kind == "int":
            chosen[key] = trial.suggest_int(key, dim.low, dim.high, log=dim.log)
        else:
            chosen[key] = trial.suggest_categorical(key, list(dim.choices))
    return chosen


def trial_config(raw: dict[str, Any], params: dict[str, Any], path: Path, overridden, max_splits: int | None) -> Config:
    trial_raw = copy.deepcopy({k: v for k, v in raw.items() if k not in ("sweep", "tune")})
    for key, value in params.items():
        section, name = key.split(".", 1)
        trial_raw.setdefault(section, {})[name] = value
    if max_splits is not None:
        trial_raw.setdefault("splits", {})["max_splits"] = max_splits
    try:
        return config_from_dict(trial_raw, path, overridden)
    except UserError as exc:
        raise UserError(f"[tune.space] {json.dumps(params, default=str)}: {exc}") from None


def trial_folder(out: Path, params: dict[str, Any]) -> Path:
    """A trial's folder, named by its parameters: asked again after a kill, it finds its chunks."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return out / "trials" / digest


def _run_batch(study, optuna, asked, chosen, raw, path, overridden, out, stages, spec, trainers, progress, log) -> None:
    alive = list(range(len(asked)))
    values: dict[int, float] = {}
    for stage, count in enumerate(stages):
        experiments = {i: prepare(trial_config(raw, chosen[i], path, overridden, count)) for i in alive}
        stores = {i: open_store(experiments[i], trial_folder(out, chosen[i]), overwrite=False) for i in alive}
        for store in stores.values():
            store.tell(log)
        groups: dict[str, list[int]] = {}
        for i in alive:
            groups.setdefault(structure(experiments[i].config), []).append(i)
        for key, indices in groups.items():
            trainer = trainers.get(key) or _trainer_for(experiments[indices[0]], spec)
            trainers[key] = trainer
            shared = {i: dataclasses.replace(experiments[i], trainer=trainer) for i in indices}
            members = [Member(shared[i], (stores[i],)) for i in indices]
            first = shared[indices[0]]
            chunk = choose_chunk_size(len(np.unique(first.plan.refit_from)), first.devices,
                                      first.config.engine.chunk_size)
            train_missing(members, chunk, progress)
        for i in list(alive):
            value = objective_value(experiments[i], stores[i], spec.objective)
            if not math.isfinite(value):
                study.tell(asked[i], state=optuna.trial.TrialState.FAIL)
                alive.remove(i)
                continue
            values[i] = value
            asked[i].report(value, stage)
            if stage + 1 < len(stages) and asked[i].should_prune():
                study.tell(asked[i], state=optuna.trial.TrialState.PRUNED)
                alive.remove(i)
    for i in alive:
        study.tell(asked[i], values[i])


def _trainer_for(experiment: Experiment, spec: TuneSpec) -> Trainer:
    """A program for one structure, compiled for the most epochs the space allows."""
    dim = spec.space.get("train.epochs")
    most = max([experiment.settings.epochs] + ([int(dim.high)] if dim and dim.kind == "int" else
                                               [int(c) for c in dim.choices] if dim else []))
    return make_trainer(experiment.config, experiment.trainer.model,
                        dataclasses.replace(experiment.settings, epochs=most), experiment.devices)


def objective_value(experiment: Experiment, store, objective: str) -> float:
    """The objective over the experiment's splits, from the saved raw outputs (no baselines)."""
    raw = store.load(len(experiment.plan))
    evaluated = tables.evaluate(raw, lambda ids: split_windows(experiment, ids), experiment.prices.values,
                                experiment.plan, [], window_bytes(experiment))
    column, reduce = OBJECTIVES[objective]
    values = evaluated[column]
    return float(reduce(values)) if np.isfinite(values).any() else math.inf


def _holdout(base: Config, raw, path, overridden, best, out: Path, log) -> Results:
    """The best config over every split, once: resumed from its trial's chunks of the tuning splits."""
    folder = out / "holdout"
    config = trial_config(raw, best.params, path, overridden, base.splits.max_splits)
    source = trial_folder(out, best.params) / PARTIAL
    if not (folder / PARTIAL).exists() and source.exists():
        shutil.copytree(source, folder / PARTIAL)  # the same experiment: only the later splits train
    return run_experiment(config, out_dir=folder, log=log)


def holdout_figures(results: Results, first: int, objective: str) -> dict[str, Any]:
    """The objective, median RMSE and wins of the model and the naive forecast on the holdout
    splits only, and the Diebold-Mariano test on their one-step forecasts."""
    splits = results.splits.filter(results.splits["split"] >= first)
    column, reduce = OBJECTIVES[objective]
    naive_column = {"val_mse": "naive_val_mse", "val_rmse_price": "naive_val_rmse_price"}[column]
    stitched = one_step_series(results.predictions.filter(results.predictions["split"] >= first))
    dm = dm_test(stitched["actual"].to_numpy(), stitched["forecast"].to_numpy(), stitched["naive_forecast"].to_numpy())
    return {
        "model": float(reduce(splits[column].to_numpy())),
        "naive": float(reduce(splits[naive_column].to_numpy())),
        "model_median_rmse_price": float(np.nanmedian(splits["val_rmse_price"].to_numpy())),
        "naive_median_rmse_price": float(np.nanmedian(splits["naive_val_rmse_price"].to_numpy())),
        "beats_naive": share_better(splits["val_mse"].to_numpy(), splits["naive_val_mse"].to_numpy()),
        "dm_naive": dm,
    }


def trials_table(study, optuna) -> pl.DataFrame:
    rows = [{"trial": t.number, "state": t.state.name.lower(), "value": t.value,
             **{k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in t.params.items()},
             "folder": trial_folder(Path(""), t.params).as_posix()} for t in study.trials]
    return pl.DataFrame(rows, infer_schema_length=None)
