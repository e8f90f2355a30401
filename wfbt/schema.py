"""Every per-split output, declared once.

Two kinds of things leave a split:

- **raw outputs** (`RAW`): what training returns (scaled forecasts, variances, loss curves,
  epochs, status). Only these are saved in the chunk store; a chunk that lacks one, or was saved
  by another `FORMAT`, is retrained rather than misread.
- **table columns** (`COLUMNS`): everything the CSVs show. They are computed from the raw outputs
  and the data every time tables are made, so a new metric or baseline is one more line here and
  in `wfbt.tables`, and never needs a retrain or breaks a resume.

A column whose name holds `{baseline}` is repeated for every baseline the run compares against;
one whose name holds `{step}` only exists with `[model] horizon` h > 1 and is repeated for each
forecast step k = 2 .. h (step 1 keeps the plain columns, so an h = 1 run's tables are unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT = "raw-1"  # what a saved chunk holds; bump when RAW changes meaning


@dataclass(frozen=True)
class Raw:
    """One raw training output, saved per split."""

    name: str
    dtype: str  # numpy dtype of the saved array
    axis: str  # per split: "" one value, "val" / "train" / "test" one per point (then one per
    # forecast step on a last axis when [model] horizon > 1), "epoch" one per epoch,
    # "input" one per model input
    doc: str
    optional: bool = False  # only some runs have it (variances: loss = "gaussian_nll"; importance)


RAW: tuple[Raw, ...] = (
    Raw("split", "int64", "", "split index"),
    Raw("val_pred", "float32", "val", "forecasts of the validation points, scaled"),
    Raw("val_var", "float32", "val", "predictive variances of the validation points, scaled", optional=True),
    Raw("train_pred", "float32", "train", "in-sample forecasts of the training samples, scaled, zero-padded"),
    Raw("test_pred", "float32", "test", "forecasts of the points after the validation window, scaled"),
    Raw("test_var", "float32", "test", "their predictive variances, scaled", optional=True),
    Raw("epochs_run", "int32", "", "epochs trained"),
    Raw("best_epoch", "int32", "", "the epoch whose weights were kept, 1-based"),
    Raw("failed", "bool", "", "a loss became NaN or infinite"),
    Raw("train_curve", "float32", "epoch", "mean training loss per epoch, NaN after stopping"),
    Raw("val_curve", "float32", "epoch", "validation loss per epoch, NaN after stopping"),
    Raw("importance", "float32", "input", "validation MSE increase (scaled) with that input's column permuted, "
        "mean over [evaluation] importance_repeats permutations", optional=True),
)
RAW_NAMES = tuple(r.name for r in RAW)
REQUIRED_RAW = tuple(r.name for r in RAW if not r.optional)


@dataclass(frozen=True)
class Column:
    """One column of an output table."""

    name: str  # "{baseline}" is replaced by each baseline's name
    table: str  # the CSV it is written to
    dtype: str  # "int" | "float" | "str"
    unit: str  # "scaled" | "price" | "percent" | "share" | "date" | "epochs" | "loss" | ""
    forecaster: str  # "model" | "baseline" | "" (facts of the split, not of a forecaster)
    doc: str
    only_with: str = ""  # "variance": only when the model forecasts a variance; "horizon": only when h > 1


SPLITS, PREDICTIONS, TEST_PREDICTIONS, CURVES = "splits.csv", "predictions.csv", "test_predictions.csv", "curves.csv"
IMPORTANCE = "importance.csv"
SCALED = ("mse", "rmse", "mae", "r2", "ev")
PRICE = (("mse_price", "price"), ("rmse_price", "price"), ("mae_price", "price"), ("mape", "percent"))


def _split_columns() -> tuple[Column, ...]:
    facts = [
        Column("split", SPLITS, "int", "", "", "split index"),
        Column("train_start", SPLITS, "str", "date", "", "first observation of the training window"),
        Column("train_end", SPLITS, "str", "date", "", "last observation of the training window"),
        Column("val_start", SPLITS, "str", "date", "", "first observation of the validation window"),
        Column("val_end", SPLITS, "str", "date", "", "last observation of the validation window"),
        Column("epochs_run", SPLITS, "int", "epochs", "", "epochs trained"),
        Column("best_epoch", SPLITS, "int", "epochs", "", "the epoch whose weights were kept"),
        Column("status", SPLITS, "str", "", "", "ok, or failed (a loss became NaN/inf)"),
    ]
    model = [Column(f"{window}_{m}", SPLITS, "float", "scaled", "model", f"{m.upper()} on the {window} window")
             for window in ("train", "val") for m in SCALED]
    model += [Column(f"val_{m}", SPLITS, "float", unit, "model", f"validation {m} in price units")
              for m, unit in PRICE]
    model += [Column("val_dir_acc", SPLITS, "float", "share", "model", "share of moves called in the right direction")]
    model += [Column(f"val_up_{m}", SPLITS, "float", "share", "model", f"{m} of the 'up' calls")
              for m in ("precision", "recall", "f1")]
    baseline = [
        Column("{baseline}_val_mse", SPLITS, "float", "scaled", "baseline", "validation MSE"),
        Column("{baseline}_val_rmse_price", SPLITS, "float", "price", "baseline", "validation RMSE"),
        Column("{baseline}_val_mae_price", SPLITS, "float", "price", "baseline", "validation MAE"),
        Column("{baseline}_val_dir_acc", SPLITS, "float", "share", "baseline", "direction accuracy"),
        Column("{baseline}_val_r2", SPLITS, "float", "scaled", "baseline", "validation R^2"),
    ]
    steps = [Column("val_mse_h{step}", SPLITS, "float", "scaled", "model", "validation MSE of step k", "horizon")]
    steps += [Column(f"val_{m}_h{{step}}", SPLITS, "float", unit, "model", f"validation {m} of step k", "horizon")
              for m, unit in PRICE]
    steps += [Column("val_dir_acc_h{step}", SPLITS, "float", "share", "model",
                     "direction accuracy of step k (against the origin's value)", "horizon")]
    steps += [Column(f"{{baseline}}_val_{m}_h{{step}}", SPLITS, "float", unit, "baseline", f"{m} of step k", "horizon")
              for m, unit in (("mse", "scaled"), ("rmse_price", "price"), ("mae_price", "price"), ("dir_acc", "share"))]
    return (*facts, *model, *baseline, *steps)


def _point_columns(table: str, what: str) -> tuple[Column, ...]:
    columns = [
        Column("split", table, "int", "", "", "split index"),
        Column("horizon", table, "int", "", "", "forecast step k: the date is k points after the origin", "horizon"),
        Column("date", table, "str", "date", "", f"date of the {what} point"),
        Column("actual", table, "float", "price", "", "the observed value"),
        Column("forecast", table, "float", "price", "model", "the model's forecast"),
        Column("last", table, "float", "price", "", "the previous observed value (with a horizon: the origin's)"),
    ]
    if table == PREDICTIONS:
        columns.append(Column("forecast_std", table, "float", "price", "model", "predictive standard deviation",
                              only_with="variance"))
    columns.append(Column("{baseline}_forecast", table, "float", "price", "baseline", "the baseline's forecast"))
    return tuple(columns)


COLUMNS: tuple[Column, ...] = (
    *_split_columns(),
    *_point_columns(PREDICTIONS, "validation"),
    *_point_columns(TEST_PREDICTIONS, "after-validation"),
    Column("split", CURVES, "int", "", "", "split index"),
    Column("epoch", CURVES, "int", "epochs", "", "epoch, 1-based"),
    Column("train_loss", CURVES, "float", "loss", "model", "mean training loss (scaled)"),
    Column("val_loss", CURVES, "float", "loss", "model", "validation loss (scaled)"),
    Column("split", IMPORTANCE, "int", "", "", "split index"),
    Column("ticker", IMPORTANCE, "str", "", "", "the data source's ticker (sample:AAPL: AAPL; a file: its stem)"),
    Column("feature", IMPORTANCE, "str", "", "", "the model input, named as `wfbt inspect --features` names it"),
    Column("delta", IMPORTANCE, "float", "scaled", "model", "validation MSE with the input's column permuted "
           "across the validation samples minus without, in the target's scaled units (mean over repeats)"),
)


def column_names(table: str, baselines: tuple[str, ...] | list[str], variance: bool = False,
                 horizon: int = 1) -> list[str]:
    """The columns of `table`, in order, with one set of baseline columns per baseline, then
    (`horizon` > 1) the per-step columns of steps 2 .. horizon."""
    names: list[str] = []
    present = {"": True, "variance": variance, "horizon": horizon > 1}
    declared = [c for c in COLUMNS if c.table == table and present[c.only_with] and "{step}" not in c.name]
    for column in declared:
        if "{baseline}" not in column.name:
            names.append(column.name)
    templates = [c.name for c in declared if "{baseline}" in c.name]
    for baseline in baselines:
        names += [t.format(baseline=baseline) for t in templates]
    per_step = [c.name for c in COLUMNS if c.table == table and "{step}" in c.name]
    for step in range(2, horizon + 1):
        names += [t.format(step=step) for t in per_step if "{baseline}" not in t]
        for baseline in baselines:
            names += [t.format(step=step, baseline=baseline) for t in per_step if "{baseline}" in t]
    return names
