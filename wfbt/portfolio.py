"""A multi-ticker run's own figures: the equal-weight portfolio and the summary. Pure functions.

The portfolio: on each date, the mean of the daily net returns of the tickers that trade that
day, i.e. that have a row in their equity.csv on it (the stitched out-of-sample dates of that
ticker; a date of its span with no valid forecast is a flat row and counts, with its return of 0
less any closing cost). It is an equal share of capital in each such ticker, rebalanced every
day at no extra cost (each ticker's own trading costs are in its returns). The buy-and-hold
portfolio is the same mean of each ticker's buy-and-hold returns on the same dates.

The summary holds per-ticker figures (from each ticker's own summary.json) and pooled ones over
every split of every ticker. Prices of different tickers are on different scales, so pooled
figures are scaled or scale-free (R², direction accuracy, the share of splits the model beats a
baseline, the per-split ratio of the model's RMSE to a baseline's); price-unit figures and
Diebold-Mariano tests are per ticker only (a pooled test would be dominated by the dearest ticker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from wfbt.config import Config
from wfbt.evaluation import describe, share_better
from wfbt.metrics import SCALED
from wfbt.pnl import DailyPnl, figures

PORTFOLIO_COLUMNS = ("date", "tickers", "exposure", "turnover", "return", "equity", "buy_hold_return",
                     "buy_hold_equity")
RULE = ("equal weight, each date: the mean of the daily net returns of the tickers with a forecast "
        "(a row in equity.csv) that date, rebalanced daily at no extra cost")


@dataclass(frozen=True)
class Portfolio:
    table: pl.DataFrame  # portfolio.csv: one row per date, PORTFOLIO_COLUMNS
    figures: dict[str, float]  # pnl.figures of the portfolio
    buy_hold: dict[str, float]  # ... of the equal-weight buy-and-hold portfolio
    periods_per_year: float
    periods_per_year_source: str


def equal_weight(equities: dict[str, pl.DataFrame], periods_per_year: float, source: str = "") -> Portfolio:
    """The equal-weight portfolio of the tickers' equity tables (date, position, return,
    buy_hold_equity, ...): per date the mean over the tickers with a row that date of their
    return, |position| (exposure), turnover |pos_t - pos_(t-1)| and buy-and-hold return.

    >>> a = pl.DataFrame({"date": ["2024-01-02", "2024-01-03"], "position": [1.0, -1.0],
    ...                   "return": [0.01, 0.02], "buy_hold_equity": [1.01, 0.99]})
    >>> b = pl.DataFrame({"date": ["2024-01-03"], "position": [1.0], "return": [0.04], "buy_hold_equity": [1.04]})
    >>> equal_weight({"A": a, "B": b}, 252.0).table["return"].to_list()
    [0.01, 0.03]
    """
    dates = np.unique(np.concatenate([e["date"].cast(pl.String).to_numpy().astype(str) for e in equities.values()]))
    sums = {name: np.zeros(len(dates)) for name in ("tickers", "exposure", "turnover", "return", "buy_hold_return",
                                                    "buy_hold_turnover")}
    for equity in equities.values():  # in ticker order, so every sum adds in the same order
        rows = np.searchsorted(dates, equity["date"].cast(pl.String).to_numpy().astype(str))
        position = equity["position"].to_numpy().astype(np.float64)
        held = equity["buy_hold_equity"].to_numpy().astype(np.float64)
        sums["tickers"][rows] += 1.0
        sums["exposure"][rows] += np.abs(position)
        sums["turnover"][rows] += np.abs(np.diff(position, prepend=0.0))
        sums["return"][rows] += equity["return"].to_numpy().astype(np.float64)
        sums["buy_hold_return"][rows] += held / np.concatenate([[1.0], held[:-1]]) - 1.0
        sums["buy_hold_turnover"][rows[:1]] += 1.0  # buy-and-hold trades on its first date only
    count = sums["tickers"]
    mean = {name: values / count for name, values in sums.items() if name != "tickers"}
    daily = DailyPnl(mean["exposure"], mean["buy_hold_return"], mean["turnover"], np.zeros(len(dates)),
                     mean["return"], np.cumprod(1.0 + mean["return"]))
    held = DailyPnl(np.ones(len(dates)), mean["buy_hold_return"], mean["buy_hold_turnover"], np.zeros(len(dates)),
                    mean["buy_hold_return"], np.cumprod(1.0 + mean["buy_hold_return"]))
    table = pl.DataFrame({"date": dates.tolist(), "tickers": count.astype(np.int64), "exposure": daily.positions,
                          "turnover": daily.turnover, "return": daily.returns, "equity": daily.equity,
                          "buy_hold_return": held.returns, "buy_hold_equity": held.equity})
    return Portfolio(table, figures(daily, periods_per_year), figures(held, periods_per_year), periods_per_year, source)


def tickers_summary(config: Config, summaries: dict[str, dict[str, Any]], splits: pl.DataFrame,
                    held: Portfolio | None, as_run: dict[str, Any], seconds: float) -> dict[str, Any]:
    """summary.json of a multi-ticker run: the run's facts, per-ticker figures, pooled figures and the portfolio."""
    first = next(iter(summaries.values()))
    sessions = [s for summary in summaries.values() for s in summary.get("training_sessions", [])]
    train_seconds = sum(s["seconds"] for s in sessions)
    compile_seconds = sum(s["compile_seconds"] for s in sessions)
    trained = sum(s["trained"] for s in sessions)
    counts = [summary["splits"] for summary in summaries.values()]
    summary = {
        "tickers": list(summaries),
        "config": {"file": str(config.path), "as_run": as_run},
        "data": {"target": first["data"]["target"], "sources": list(dict.fromkeys(s["data"]["source"]
                                                                                  for s in summaries.values()))},
        "splits": {"count": sum(c["count"] for c in counts), "trained_now": sum(c["trained_now"] for c in counts),
                   "failed": sum(c["failed"] for c in counts),
                   **{key: first["splits"][key] for key in ("mode", "train", "val", "step", "gap", "refit_every")}},
        "model": first["model"],
        "device": first["device"],
        "versions": first["versions"],
        "seconds": {"total": seconds, "training": train_seconds, "compile": compile_seconds},
        # every ticker's trained splits per second of the shared training, compilation excluded
        "splits_per_second": trained / (train_seconds - compile_seconds) if train_seconds > compile_seconds else None,
        "baselines": first.get("baselines", []),
        "per_ticker": {name: ticker_figures(summary) for name, summary in summaries.items()},
        "pooled": pooled_figures(splits, first.get("baselines", [])),
    }
    if held is not None:
        summary["portfolio"] = {"rule": RULE, "figures": held.figures, "buy_hold": held.buy_hold,
                                "periods_per_year": held.periods_per_year,
                                "periods_per_year_source": held.periods_per_year_source,
                                "strategy": {k: first["strategy"][k] for k in ("name", "params", "cost_bps",
                                                                                 "slippage_bps")}}
    return summary


def ticker_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """One ticker's headline figures, from its own summary.json."""
    data, compare = summary["data"], summary.get("compare", {})
    figures = {
        "source": data["source"], "rows": data["rows"], "first_date": data["first_date"],
        "last_date": data["last_date"], "splits": summary["splits"]["count"], "failed": summary["splits"]["failed"],
        "median_val_rmse_price": {who: stats["50%"] for who, stats in compare.get("val_rmse_price", {}).items()},
        "model_beats_share": summary.get("model_beats_share", {}),
        "dm_test": summary.get("dm_test", {}),
        "dm_test_after_validation": summary.get("dm_test_after_validation", {}),
    }
    if "strategy" in summary:
        figures["strategy"] = {"figures": summary["strategy"]["figures"], "buy_hold": summary["strategy"]["buy_hold"]}
    if "next_forecast" in summary:
        figures["next_forecast"] = summary["next_forecast"]
    return figures


def pooled_figures(splits: pl.DataFrame, baselines: list[str]) -> dict[str, Any]:
    """Scaled and scale-free figures over every split of every ticker."""
    column = lambda name: splits[name].to_numpy().astype(np.float64)
    model_rmse = column("val_rmse_price")
    return {
        "splits": splits.height, "tickers": splits["ticker"].n_unique(),
        "describe": {"train": {m: describe(column(f"train_{m}")) for m in SCALED},
                     "val": {m: describe(column(f"val_{m}")) for m in (*SCALED, "dir_acc")}},
        "model_beats_share": {b: share_better(column("val_mse"), column(f"{b}_val_mse")) for b in baselines},
        # per split: the model's validation RMSE over the baseline's (below 1: the model did better)
        "rmse_ratio": {b: describe(model_rmse / column(f"{b}_val_rmse_price")) for b in baselines},
    }
