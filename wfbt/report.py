"""Rich terminal summaries. Everything here renders `summary.json`; nothing is computed.

Because it reads only the summary, `wfbt report RUN_DIR` re-renders a finished run exactly as
`wfbt run` printed it, without retraining.

Two rules hold for every table:
- Text a user chose (paths, tickers, columns, strategy names and parameters, run names) goes in as
  `Text`, never as a markup string: `runs/v[/]x` is a folder name, not a closing tag.
- A table is printed in the widest layout that fits the console, then narrower ones (fewer
  columns, shorter headers, stacked), so at 80 columns no number is cut to `0.96…`. Titles that
  explain are printed as lines of their own, which wrap at words, not at the table's width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

STATS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")
NARROW_STATS = ("min", "25%", "50%", "75%", "max")  # the distribution; count and mean said elsewhere
SCALED = ("mse", "rmse", "mae", "r2", "ev")
PRICE = ("mse_price", "rmse_price", "mae_price", "mape")
def fmt(value: Any, digits: int = 4) -> str:
    """Numbers for tables: `digits` significant digits, scientific when tiny or huge."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits - 1}e}"
        text = f"{value:.{digits}g}"
        return f"{value:,.2f}" if abs(value) >= 10 ** digits else text
    return str(value)


def _titled(title: str) -> Table:
    return Table(title=Text(title), title_justify="left")


def fitting(console: Console, *layouts: Callable[[], RenderableType]) -> RenderableType:
    """The first layout whose natural width fits the console; the last one otherwise."""
    unbounded = console.options.update_width(100_000)  # measured as if the console were endless
    for build in layouts[:-1]:
        table = build()
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            return table
    return layouts[-1]()


def facts_table(summary: Mapping[str, Any]) -> Table:
    data, splits, device, seconds = summary["data"], summary["splits"], summary["device"], summary["seconds"]
    table = Table(title="Run", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # a long path folds rather than ending in "…"
    rate = summary.get("splits_per_second")
    rows = [
        ("data", f"{data['source']} · {data['target']} · {data['first_date']} .. {data['last_date']} ({data['rows']:,} rows)"),
        ("inputs", f"{len(data.get('inputs', [1]))} ({data.get('warmup_rows', 0)} warm-up rows dropped); {data.get('quality', '-')}"),
        ("splits", f"{splits['count']:,} {splits['mode']} (train {splits['train']}, val {splits['val']}, "
                   f"step {splits['step']}, gap {splits['gap']}); trained now {splits['trained_now']:,}; "
                   f"failed {splits['failed']}"),
        ("device", f"{device['count']} × {device['platform']} ({device['kind']})"),
        ("seconds", f"{seconds['total']:.1f} this run: " + ", ".join(
            f"{name.replace('_', ' ')} {seconds[name]:.1f}" for name in
            ("load", "tables", "next_forecast") if name in seconds)),
        ("training", _training_text(summary)),
        ("speed", f"{rate:,.1f} splits/s (compile excluded)" if rate else "- (nothing trained)"),
    ]
    for key, value in rows:
        table.add_row(key, Text(value))
    return table


def _training_text(summary: Mapping[str, Any]) -> str:
    """The training figures: of every session that trained the saved splits (a rerun keeps them)."""
    seconds, sessions = summary["seconds"], summary.get("training_sessions") or []
    text = f"{seconds['training']:.1f} s, compile {seconds['compile']:.1f} s included"
    splits = sum(s["trained"] for s in sessions)
    if len(sessions) > 1:
        text += f"; {splits:,} splits over {len(sessions)} sessions (resumed)"
    elif sessions and not summary["splits"]["trained_now"]:
        text += f"; by the earlier run that trained the {splits:,} splits"
    return text


def describe_table(title: str, tables: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> Table:
    """Rows count..max, one column per metric: the reference report's Tables 1-3."""
    table = _titled(title)
    table.add_column("")
    present = [m for m in metrics if m in tables]
    for metric in present:
        table.add_column(Text(metric), justify="right", no_wrap=True)
    for stat in STATS:
        table.add_row(stat, *(fmt(tables[m][stat]) for m in present))
    return table


def pooled_table(pooled: Mapping[str, float]) -> Table:
    """One row of figures; `pooled_column` is the same, stacked, for narrow consoles."""
    table = _titled("Pooled over all validation points (price units)")
    for key in pooled:
        table.add_column(Text(key), justify="right", no_wrap=True)
    table.add_row(*(fmt(v) for v in pooled.values()))
    return table


def pooled_column(pooled: Mapping[str, float]) -> Table:
    table = _titled("Pooled over all validation points (price units)")
    table.add_column("figure")
    table.add_column("value", justify="right", no_wrap=True)
    for key, value in pooled.items():
        table.add_row(Text(key), fmt(value))
    return table


COMPARED_TITLES = {
    "val_rmse_price": "Validation RMSE (price units) per split",
    "val_mae_price": "Validation MAE (price units) per split",
    "val_r2": "Validation R² (scaled) per split",
    "val_dir_acc": "Direction accuracy per split",
}


def print_summary(console: Console, summary: Mapping[str, Any]) -> None:
    def show(*layouts: Callable[[], RenderableType]) -> None:
        console.print(fitting(console, *layouts))

    show(lambda: facts_table(summary))
    show(lambda: pooled_table(summary["pooled"]), lambda: pooled_column(summary["pooled"]))
    describe = summary["describe"]
    show(lambda: describe_table("Per-split training metrics (scaled)", describe["train"], SCALED))
    show(lambda: describe_table("Per-split validation metrics (scaled)", describe["val"], SCALED))
    show(lambda: describe_table("Per-split validation metrics (price units; MAPE in %)", describe["val"], PRICE))
    epochs = summary["epochs"]
    console.print(f"epochs run: median {epochs['run']['50%']:g}, best epoch: median {epochs['best']['50%']:g}")
    show(lambda: curves_table(summary["curves"]), lambda: curves_table(summary["curves"], stacked=True))
    if summary.get("baselines"):
        for metric, title in COMPARED_TITLES.items():
            by_forecaster = summary["compare"][metric]
            show(lambda: forecasters_table(title, by_forecaster),
                 lambda: forecasters_table(title, by_forecaster, NARROW_STATS))
        console.print(baseline_tests_note(summary))
        show(lambda: baseline_tests_table(summary), lambda: baseline_tests_table(summary, short=True),
             lambda: baseline_tests_stacked(summary))
    if "horizons" in summary:
        show(lambda: horizons_table(summary), lambda: horizons_table(summary, narrow=True))
    if "coverage" in summary:
        console.print(Text("Gaussian interval coverage on validation points: "
                           + ", ".join(f"{level} interval {fmt(share)}" for level, share in summary["coverage"].items())))
    if summary.get("importance"):
        console.print(importance_note(summary["importance"]))
        ranked = summary["importance"]
        show(lambda: importance_table(ranked), lambda: importance_table(ranked, ("mean", "25%", "50%", "75%")),
             lambda: importance_table(ranked, ("mean", "50%")))
    if "strategy" in summary:
        console.print(strategy_note(summary["strategy"]))
        console.print(strategy_table(summary["strategy"]))
    if "next_forecast" in summary:
        console.print(Text(next_forecast_text(summary["next_forecast"])))


def importance_note(importance: Mapping[str, Any]) -> Text:
    return Text(f"Permutation importance: the increase in validation MSE (scaled) when an input is shuffled "
                f"across a split's validation samples, mean of {importance['repeats']} shuffles; per input over "
                f"splits, largest mean first. '> 0': the share of splits where shuffling it hurt.", style="italic")


def importance_table(importance: Mapping[str, Any], stats: Sequence[str] = ("mean", "std", "25%", "50%", "75%")
                     ) -> Table:
    """One row per input: the distribution of its per-split deltas (count said in the title)."""
    rows = importance["features"]
    counts = {row["count"] for row in rows}
    table = _titled("Input importance" + (f" over {fmt(counts.pop())} splits" if len(counts) == 1 else ""))
    table.add_column("input", overflow="fold")
    for stat in stats:
        table.add_column(stat, justify="right", no_wrap=True)
    table.add_column("> 0", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(Text(row["feature"]), *(fmt(row[s], 3) for s in stats), fmt(row["positive_share"], 2))
    return table


def curves_table(curves: Mapping[str, list], stacked: bool = False) -> Table:
    """Median loss per epoch with its quartiles beside it, or under it when `stacked`."""
    table = _titled("Loss per epoch over splits: median [25%, 75%]")
    for column in ("epoch", "splits training", "train loss", "validation loss"):
        table.add_column(column, justify="right")
    between = "\n" if stacked else " "
    for i, epoch in enumerate(curves["epoch"]):
        band = [f"{fmt(curves[f'{c}_median'][i])}{between}[{fmt(curves[f'{c}_q25'][i])}, {fmt(curves[f'{c}_q75'][i])}]"
                for c in ("train_loss", "val_loss")]
        table.add_row(str(epoch), str(curves["splits"][i]), *band)
    return table


def forecasters_table(title: str, by_forecaster: Mapping[str, Mapping[str, float]],
                      stats: Sequence[str] = STATS) -> Table:
    """One row per forecaster (the model, then each baseline), describe() columns."""
    counts = {fmt(s["count"]) for s in by_forecaster.values()}
    if "count" not in stats and len(counts) == 1:
        title = f"{title} ({counts.pop()} splits)"
    table = _titled(title)
    table.add_column("forecaster", style="bold", min_width=10, no_wrap=True)
    for stat in stats:
        table.add_column(stat, justify="right", no_wrap=True)
    for who, figures in by_forecaster.items():
        table.add_row(Text(who), *(fmt(figures[s]) for s in stats))
    return table


def baseline_tests_note(summary: Mapping[str, Any]) -> Text:
    points = summary["dm_points"]
    return Text(f"Model vs baselines: one-step forecasts {points['first_date']} .. {points['last_date']}. "
                "Diebold-Mariano on squared errors, HLN-corrected; a negative statistic means the model "
                "is better. 'beats': the share of splits where the model's validation MSE is lower.",
                style="italic")


def _dm_rows(summary: Mapping[str, Any]) -> list[tuple[str, dict, dict]]:
    after = summary.get("dm_test_after_validation", {})
    return [(name, summary["dm_test"][name], after.get(name, {})) for name in summary["baselines"]]


def baseline_tests_table(summary: Mapping[str, Any], short: bool = False) -> Table:
    """The tests on the validation points and on the points after them, side by side."""
    headers = (("baseline", "beats", "DM", "p", "n", "DM after", "p after", "n after") if short else
               ("baseline", "splits model beats (val MSE)", "DM statistic", "p-value", "points",
                "DM after validation", "p-value after", "points after"))
    table = _titled("Diebold-Mariano: validation points, then the points after validation")
    for column in headers:
        table.add_column(column, justify="left" if column == "baseline" else "right", no_wrap=True)
    for name, dm, oos in _dm_rows(summary):
        table.add_row(Text(name), fmt(summary["model_beats_share"][name]), fmt(dm["statistic"]),
                      fmt(dm["p_value"]), fmt(dm["n"]), fmt(oos.get("statistic")), fmt(oos.get("p_value")),
                      fmt(oos.get("n")))
    return table


def baseline_tests_stacked(summary: Mapping[str, Any]) -> Table:
    """The narrowest layout: one row per (baseline, which points)."""
    table = _titled("Diebold-Mariano per baseline")
    for column in ("baseline", "points", "beats", "DM", "p", "n"):
        table.add_column(column, justify="left" if column in ("baseline", "points") else "right", no_wrap=True)
    for name, dm, oos in _dm_rows(summary):
        table.add_row(Text(name), "validation", fmt(summary["model_beats_share"][name]), fmt(dm["statistic"]),
                      fmt(dm["p_value"]), fmt(dm["n"]))
        table.add_row("", "after", "", fmt(oos.get("statistic")), fmt(oos.get("p_value")), fmt(oos.get("n")))
    return table


PERCENT = ("total_return", "annualised_return", "annualised_volatility", "max_drawdown", "hit_rate", "exposure")
COUNTS = ("n_trades", "n_days", "n_periods")
FIGURE_LABELS = {"n_days": "n periods", "mean_daily_turnover": "mean turnover per period"}


def format_figure(name: str, value: float | None) -> str:
    """A P&L figure as the terminal shows it: percentages, counts, or two decimals; NaN as 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if not math.isfinite(value):
        return f"{value}"
    if name in PERCENT:
        return f"{value:.2%}"
    if name in COUNTS:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def strategy_note(strategy: Mapping[str, Any]) -> Text:
    """What traded, at what cost, and how returns were annualised: a line, not a title."""
    params = ", ".join(f"{k}={v}" for k, v in strategy["params"].items())
    note = (f"Strategy {strategy['name']}({params}) vs buy-and-hold, costs {strategy['cost_bps']:g} bps + slippage "
            f"{strategy['slippage_bps']:g} bps")
    if strategy.get("periods_per_year") is not None:  # older summaries assumed 252 silently
        source = strategy.get("periods_per_year_source", "")
        note += f"; annualised with {strategy['periods_per_year']:g} periods per year" + (f" ({source})" if source else "")
    return Text(note + ".")


def strategy_table(strategy: Mapping[str, Any]) -> Table:
    """Strategy vs buy-and-hold, one row per figure."""
    table = _titled("P&L (out-of-sample, after costs)")
    table.add_column("figure")
    table.add_column("strategy", justify="right", no_wrap=True)
    table.add_column("buy & hold", justify="right", no_wrap=True)
    buy_hold = strategy["buy_hold"]
    for name, value in strategy["figures"].items():
        label = FIGURE_LABELS.get(name, name.replace("_", " "))
        table.add_row(Text(label), format_figure(name, value), format_figure(name, buy_hold.get(name)))
    return table


def next_forecast_text(forecast: Mapping[str, Any]) -> str:
    text = (f"Next point {forecast['date']} (after the last observation {forecast['last_date']}, "
            f"{fmt(forecast['last_value'])}): forecast {fmt(forecast['last_window'])} from the last window; "
            f"{fmt(forecast['average'])} averaged over the last {forecast['windows']} windows.")
    steps = forecast.get("steps")
    if steps:  # [model] horizon > 1
        average = steps["average"] or [None] * len(steps["dates"])
        text += (f" The next {len(steps['dates'])} points, averaged: "
                 + ", ".join(f"{date} {fmt(value)}" for date, value in zip(steps["dates"], average)) + ".")
    return text


def horizon_rows(summary: Mapping[str, Any], narrow: bool = False) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the per-step comparison of a run with [model] horizon > 1: median
    validation RMSE (price) of the model and each baseline (naive only when `narrow`), then the
    Diebold-Mariano test against naive (else the first baseline) on the points after validation."""
    baselines = list(summary.get("baselines") or [])
    reference = "naive" if "naive" in baselines else (baselines[0] if baselines else None)
    shown = [reference] if narrow and reference else baselines
    headers = ["step", "model", *shown]
    if reference:
        headers += [f"DM vs {reference}", "p"]
    rows = []
    for step in summary["horizons"]["per_step"]:
        rmse = step["compare"]["val_rmse_price"]
        row = [str(step["step"]), fmt(rmse["model"]["50%"]), *(fmt(rmse[name]["50%"]) for name in shown)]
        if reference:
            test = step["dm_test_after_validation"][reference]
            row += [fmt(test["statistic"]), fmt(test["p_value"])]
        rows.append(row)
    return headers, rows


def horizons_table(summary: Mapping[str, Any], narrow: bool = False) -> Table:
    """Per forecast step: median validation RMSE (price) of each forecaster, and a DM test."""
    headers, rows = horizon_rows(summary, narrow)
    table = _titled("Per forecast step: median validation RMSE (price); Diebold-Mariano after validation, "
                    "HLN for h = step")
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def _naive_dm_after(summary: Mapping[str, Any]) -> dict | None:
    return (summary.get("dm_test_after_validation") or {}).get("naive")


COMPARE_FIGURES: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("splits", lambda s: s["splits"]["count"]),
    ("failed", lambda s: s["splits"]["failed"]),
    ("median val mse (scaled)", lambda s: s["describe"]["val"]["mse"]["50%"]),
    ("median val rmse (price)", lambda s: s["describe"]["val"]["rmse_price"]["50%"]),
    ("median naive val rmse (price)", lambda s: s["compare"]["val_rmse_price"]["naive"]["50%"]),
    ("splits model beats naive", lambda s: s["model_beats_share"]["naive"]),
    ("DM vs naive after validation", lambda s: _naive_dm_after(s)["statistic"]),
    ("p-value", lambda s: _naive_dm_after(s)["p_value"]),
    ("median val mae (price)", lambda s: s["describe"]["val"]["mae_price"]["50%"]),
    ("median val r2", lambda s: s["describe"]["val"]["r2"]["50%"]),
    ("pooled rmse (price)", lambda s: s["pooled"]["rmse_price"]),
    ("strategy total return", lambda s: s["strategy"]["figures"]["total_return"]),
    ("buy & hold total return", lambda s: s["strategy"]["buy_hold"]["total_return"]),
    ("splits/s", lambda s: s.get("splits_per_second")),
    ("seconds", lambda s: s["seconds"]["total"]),
)


def compare_rows(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, list[str]]]:
    """The headline figures of several runs, formatted; a figure no run has is left out, one that
    only some runs have (an older summary, no strategy) shows '-'."""
    rows = []
    for label, get in COMPARE_FIGURES:
        values = [_safe(get, summary) for _, summary in runs]
        if all(v is None for v in values):
            continue
        percent = label.endswith("total return")
        rows.append((label, [format_figure("total_return", v) if percent and v is not None else fmt(v)
                             for v in values]))
    return rows


def compare_table(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> Table:
    """Several runs side by side: median validation metrics, tests against naive, P&L, speed."""
    table = Table(title="Runs compared", title_justify="left")
    table.add_column("figure", style="bold")
    for name, _ in runs:
        table.add_column(Text(name), justify="right")
    for label, values in compare_rows(runs):
        table.add_row(label, *values)
    return table


def runs_dm_table(tests: Sequence[Mapping[str, Any]]) -> Table:
    """Diebold-Mariano between pairs of runs on the dates both forecast (out of sample)."""
    table = _titled("Diebold-Mariano between runs: out-of-sample forecasts on the dates both have")
    for column in ("run A", "run B", "DM", "p-value", "dates", "result"):
        table.add_column(column, justify="right" if column in ("DM", "p-value", "dates") else "left")
    for test in tests:
        table.add_row(Text(test["a"]), Text(test["b"]), fmt(test["statistic"]), fmt(test["p_value"]),
                      fmt(test["n"]), Text(test["note"]))
    return table


def residuals_text(residuals: Mapping[str, Any] | None) -> Text:
    """One line: the Ljung-Box test of the stitched out-of-sample residuals."""
    if not residuals:
        return Text("Residuals: no out-of-sample forecasts to test.")
    test = residuals["ljung_box"]
    p_value = test["p_value"]
    reading = ("they still hold autocorrelation a model could use" if p_value < 0.05
               else "no autocorrelation detected")
    return Text(f"Residuals of the out-of-sample forecasts ({residuals['points']:,} dates): mean "
                f"{fmt(residuals['mean'])}, sd {fmt(residuals['std'])}; Ljung-Box over {test['lags']} lags "
                f"Q {fmt(test['statistic'])}, p {'< 1e-16' if p_value < 1e-16 else fmt(p_value)}: {reading}.")


def _safe(get, summary):
    try:
        return get(summary)
    except (KeyError, TypeError):
        return None


TRIAL_HEADERS = {"val_rmse_price_median": "median RMSE", "val_rmse_price_iqr": "IQR",
                 "beats_naive": "beats naive", "dm_naive_statistic": "DM", "dm_naive_p_value": "p",
                 "sharpe": "Sharpe", "seconds": "s"}


def trials_table(trials: Any, programs: int, narrow: bool = False) -> Table:
    """A sweep's trials.csv (a Polars frame), one row per trial, with short headers; `narrow`
    keeps the verdict columns and names swept keys without their section (80 columns)."""
    title = f"Sweep: {trials.height} trials in {programs} compiled program(s); validation RMSE in price units"
    table = _titled(title)
    columns = [c for c in trials.columns if not narrow or c not in NARROW_DROPS]
    for column in columns:
        header = column.split(".", 1)[-1] if narrow else TRIAL_HEADERS.get(column, column)
        table.add_column(Text(TRIAL_HEADERS.get(column, header)), justify="left" if column == "trial" else "right",
                         no_wrap=True)
    for row in trials.select(columns).rows():
        table.add_row(*(Text(fmt(value, 3 if narrow else 4)) for value in row))
    return table


NARROW_DROPS = ("val_rmse_price_iqr", "dm_naive_statistic", "seconds")


def tune_table(tuned: Mapping[str, Any]) -> Table:
    """`wfbt tune`'s verdict: the best config on the holdout, beside naive and its tuning score."""
    best, holdout, periods = tuned["best"], tuned["holdout"], (tuned["tuning_splits"], tuned["holdout_splits"])
    table = _titled(f"Tuning: best of {tuned['trials']} trials ({tuned['objective']}; lower is better)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    params = ", ".join(f"{k} = {fmt(v)}" for k, v in best["params"].items())
    dm = holdout["dm_naive"]
    rows = [
        ("best parameters", params),
        ("tuning splits", f"{periods[0]['count']:,}: validation {periods[0]['first_val_date']} .. {periods[0]['last_val_date']}"),
        ("holdout splits", f"{periods[1]['count']:,}: validation {periods[1]['first_val_date']} .. {periods[1]['last_val_date']}"),
        ("tuning score", fmt(best["tuning_score"])),
        ("holdout score", fmt(holdout["model"])),
        ("optimism (holdout - tuning)", fmt(tuned["optimism"])),
        ("naive on the holdout", fmt(holdout["naive"])),
        ("median RMSE model / naive", f"{fmt(holdout['model_median_rmse_price'])} / {fmt(holdout['naive_median_rmse_price'])}"),
        ("holdout splits model beats naive", fmt(holdout["beats_naive"])),
        ("DM vs naive (p)", f"{fmt(dm['statistic'])} ({fmt(dm['p_value'])})"),
        ("trials", ", ".join(f"{n} {state}" for state, n in tuned["states"].items() if n)),
    ]
    for name, value in rows:
        table.add_row(Text(name), Text(value))
    return table
