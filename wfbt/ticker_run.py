"""A run of several tickers: their splits trained side by side, each ticker an ordinary run.

Each ticker (`wfbt.tickers.resolve`) is prepared as its own experiment (`api.prepare`), with its
own split plan on its own dates, and a store of its own: `RUN_DIR/tickers/<TICKER>/` is an
ordinary run directory, resumable, equal to `wfbt run` of its `config.toml`. The tickers share
one compiled program: `api.train_missing` puts a chunk of every ticker's splits into each call
(chunks mix tickers), and a split's numbers do not depend on what trains beside it, so a ticker's
numbers equal those of a run of its own (bit for bit on CPU). Tickers whose padded training
windows differ (expanding windows over series of different lengths) train in separate groups,
since padding a split to another width would change its last bits.

Then each ticker's tables are made as in a run of its own (`api.compute`), and the run's tables
are theirs concatenated with a `ticker` column first; `wfbt.portfolio` adds the equal-weight
portfolio and the summary with per-ticker and pooled figures. docs/data.md has the layout.
"""

from __future__ import annotations

import dataclasses
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from wfbt import api, portfolio, rundir
from wfbt.api import Experiment, Member, ProgressFn, Results
from wfbt.config import Config, to_toml
from wfbt.engine import choose_chunk_size
from wfbt.errors import UserError
from wfbt.store import MemoryStore
from wfbt.tickers import TICKERS, Ticker

PORTFOLIO_CSV = "portfolio.csv"
TABLES = ("splits", "predictions", "test_predictions", "curves", "importance")


@dataclass(frozen=True)
class TickerResults:
    """A multi-ticker run: the tables of every ticker with a `ticker` column, each ticker's own
    `Results`, the equal-weight portfolio and the summary."""

    config: Config
    run_dir: Path | None
    tickers: dict[str, Results]  # ticker -> its Results (as a run of its own)
    splits: pl.DataFrame
    predictions: pl.DataFrame
    test_predictions: pl.DataFrame | None
    curves: pl.DataFrame | None
    importance: pl.DataFrame | None  # every ticker's importance.csv rows (it has its `ticker` column)
    equity: pl.DataFrame | None  # every ticker's equity.csv rows, `ticker` first
    pnl_splits: pl.DataFrame | None
    portfolio: portfolio.Portfolio | None  # with a [strategy]: the equal-weight portfolio
    summary: dict[str, Any]
    config_toml: str = ""  # the config as run (config.toml): the list of sources, resolved

    def __getitem__(self, ticker: str) -> Results:
        return self.tickers[ticker]

    def plot_errors(self):
        """Per-split validation RMSE of every ticker, overlaid (plots/errors.png of the run)."""
        from wfbt import plots
        from wfbt.rundata import from_results

        return plots.compare_errors([dataclasses.replace(from_results(r), name=name) for name, r in self.tickers.items()])

    def plot_equity(self):
        """The equal-weight portfolio's equity against buy-and-hold (plots/portfolio.png); None without a strategy."""
        from wfbt import ticker_report

        if self.portfolio is None:
            return None
        return ticker_report.portfolio_figure(self.portfolio.table, self.portfolio.periods_per_year)


def run_tickers(config: Config, tickers: list[Ticker], out_dir: str | Path | None = None, overwrite: bool = False,
                progress: ProgressFn | None = None, log: Callable[[str], None] | None = None) -> TickerResults:
    """Train and evaluate every ticker's splits together; with `out_dir`, resume from and write into it."""
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    experiments = prepare_all(tickers)
    folders = {t.name: out / TICKERS / t.name if out is not None else None for t in tickers}
    stores = {}
    for ticker, experiment in zip(tickers, experiments):
        folder = folders[ticker.name]
        stores[ticker.name] = api.open_store(experiment, folder, overwrite) if folder is not None else MemoryStore()
        stores[ticker.name].tell(log)
    sessions = {}
    for group in _groups(experiments):
        members = [Member(experiments[i], (stores[tickers[i].name],)) for i in group]
        trained = api.train_missing(members, _chunk(members), progress)
        sessions |= {tickers[i].name: session for i, session in zip(group, trained)}
    results = {}
    for ticker, experiment in zip(tickers, experiments):
        folder = folders[ticker.name]
        results[ticker.name] = api.compute(experiment, stores[ticker.name], session=sessions[ticker.name],
                                           run_dir=folder)
        if folder is not None:
            rundir.write_run(results[ticker.name], folder,
                             to_toml(experiment.config, data_source=experiment.prices.source,
                                     out_dir=str(folder.resolve())))
    combined = combine(results, config, out, time.perf_counter() - started, experiments)
    if out is not None:
        write(combined, out)
    return combined


def prepare_all(tickers: list[Ticker]) -> list[Experiment]:
    """Every ticker checked before anything trains; all share the first one's compiled program
    where their settings allow it (`_groups` decides who trains together)."""
    first = api.prepare(tickers[0].config, data=tickers[0].data)
    experiments = [first]
    for ticker in tickers[1:]:
        experiment = api.prepare(ticker.config, trainer=first.trainer, data=ticker.data)
        if experiment.settings != first.settings:  # e.g. equal windows in one, not in another: its own program
            trainer = api.make_trainer(experiment.config, first.trainer.model, experiment.settings, experiment.devices)
            experiment = dataclasses.replace(experiment, trainer=trainer)
        experiments.append(experiment)
    return experiments


def _groups(experiments: list[Experiment]) -> list[list[int]]:
    """Tickers that can share a program call: the same program and the same padded window width."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, experiment in enumerate(experiments):
        groups.setdefault((id(experiment.trainer), experiment.width), []).append(index)
    return list(groups.values())


def _chunk(members: list[Member]) -> int:
    """Splits per ticker in each call. On CPU calls have a fixed size anyway; on an accelerator with
    an automatic size, a call of every ticker's chunk holds about what one run's call would."""
    first = members[0].experiment
    n = max(len(np.unique(m.experiment.plan.refit_from)) for m in members)
    requested, devices = first.config.engine.chunk_size, first.devices
    if requested or devices[0].platform == "cpu":
        return choose_chunk_size(n, devices, requested)
    bound = choose_chunk_size(10**9, devices)  # what one call of this device holds
    return choose_chunk_size(n, devices, max(1, bound // len(members)))


def with_ticker(frames: dict[str, pl.DataFrame | None]) -> pl.DataFrame | None:
    """The tables of every ticker, one after another, with a `ticker` column first (a table with
    its own `ticker` column, importance.csv, keeps its place for it)."""
    parts = [frame.with_columns(pl.lit(name).alias("ticker")) if "ticker" in frame.columns
             else frame.select(pl.lit(name).alias("ticker"), pl.all()) for name, frame in frames.items()
             if frame is not None]
    return pl.concat(parts, how="vertical_relaxed") if parts else None


def combine(results: dict[str, Results], config: Config, out: Path | None, seconds: float,
            experiments: list[Experiment]) -> TickerResults:
    """The run's tables, portfolio and summary from each ticker's results."""
    tables = {name: with_ticker({t: getattr(r, name) for t, r in results.items()}) for name in TABLES}
    equity = with_ticker({t: r.strategy.equity for t, r in results.items() if r.strategy is not None})
    pnl_splits = with_ticker({t: r.strategy.per_split for t, r in results.items() if r.strategy is not None})
    first = next(iter(results.values()))
    held = None
    if equity is not None:
        held = portfolio.equal_weight({t: r.strategy.equity for t, r in results.items()},
                                      first.strategy.periods_per_year, first.strategy.periods_per_year_source)
    sources = list(dict.fromkeys(e.prices.source for e in experiments))
    as_run = to_toml(config, data_source=sources if len(sources) > 1 else sources[0],
                     out_dir=str(out.resolve()) if out is not None else None)
    summary = portfolio.tickers_summary(config, {t: r.summary for t, r in results.items()}, tables["splits"],
                                        held, tomllib.loads(as_run), seconds)
    return TickerResults(config, out, results, tables["splits"], tables["predictions"], tables["test_predictions"],
                         tables["curves"], tables["importance"], equity, pnl_splits, held, summary, as_run)


def write(results: TickerResults, out: Path) -> None:
    """The run's own files beside `tickers/`: the combined CSVs, portfolio.csv, config.toml and,
    last, summary.json (so a run killed halfway leaves no summary that disagrees with its CSVs)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").unlink(missing_ok=True)
    for name in TABLES:
        if getattr(results, name) is not None:
            rundir.write_csv_atomic(out / f"{name}.csv", getattr(results, name), scientific=name == "importance")
        else:
            (out / f"{name}.csv").unlink(missing_ok=True)
    for name, frame in (("equity", results.equity), ("pnl_splits", results.pnl_splits),
                        ("portfolio", results.portfolio.table if results.portfolio is not None else None)):
        if frame is not None:
            rundir.write_csv_atomic(out / f"{name}.csv", frame)
        else:
            (out / f"{name}.csv").unlink(missing_ok=True)
    rundir.write_text_atomic(out / "config.toml", results.config_toml)
    rundir.write_json_atomic(out / "summary.json", results.summary)


def load(run_dir: Path) -> TickerResults:
    """A finished multi-ticker run directory read back (`wfbt.load`); nothing trains."""
    from wfbt.config import load_config
    from wfbt.notebook import load as load_one
    from wfbt.rundata import read_summary, read_table

    summary = read_summary(run_dir)
    config = load_config(run_dir / "config.toml")
    tickers = {name: load_one(run_dir / TICKERS / name) for name in summary["tickers"]}
    tables = {name: read_table(run_dir / f"{name}.csv") for name in (*TABLES, "equity", "pnl_splits")}
    if tables["splits"] is None or tables["predictions"] is None:
        raise UserError(f"{run_dir}: no splits.csv or predictions.csv beside summary.json; is it a finished run?")
    table = read_table(run_dir / PORTFOLIO_CSV)
    held = None
    if table is not None and "portfolio" in summary:
        figures = summary["portfolio"]
        held = portfolio.Portfolio(table, figures["figures"], figures["buy_hold"], figures["periods_per_year"],
                                   figures["periods_per_year_source"])
    return TickerResults(config, run_dir, tickers, tables["splits"], tables["predictions"], tables["test_predictions"],
                         tables["curves"], tables["importance"], tables["equity"], tables["pnl_splits"], held, summary,
                         (run_dir / "config.toml").read_text())
