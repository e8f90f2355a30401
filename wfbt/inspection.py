"""`wfbt inspect CONFIG`: the data quality report of a config's source, and its feature frame.

`inspect_config` computes (the report on the file as read, then the series a run would use, or
the error that would stop it); `quality_tables` renders; `write_features` is the thin writer of
`--features FILE`. Every user string goes into a table as `Text`, never as rich markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from rich.table import Table
from rich.text import Text

from wfbt.config import Config
from wfbt.data import PriceSeries, load_prices, read_frame, used_columns
from wfbt.errors import UserError
from wfbt.quality import QualityReport, check_frame

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "note": "dim"}


@dataclass(frozen=True)
class Inspection:
    report: QualityReport
    prices: PriceSeries | None  # what a run would read; None when loading it fails
    problem: str  # the error that stops a run ("" when none)


def inspect_config(config: Config) -> Inspection:
    """The quality report of `config`'s source, and the series (with features) a run would read."""
    data = config.data
    raw = read_frame(data, config.base_dirs, data.separator or None, data.decimal)
    report = check_frame(raw.frame, raw.dates, used_columns(data, config.features), data.missing, raw.date_column)
    splits = config.splits
    try:
        prices = load_prices(data, config.base_dirs, splits.train + splits.gap + splits.val,
                             data.separator or None, data.decimal, config.features)
    except UserError as exc:
        return Inspection(report, None, str(exc))
    return Inspection(report, prices, "")


def quality_tables(inspection: Inspection) -> list[Table]:
    """The report as rich tables: the run's data, every column, every finding."""
    report, prices = inspection.report, inspection.prices
    facts = Table(title="Data", show_header=False, title_justify="left")
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("file", Text(f"{report.rows:,} rows, {report.first} .. {report.last}"))
    if prices is not None:
        facts.add_row("run", Text(f"{len(prices):,} rows, {prices.date_text(0)} .. {prices.date_text(len(prices) - 1)}"
                                  f" (start/end, the missing policy and {prices.warmup} warm-up rows applied)"))
        facts.add_row("inputs", Text(", ".join(prices.input_names or (prices.target,))))
    facts.add_row("verdict", Text(report.verdict()))
    if inspection.problem:
        facts.add_row("stops a run", Text(inspection.problem, style="bold red"))

    columns = Table(title="Columns", title_justify="left")
    for name in ("column", "type", "used", "missing", "non-finite", "unique", "min", "max"):
        columns.add_column(name, justify="left" if name in ("column", "type") else "right")
    for c in report.columns:
        columns.add_row(Text(c.name), Text(c.dtype), "yes" if c.used else "", str(c.missing), str(c.non_finite),
                        f"{c.unique_share:.1%}", _number(c.minimum), _number(c.maximum))

    findings = Table(title="Findings", title_justify="left")
    for name in ("level", "check", "column", "what", "dates"):
        findings.add_column(name, overflow="fold")
    for f in report.findings:
        more = f" (+{f.count - len(f.dates)})" if f.count > len(f.dates) else ""
        findings.add_row(Text(f.level, style=LEVEL_STYLE[f.level]), Text(f.check), Text(f.column or "(dates)"),
                         Text(f.message), Text(", ".join(f.dates) + more))
    if not report.findings:
        findings.add_row("", "", "", Text("no findings"), "")
    return [facts, columns, findings]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.6g}"


def write_features(prices: PriceSeries, path: Path, date_column: str = "Date") -> None:
    """The feature frame a run feeds the model: the date column, then one column per input
    (the target alone without [[features]]), as CSV or Parquet by the file's extension."""
    _write_frame(feature_frame(prices, date_column), path)


def write_ticker_features(found: list[tuple[str, PriceSeries]], path: Path, date_column: str = "Date") -> None:
    """Several tickers' feature frames, one after another, with a `ticker` column first."""
    frames = [feature_frame(prices, date_column).select(pl.lit(name).alias("ticker"), pl.all())
              for name, prices in found]
    _write_frame(pl.concat(frames, how="vertical_relaxed"), path)


def feature_frame(prices: PriceSeries, date_column: str = "Date") -> pl.DataFrame:
    inputs = prices.inputs if prices.inputs is not None else prices.values[:, None]
    names = prices.input_names or (prices.target,)
    return pl.DataFrame({date_column: prices.date_text(np.arange(len(prices)))}
                        | {name: inputs[:, i] for i, name in enumerate(names)})


def _write_frame(frame: pl.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame.write_csv(path)
        elif suffix == ".parquet":
            frame.write_parquet(path)
        else:
            raise UserError(f"--features {path}: write a .csv or a .parquet file (by its extension).")
    except OSError as exc:
        raise UserError(f"--features {path}: cannot write the file: {exc.strerror or exc}.") from None
