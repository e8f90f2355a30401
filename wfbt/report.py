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


def fmt(value: Any, digits: int = 5) -> str:
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
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{max(digits - 2, 2)}f}"
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
        ("seconds", f"{seconds['total']:.1f} total, {seconds['training']:.1f} training "
                    f"(first chunk incl. compile {seconds['first_chunk']:.1f})"),
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


def print_summary(console: Console, summary: Mapping[str, Any]) -> None:
    console.print(facts_table(summary))
    console.print(pooled_table(summary["pooled"]))
    console.print(describe_table("Per-split training metrics (scaled)", summary["describe"]["train"], SCALED))
    console.print(describe_table("Per-split validation metrics (scaled)", summary["describe"]["val"], SCALED))
    console.print(describe_table("Per-split validation metrics (price units; MAPE in %)", summary["describe"]["val"], PRICE))
    epochs = summary["epochs"]
    console.print(f"epochs run: median {fmt(epochs['run']['50%'])}, best epoch: median {fmt(epochs['best']['50%'])}")


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
