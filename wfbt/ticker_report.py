"""A multi-ticker run's terminal summary, plots and report.html. Renders; computes only figures.

The terminal shows the run's facts, one row per ticker (splits, median validation RMSE of the
model and the baselines in the ticker's price units, the share of splits the model beats naive,
Diebold-Mariano after validation, the P&L), the pooled scale-free figures and the equal-weight
portfolio. `RUN_DIR/report.html` holds the same tables, the per-ticker errors and equity curves
overlaid and the portfolio's equity, and links each ticker's own report
(`tickers/<TICKER>/report.html`, an ordinary run's, redrawn here too). Ticker names are user
text: they go into tables as `Text` and into HTML escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from wfbt import html_report, plots
from wfbt.html_report import _e, _page, _table
from wfbt.report import FIGURE_LABELS, fitting, fmt, format_figure
from wfbt.rundata import RunData, read_run, read_summary
from wfbt.rundir import write_bytes_atomic, write_text_atomic
from wfbt.tickers import TICKERS

SHOWN_FIGURES = ("total_return", "annualised_return", "annualised_volatility", "sharpe", "sortino", "max_drawdown",
                 "calmar", "hit_rate", "exposure", "mean_daily_turnover", "n_days")
CAPTIONS = {
    "errors": "Per-split validation RMSE of each ticker's model, overlaid (each in its own price units).",
    "equity": "Each ticker's strategy equity, after costs, with the first ticker's buy-and-hold.",
    "portfolio": "The equal-weight portfolio of the tickers traded each day against the equal-weight "
                 "buy-and-hold portfolio, its drawdowns and rolling Sharpe ratio.",
}


def print_summary(console: Console, summary: Mapping[str, Any]) -> None:
    def show(*layouts: Callable[[], RenderableType]) -> None:
        console.print(fitting(console, *layouts))

    show(lambda: facts_table(summary))
    show(lambda: tickers_table(summary), lambda: tickers_table(summary, narrow=1), lambda: tickers_table(summary, narrow=2))
    console.print(Text("RMSE: median validation RMSE per split, in each ticker's price units; beats: the share of "
                       "splits where the model's validation MSE is lower than naive's; DM after: Diebold-Mariano "
                       "against naive on the forecasts after validation (negative: the model is better).",
                       style="italic"))
    console.print(Text(pooled_title(summary) + "."))
    show(lambda: pooled_table(summary))
    if "portfolio" in summary:
        console.print(portfolio_note(summary["portfolio"]))
        console.print(portfolio_table(summary["portfolio"]))


def facts_table(summary: Mapping[str, Any]) -> Table:
    splits, device, seconds = summary["splits"], summary["device"], summary["seconds"]
    table = Table(title="Run", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rate = summary.get("splits_per_second")
    rows = [
        ("tickers", f"{len(summary['tickers'])}: {', '.join(summary['tickers'])}"),
        ("data", f"{summary['data']['target']} from {', '.join(summary['data']['sources'])}"),
        ("splits", f"{splits['count']:,} {splits['mode']} in all (train {splits['train']}, val {splits['val']}, "
                   f"step {splits['step']}, gap {splits['gap']}); trained now {splits['trained_now']:,}; "
                   f"failed {splits['failed']}"),
        ("device", f"{device['count']} × {device['platform']} ({device['kind']})"),
        ("seconds", f"{seconds['total']:.1f} this run; training {seconds['training']:.1f} "
                    f"(compile {seconds['compile']:.1f} included), every ticker's splits side by side"),
        ("speed", f"{rate:,.1f} splits/s (compile excluded)" if rate else "- (nothing trained)"),
    ]
    for key, value in rows:
        table.add_row(key, Text(value))
    return table


def ticker_rows(summary: Mapping[str, Any], narrow: int = 0) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the per-ticker table, shared by the terminal and the HTML page; `narrow`
    1 or 2 drops columns for 80-column terminals (the naive baseline and the verdict stay)."""
    baselines = [b for b in summary.get("baselines", []) if not narrow or b == "naive"]
    traded = "portfolio" in summary
    header = ["ticker", "splits", "failed", "RMSE", *baselines, "beats naive", "DM after", "p"]
    header += ["return", "Sharpe", "B&H return"] if traded else []
    if narrow:
        header = [h for h in header if h not in ("failed", "p", "B&H return", "return" if narrow > 1 else "")]
    rows = []
    for name, figures in summary["per_ticker"].items():
        rmse, dm = figures["median_val_rmse_price"], figures["dm_test_after_validation"].get("naive", {})
        cells = {"ticker": name, "splits": fmt(figures["splits"]), "failed": fmt(figures["failed"]),
                 "RMSE": fmt(rmse.get("model")), **{b: fmt(rmse.get(b)) for b in baselines},
                 "beats naive": fmt(figures["model_beats_share"].get("naive"), 3 if narrow else 4),
                 "DM after": fmt(dm.get("statistic")) + (f" ({fmt(dm.get('p_value'), 2)})" if narrow else ""),
                 "p": fmt(dm.get("p_value"))}
        if traded and "strategy" in figures:
            strategy, held = figures["strategy"]["figures"], figures["strategy"]["buy_hold"]
            cells |= {"return": format_figure("total_return", strategy["total_return"]),
                      "Sharpe": format_figure("sharpe", strategy["sharpe"]),
                      "B&H return": format_figure("total_return", held["total_return"])}
        rows.append([cells.get(column, "-") for column in header])
    return header, rows


def tickers_table(summary: Mapping[str, Any], narrow: int = 0) -> Table:
    header, rows = ticker_rows(summary, narrow)
    table = Table(title=Text("Per ticker (validation RMSE in the ticker's price units)"), title_justify="left")
    for column in header:
        label = {"beats naive": "beats", "DM after": "DM after (p)"}.get(column, column) if narrow else column
        table.add_column(Text(label), justify="left" if column == "ticker" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def pooled_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    pooled = summary["pooled"]
    rows = []
    for name in summary.get("baselines", []):
        ratio = pooled["rmse_ratio"][name]
        rows.append([name, fmt(pooled["model_beats_share"][name]),
                     f"{fmt(ratio['50%'])} [{fmt(ratio['25%'])}, {fmt(ratio['75%'])}]"])
    return rows


def pooled_title(summary: Mapping[str, Any]) -> str:
    pooled = summary["pooled"]
    val = pooled["describe"]["val"]
    return (f"Pooled over {pooled['splits']:,} splits of {pooled['tickers']} tickers: median validation R² "
            f"{fmt(val['r2']['50%'])}, direction accuracy {fmt(val['dir_acc']['50%'])}")


def pooled_table(summary: Mapping[str, Any]) -> Table:
    table = Table(title="Pooled: the model against each baseline", title_justify="left")
    for column in ("baseline", "splits model beats", "RMSE model / baseline: median [25%, 75%]"):
        table.add_column(column, justify="left" if column == "baseline" else "right")
    for row in pooled_rows(summary):
        table.add_row(*(Text(cell) for cell in row))
    return table


def portfolio_note(held: Mapping[str, Any]) -> Text:
    strategy = held["strategy"]
    params = ", ".join(f"{k}={v}" for k, v in strategy["params"].items())
    return Text(f"Portfolio of {strategy['name']}({params}), costs {strategy['cost_bps']:g} bps + slippage "
                f"{strategy['slippage_bps']:g} bps: {held['rule']}; annualised with {held['periods_per_year']:g} "
                f"periods per year.")


def portfolio_rows(held: Mapping[str, Any]) -> list[list[str]]:
    return [[FIGURE_LABELS.get(name, name.replace("_", " ")), format_figure(name, held["figures"].get(name)),
             format_figure(name, held["buy_hold"].get(name))] for name in SHOWN_FIGURES if name in held["figures"]]


def portfolio_table(held: Mapping[str, Any]) -> Table:
    table = Table(title="Portfolio P&L (after costs)", title_justify="left")
    table.add_column("figure")
    table.add_column("portfolio", justify="right", no_wrap=True)
    table.add_column("buy & hold", justify="right", no_wrap=True)
    for row in portfolio_rows(held):
        table.add_row(*(Text(cell) for cell in row))
    return table


# ------------------------------------------------------------------------ files


@dataclass(frozen=True)
class TickerReportFiles:
    html: Path
    plots: list[Path]
    tickers: list[Path]  # each ticker's own report.html
    seconds: float


def ticker_runs(run_dir: Path, summary: Mapping[str, Any]) -> list[RunData]:
    """Each ticker's run directory read back, named by its ticker."""
    runs = []
    for name in summary["tickers"]:
        runs.append(dataclasses.replace(read_run(run_dir / TICKERS / name), name=name))
    return runs


def portfolio_figure(table: pl.DataFrame, periods_per_year: float = 252.0):
    """The portfolio's equity, drawdown and rolling Sharpe, drawn as a run's equity plot."""
    equity = table.select("date", pl.col("equity").alias("strategy_equity"), "buy_hold_equity")
    run = RunData("portfolio", {"strategy": {"name": "equal-weight portfolio", "periods_per_year": periods_per_year}},
                  table, table, equity=equity)
    return plots.equity(run)


def write_report(run_dir: str | Path) -> TickerReportFiles:
    """Redraw every ticker's report, then the run's plots and report.html, from the saved files."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    pages = [html_report.write_report(run_dir / TICKERS / name).html for name in summary["tickers"]]
    runs = ticker_runs(run_dir, summary)
    figures = {"errors": plots.compare_errors(runs), "equity": plots.compare_equity(runs)}
    portfolio_csv = run_dir / "portfolio.csv"
    if "portfolio" in summary and portfolio_csv.is_file():
        table = pl.read_csv(portfolio_csv, schema_overrides={"date": pl.String})
        figures["portfolio"] = portfolio_figure(table, summary["portfolio"]["periods_per_year"])
    images = {name: plots.png(figure) for name, figure in figures.items() if figure is not None}
    folder = run_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CAPTIONS:
        path = folder / f"{name}.png"
        if name in images:
            write_bytes_atomic(path, images[name])
            paths.append(path)
        else:
            path.unlink(missing_ok=True)
    page = run_dir / "report.html"
    write_text_atomic(page, report_page(run_dir.resolve().name, summary, images))
    return TickerReportFiles(page, paths, pages, time.perf_counter() - started)


def report_page(name: str, summary: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    facts = facts_table(summary)
    body = [f"<h1>{_e(name)}: walk-forward backtest of {len(summary['tickers'])} tickers</h1>",
            "<h2>Run</h2>" + _table("Facts", [], ([row[0], row[1]] for row in _facts_cells(facts)), css="facts")]
    header, rows = ticker_rows(summary)
    links = "".join(f'<li><a href="{TICKERS}/{_e(t)}/report.html">{_e(t)}</a></li>' for t in summary["tickers"])
    body.append("<h2>Per ticker</h2>" + _table("Per ticker (validation RMSE in the ticker's price units)", header,
                                               rows))
    body.append(f"<p>Each ticker's own report:</p><ul>{links}</ul>")
    body.append("<h2>Pooled</h2>" + _table(pooled_title(summary), ["baseline", "splits model beats",
                                                                   "RMSE model / baseline: median [25%, 75%]"],
                                           pooled_rows(summary)))
    if "portfolio" in summary:
        body.append("<h2>Portfolio</h2>" + f"<p>{_e(portfolio_note(summary['portfolio']).plain)}</p>"
                    + _table("Equal-weight portfolio P&L (out-of-sample, after costs)",
                             ["figure", "portfolio", "buy & hold"], portfolio_rows(summary["portfolio"])))
    body.append("<h2>Figures</h2>")
    for key, payload in images.items():
        data = base64.b64encode(payload).decode("ascii")
        body.append(f'<figure id="{key}"><img alt="{key}" width="{int(plots.WIDTH * plots.DPI)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>{_e(CAPTIONS[key])}</figcaption></figure>')
    return _page(f"wfbt report: {name}", "".join(body))


def _facts_cells(table: Table) -> list[tuple[str, str]]:
    keys, values = (list(column.cells) for column in table.columns)
    return [(str(k), v.plain if isinstance(v, Text) else str(v)) for k, v in zip(keys, values)]
