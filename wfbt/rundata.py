"""A finished run as the report sees it: `summary.json` and the CSVs, read back from a run directory.

Every plot and the HTML report are made from a `RunData` only, so `wfbt report RUN_DIR` redraws
them from the saved files without training. A run in memory (`Results`) gives the same `RunData`
(`from_results`), which is how `Results.plot_*()` draws the same figures in a notebook.

Older run directories may lack files and keys added since (`test_predictions.csv`, `curves.csv`,
strategy figures): a missing file is None and the plot that needs it is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from wfbt.errors import UserError

# the dtypes the tables have in memory (`wfbt.tables`), so a run read back equals the run computed
INT_COLUMNS = {"split": pl.Int64, "epoch": pl.Int64, "n_days": pl.Int64, "epochs_run": pl.Int32, "best_epoch": pl.Int32}
TEXT_COLUMNS = ("date", "train_start", "train_end", "val_start", "val_end", "status", "ticker", "feature")
CSV_FILES = ("splits.csv", "predictions.csv", "test_predictions.csv", "curves.csv", "equity.csv", "pnl_splits.csv",
             "importance.csv")


@dataclass(frozen=True)
class RunData:
    """What a report reads: the summary and the tables (None where an older run lacks a file)."""

    name: str
    summary: dict[str, Any]
    splits: pl.DataFrame
    predictions: pl.DataFrame
    test_predictions: pl.DataFrame | None = None
    curves: pl.DataFrame | None = None
    equity: pl.DataFrame | None = None
    run_dir: Path | None = None
    importance: pl.DataFrame | None = None  # importance.csv, when the run ranked its inputs

    @property
    def baselines(self) -> list[str]:
        """The baselines the run compared against, in the summary's order."""
        named = self.summary.get("baselines")
        if named is not None:
            return list(named)
        return [c.removesuffix("_val_rmse_price") for c in self.splits.columns
                if c.endswith("_val_rmse_price") and c != "val_rmse_price"]


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no summary.json here; is it a finished run directory?")
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(summary, dict):
        raise UserError(f"{path}: not a wfbt run summary (a JSON {type(summary).__name__}, not an object).")
    return summary


def read_table(path: Path) -> pl.DataFrame | None:
    """A run's CSV with the types it was written with (dates stay ISO text, as in memory)."""
    if not path.is_file():
        return None
    header = pl.read_csv(path, n_rows=0, glob=False).columns
    schema = {c: INT_COLUMNS.get(c) or (pl.String if c in TEXT_COLUMNS else pl.Float64) for c in header}
    try:
        return pl.read_csv(path, schema_overrides=schema, glob=False)
    except pl.exceptions.PolarsError as exc:
        raise UserError(f"{path}: cannot read it: {str(exc).strip().splitlines()[0]}") from None


def read_run(run_dir: str | Path) -> RunData:
    """The summary and tables of a finished run directory."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    tables = {name: read_table(run_dir / f"{name}.csv")
              for name in ("splits", "predictions", "test_predictions", "curves", "equity", "importance")}
    for required in ("splits", "predictions"):
        if tables[required] is None:
            raise UserError(f"{run_dir}: no {required}.csv beside summary.json; is it a finished run directory?")
    return RunData(name=run_dir.resolve().name, summary=summary, run_dir=run_dir, **tables)


def from_results(results: Any) -> RunData:
    """The `RunData` of a run computed in memory (`wfbt.api.Results`)."""
    equity = results.strategy.equity if results.strategy is not None else None
    name = results.run_dir.name if results.run_dir is not None else results.config.path.stem
    return RunData(name=name, summary=results.summary, splits=results.splits, predictions=results.predictions,
                   test_predictions=results.test_predictions, curves=results.curves, equity=equity,
                   run_dir=results.run_dir, importance=results.importance)


def as_dates(labels: pl.Series | list[str]) -> np.ndarray:
    """ISO date (or date and time) labels as datetime64, for a plot's x axis."""
    values = labels.to_list() if isinstance(labels, pl.Series) else list(labels)
    return np.asarray(values, dtype="datetime64[us]")


class PlotMethods:
    """`Results.plot_*()`: the figures of `RUN_DIR/plots/`, as matplotlib figures, for a notebook.

    Mixed into `wfbt.api.Results`; matplotlib is imported on the first plot, not with wfbt.
    """

    @property
    def equity(self) -> pl.DataFrame | None:
        """The strategy's equity curve (equity.csv), or None without a [strategy]."""
        return self.strategy.equity if self.strategy is not None else None

    def run_data(self) -> RunData:
        return from_results(self)

    def plot_errors(self):
        """Per-split validation RMSE, model beside each baseline (plots/errors.png)."""
        from wfbt import plots
        return plots.error_distribution(self.run_data())

    def plot_errors_over_time(self):
        """Per-split validation RMSE by validation date, model vs naive (plots/errors_over_time.png)."""
        from wfbt import plots
        return plots.errors_over_time(self.run_data())

    def plot_forecast(self, last: int = 120):
        """Stitched out-of-sample forecast vs actual, and the last `last` points (plots/forecast.png)."""
        from wfbt import plots
        return plots.forecast_vs_actual(self.run_data(), last=last)

    def plot_loss_curves(self):
        """Median and IQR of the losses per epoch, and the best epochs (plots/loss_curves.png)."""
        from wfbt import plots
        return plots.loss_curves(self.run_data())

    def plot_residuals(self):
        """Residuals of the stitched forecasts: over time, histogram, ACF (plots/residuals.png)."""
        from wfbt import plots
        return plots.residuals(self.run_data())

    def plot_intervals(self):
        """With loss = "gaussian_nll": 80 % and 95 % intervals (plots/intervals.png); else None."""
        from wfbt import plots
        return plots.intervals(self.run_data())

    def plot_importance(self):
        """With importance: each input's per-split deltas, sorted by mean (plots/importance.png); else None."""
        from wfbt import plots
        return plots.importance(self.run_data())

    def plot_equity(self, log: bool = True):
        """With a strategy: equity vs buy-and-hold, drawdown, rolling Sharpe (plots/equity.png); else None."""
        from wfbt import plots
        return plots.equity(self.run_data(), log=log)
