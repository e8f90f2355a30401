"""The notebook API: `wfbt.run(config, data=None, **overrides)` and `wfbt.load(RUN_DIR)`.

Both return `wfbt.api.Results` (a config of several tickers: `wfbt.ticker_run.TickerResults`,
which holds the combined tables and each ticker's `Results`): the tables as Polars DataFrames (`.to_pandas()` for pandas), the
summary as a dict, and `plot_*()` methods returning matplotlib figures. `run` computes in memory
and writes nothing unless given `out_dir`; `load` reads a finished run directory and trains
nothing. docs/api.md has a worked example.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wfbt import runtime
from wfbt.config import Config, config_from_dict, load_config, to_toml
from wfbt.errors import UserError

DICT_PATH = Path("config")  # what a config given as a dict is called in errors; paths resolve from the working directory


def run(config: str | Path | Mapping[str, Any] | Config, data: Any = None, *, out_dir: str | Path | None = None,
        overwrite: bool = False, progress: bool = True, **overrides: Mapping[str, Any]):
    """Run an experiment from a notebook or a script; returns `wfbt.api.Results`.

    `config`: a TOML path, a dict of sections (as the TOML would parse) or a `Config`.
    `data`: a pandas or Polars DataFrame (a date column, or a date index, and value columns)
    used instead of `[data] source`; `[data] date_column` and `target` name its columns.
    `overrides`: sections merged key by key, e.g. `train={"epochs": 5}`, checked like `--set`.
    `out_dir`: also write (and resume from) a run directory, as `wfbt run --out` does.

    >>> import wfbt
    >>> results = wfbt.run({"splits": {"max_splits": 2}, "model": {"name": "mlp", "lookback": 5}},
    ...                    train={"epochs": 1}, progress=False)
    >>> results.splits.height
    2
    """
    runtime.configure_jax()  # before JAX starts: every core as a device, the compilation cache
    from wfbt import api, tickers  # imports JAX: only when a run is asked for

    merged = with_overrides(config, overrides)
    found = tickers.resolve(merged, data)
    display = _console() if progress else None
    with runtime.progress_bar(display, enabled=progress, display=display) as update:
        if len(found) > 1:  # several tickers: a `wfbt.ticker_run.TickerResults` (docs/api.md)
            from wfbt import ticker_run

            return ticker_run.run_tickers(merged, found, out_dir=out_dir, overwrite=overwrite, progress=update,
                                          log=print if progress else None)
        return api.run_experiment(tickers.single(merged, found), out_dir=out_dir, overwrite=overwrite,
                                  progress=update, data=found[0].data, log=print if progress else None)


def load(run_dir: str | Path):
    """The `Results` of a finished run directory, read from its files; nothing trains.

    `prices` and `plan` are None when the run's data source can no longer be read (a moved file,
    or a DataFrame passed to `run`); every table, the summary and the plots are there regardless.
    """
    from wfbt.api import Results
    from wfbt.data import load_prices
    from wfbt.pnl import StrategyResult
    from wfbt.rundata import read_run, read_summary, read_table
    from wfbt.splits import split_plan

    run_dir = Path(run_dir)
    if "tickers" in read_summary(run_dir):  # a run of several tickers
        from wfbt import ticker_run

        return ticker_run.load(run_dir)
    saved = read_run(run_dir)
    config = load_config(run_dir / "config.toml")
    try:
        prices = load_prices(config.data, config.base_dirs, 1, separator=config.data.separator or None,
                             decimal=config.data.decimal, features=config.features)  # the run's rows
        plan = split_plan(len(prices), config.splits)
    except UserError:
        prices = plan = None
    strategy = None
    figures = saved.summary.get("strategy")
    if saved.equity is not None and figures:
        strategy = StrategyResult(saved.equity, figures.get("figures", {}), figures.get("buy_hold", {}),
                                  read_table(run_dir / "pnl_splits.csv"), figures.get("periods_per_year"),
                                  figures.get("periods_per_year_source", ""))
    return Results(config, run_dir, prices, plan, saved.splits, saved.predictions, saved.curves, saved.summary,
                   strategy, saved.test_predictions, saved.importance)


def with_overrides(config: str | Path | Mapping[str, Any] | Config, overrides: Mapping[str, Any]) -> Config:
    """`config` as a `Config`, with `overrides` ({section: {key: value}}) merged key by key."""
    if isinstance(config, Config):
        raw, path = tomllib.loads(to_toml(config)), config.path
    elif isinstance(config, Mapping):
        raw, path = copy.deepcopy(dict(config)), DICT_PATH
    elif isinstance(config, (str, Path)):
        path = Path(config)
        load_config(path)  # the file's own errors, as `wfbt run` gives them
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    else:
        raise UserError(f"config: expected a path, a dict or a wfbt Config, got {type(config).__name__}.")
    overridden = set()
    for section, values in overrides.items():
        if not isinstance(values, Mapping):
            raise UserError(f"{section}={values!r}: an override is a dict of keys, e.g. train={{'epochs': 5}}.")
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise UserError(f"{path}: [{section}] must be a table, got {type(table).__name__}.")
        table.update(values)
        overridden |= {(section, key) for key in values}
    try:
        return config_from_dict(raw, path, overridden)
    except UserError as exc:  # config.py names an overridden key `--set section.key`; here it is an argument
        raise UserError(str(exc).replace("--set ", "override ")) from None


def _console():
    from rich.console import Console

    return Console()  # rich draws in Jupyter too (live updates with ipywidgets installed)
