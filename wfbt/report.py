"""Rich terminal summaries. Everything here renders `summary.json`; nothing is computed.

Because it reads only the summary, `wfbt report RUN_DIR` re-renders a finished run exactly as
`wfbt run` printed it, without retraining.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

STATS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")
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


def facts_table(summary: Mapping[str, Any]) -> Table:
    data, splits, device, seconds = summary["data"], summary["splits"], summary["device"], summary["seconds"]
    table = Table(title="Run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rate = summary.get("splits_per_second")
    rows = [
        ("data", f"{data['source']} · {data['target']} · {data['first_date']} .. {data['last_date']} ({data['rows']:,} rows)"),
        ("splits", f"{splits['count']:,} {splits['mode']} (train {splits['train']}, val {splits['val']}, "
                   f"step {splits['step']}, gap {splits['gap']}); trained now {splits['trained_now']:,}; "
                   f"failed {splits['failed']}"),
        ("device", f"{device['count']} × {device['platform']} ({device['kind']})"),
        ("seconds", f"{seconds['total']:.1f} total: " + ", ".join(
            f"{name.replace('_', ' ')} {seconds[name]:.1f}" for name in
            ("load", "compile", "training", "tables", "next_forecast") if name in seconds)
            + " (training includes compile)"),
        ("speed", f"{rate:,.1f} splits/s" if rate else "- (nothing trained: resumed from saved results)"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def describe_table(title: str, tables: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> Table:
    """Rows count..max, one column per metric: the reference report's Tables 1-3."""
    table = Table(title=title, title_justify="left")
    table.add_column("")
    present = [m for m in metrics if m in tables]
    for metric in present:
        table.add_column(metric, justify="right")
    for stat in STATS:
        table.add_row(stat, *(fmt(tables[m][stat]) for m in present))
    return table


def pooled_table(pooled: Mapping[str, float]) -> Table:
    table = Table(title="Pooled over all validation points (price units)", title_justify="left")
    for key in pooled:
        table.add_column(key, justify="right")
    table.add_row(*(fmt(v) for v in pooled.values()))
    return table


COMPARED_TITLES = {
    "val_rmse_price": "Validation RMSE (price units) per split",
    "val_mae_price": "Validation MAE (price units) per split",
    "val_r2": "Validation R² (scaled) per split",
    "val_dir_acc": "Direction accuracy per split",
}


def print_summary(console: Console, summary: Mapping[str, Any]) -> None:
    console.print(facts_table(summary))
    console.print(pooled_table(summary["pooled"]))
    console.print(describe_table("Per-split training metrics (scaled)", summary["describe"]["train"], SCALED))
    console.print(describe_table("Per-split validation metrics (scaled)", summary["describe"]["val"], SCALED))
    console.print(describe_table("Per-split validation metrics (price units; MAPE in %)", summary["describe"]["val"], PRICE))
    epochs = summary["epochs"]
    console.print(f"epochs run: median {epochs['run']['50%']:g}, best epoch: median {epochs['best']['50%']:g}")
    console.print(curves_table(summary["curves"]))
    if summary.get("baselines"):
        for metric, title in COMPARED_TITLES.items():
            console.print(forecasters_table(title, summary["compare"][metric]))
        console.print(baseline_tests_table(summary))
    if "coverage" in summary:
        console.print("Gaussian interval coverage on validation points: "
                      + ", ".join(f"{level} interval {fmt(share)}" for level, share in summary["coverage"].items()))
    if "strategy" in summary:
        console.print(strategy_table(summary["strategy"]))
    if "next_forecast" in summary:
        console.print(next_forecast_text(summary["next_forecast"]))


def curves_table(curves: Mapping[str, list]) -> Table:
    table = Table(title="Loss per epoch over splits: median [25%, 75%]", title_justify="left")
    for column in ("epoch", "splits training", "train loss", "validation loss"):
        table.add_column(column, justify="right")
    for i, epoch in enumerate(curves["epoch"]):
        band = [f"{fmt(curves[f'{c}_median'][i])} [{fmt(curves[f'{c}_q25'][i])}, {fmt(curves[f'{c}_q75'][i])}]"
                for c in ("train_loss", "val_loss")]
        table.add_row(str(epoch), str(curves["splits"][i]), *band)
    return table


def forecasters_table(title: str, by_forecaster: Mapping[str, Mapping[str, float]]) -> Table:
    """One row per forecaster (the model, then each baseline), describe() columns."""
    table = Table(title=title, title_justify="left")
    table.add_column("forecaster", style="bold", min_width=10, no_wrap=True)
    for stat in STATS:
        table.add_column(stat, justify="right")
    for who, stats in by_forecaster.items():
        table.add_row(who, *(fmt(stats[s]) for s in STATS))
    return table


def baseline_tests_table(summary: Mapping[str, Any]) -> Table:
    points = summary["dm_points"]
    table = Table(title=f"Model vs baselines: one-step forecasts {points['first_date']} .. {points['last_date']} "
                        "(Diebold-Mariano, squared error, HLN-corrected; negative = model better)",
                  title_justify="left")
    for column in ("baseline", "splits model beats (val MSE)", "DM statistic", "p-value", "points",
                   "DM after validation", "p-value ", "points "):
        table.add_column(column, justify="right")
    after = summary.get("dm_test_after_validation", {})
    for name in summary["baselines"]:
        dm, oos = summary["dm_test"][name], after.get(name, {})
        table.add_row(name, fmt(summary["model_beats_share"][name]), fmt(dm["statistic"]), fmt(dm["p_value"]),
                      fmt(dm["n"]), fmt(oos.get("statistic")), fmt(oos.get("p_value")), fmt(oos.get("n")))
    return table


def strategy_table(strategy: Mapping[str, Any]) -> Table:
    from wfbt.pnl import pnl_table

    table = pnl_table(strategy["figures"], strategy["buy_hold"])
    params = ", ".join(f"{k}={v}" for k, v in strategy["params"].items())
    table.title = (f"Strategy {strategy['name']}({params}) vs buy-and-hold, costs {strategy['cost_bps']:g} bps"
                   f" + slippage {strategy['slippage_bps']:g} bps")
    table.title_justify = "left"
    return table


def next_forecast_text(forecast: Mapping[str, Any]) -> str:
    return (f"Next point {forecast['date']} (after the last observation {forecast['last_date']}, "
            f"{fmt(forecast['last_value'])}): forecast {fmt(forecast['last_window'])} from the last window; "
            f"{fmt(forecast['average'])} averaged over the last {forecast['windows']} windows.")


def compare_table(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> Table:
    """Several runs side by side: median validation metrics, pooled error, speed."""
    table = Table(title="Runs compared", title_justify="left")
    table.add_column("figure", style="bold")
    for name, _ in runs:
        table.add_column(name, justify="right")
    figures = [
        ("splits", lambda s: s["splits"]["count"]),
        ("failed", lambda s: s["splits"]["failed"]),
        ("median val mse (scaled)", lambda s: s["describe"]["val"]["mse"]["50%"]),
        ("median val rmse (price)", lambda s: s["describe"]["val"]["rmse_price"]["50%"]),
        ("median val mae (price)", lambda s: s["describe"]["val"]["mae_price"]["50%"]),
        ("median val r2", lambda s: s["describe"]["val"]["r2"]["50%"]),
        ("pooled rmse (price)", lambda s: s["pooled"]["rmse_price"]),
        ("splits/s", lambda s: s.get("splits_per_second")),
        ("seconds", lambda s: s["seconds"]["total"]),
    ]
    for label, get in figures:
        table.add_row(label, *(fmt(_safe(get, summary)) for _, summary in runs))
    return table


def _safe(get, summary):
    try:
        return get(summary)
    except (KeyError, TypeError):
        return None
