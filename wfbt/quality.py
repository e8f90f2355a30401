"""The data quality report: pure checks of a loaded frame, each finding with its level and dates.

`check_frame` computes; `wfbt inspect` renders it (`cli.py`) and `wfbt run` prints its one-line
`verdict`. Errors are what stops a run (duplicate or unsorted dates, missing values in a column the
run reads under `[data] missing = "error"`); warnings and notes are for the user to judge.
Thresholds are module constants, documented in docs/data.md.

>>> import numpy as np, polars as pl
>>> dates = np.arange("2020-01-01", "2020-01-08", dtype="datetime64[D]")
>>> frame = pl.DataFrame({"Close": [10.0, 10.5, 10.4, 20.0, 20.1, 20.2, 20.0]})
>>> [f.check for f in check_frame(frame, dates, used=["Close"]).findings]
['jump']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

GAP_BUSINESS_DAYS = 3  # more business days missing between two daily rows: a gap (holidays leave 1-2)
JUMP = 0.25  # |one-period return| above this: a suspicious jump (an unadjusted split, a bad print)
NEAR_CONSTANT_SHARE = 0.95  # the most common value on this share of rows or more: near-constant
NEAR_CONSTANT_CV = 1e-6  # or a standard deviation below this fraction of the mean's magnitude
UNIQUE_SHARE = 0.9  # a text column with this share of distinct values or more looks like an identifier
SHOWN_DATES = 5  # dates listed per finding


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning" | "note"
    check: str  # "gap", "duplicate_date", "unsorted", "missing", "non_finite", "not_positive",
    #             "constant", "near_constant", "unique", "jump"
    column: str  # "" for the dates
    message: str
    dates: tuple[str, ...] = ()  # the first SHOWN_DATES rows concerned
    count: int = 0


@dataclass(frozen=True)
class ColumnStats:
    name: str
    dtype: str
    missing: int  # null
    non_finite: int  # NaN or infinite
    unique_share: float
    minimum: float | None
    maximum: float | None
    used: bool  # read by the run (target, features, adjust)


@dataclass(frozen=True)
class QualityReport:
    rows: int
    first: str
    last: str
    columns: tuple[ColumnStats, ...]
    findings: tuple[Finding, ...]

    def count(self, level: str, used: bool | None = None) -> int:
        names = {c.name for c in self.columns if c.used}
        return sum(1 for f in self.findings if f.level == level
                   and (used is None or (f.column == "" or f.column in names) == used))

    def verdict(self) -> str:
        """One line: rows, dates, and how many findings on the columns the run reads and on the others."""
        head = f"data: {self.rows:,} rows {self.first} .. {self.last}"
        errors, warnings = self.count("error"), self.count("warning", used=True)
        others = self.count("warning", used=False)
        parts = [f"{errors} error(s)", f"{warnings} warning(s) on the columns used"]
        if others:
            parts.append(f"{others} on other columns")
        verdict = "FAIL" if errors else ("check" if warnings else "ok")
        return f"{head}; {verdict}: {', '.join(parts)} (`wfbt inspect` shows them)"


def check_frame(frame: pl.DataFrame, dates: np.ndarray, used: Sequence[str] = (), missing_policy: str = "error",
                date_column: str = "Date") -> QualityReport:
    """Every check on `frame` (its rows as read) with their parsed `dates` (numpy datetime64)."""
    labels = _labels(dates)
    findings = _date_findings(dates, labels)
    columns = []
    for name in frame.columns:
        if name == date_column:
            continue
        series = frame.get_column(name)
        stats, found = _column(series, labels, name in used, missing_policy)
        columns.append(stats)
        findings += found
    first, last = (labels[0], labels[-1]) if len(labels) else ("", "")
    return QualityReport(len(labels), first, last, tuple(columns), tuple(findings))


def _labels(dates: np.ndarray) -> np.ndarray:
    unit = "D" if dates.dtype == np.dtype("datetime64[D]") else "s"
    return np.datetime_as_string(dates, unit=unit)


def _shown(labels: np.ndarray, rows: np.ndarray) -> tuple[str, ...]:
    return tuple(str(x) for x in labels[rows[:SHOWN_DATES]])


def _date_findings(dates: np.ndarray, labels: np.ndarray) -> list[Finding]:
    findings = []
    steps = np.diff(dates)
    duplicate = np.flatnonzero(steps == np.timedelta64(0)) + 1
    if len(duplicate):
        findings.append(Finding("error", "duplicate_date", "", f"{len(duplicate)} duplicate date(s)",
                                _shown(labels, duplicate), len(duplicate)))
    backwards = np.flatnonzero(steps < np.timedelta64(0)) + 1
    if len(backwards):
        findings.append(Finding("error", "unsorted", "", f"dates go backwards on {len(backwards)} row(s); sort by date",
                                _shown(labels, backwards), len(backwards)))
    if dates.dtype == np.dtype("datetime64[D]") and len(dates) > 1 and not len(backwards):
        skipped = np.busday_count(dates[:-1] + np.timedelta64(1, "D"), dates[1:])  # business days between rows
        gaps = np.flatnonzero(skipped > GAP_BUSINESS_DAYS)
        if len(gaps):
            longest = int(skipped[gaps].max())
            findings.append(Finding(
                "warning", "gap", "", f"{len(gaps)} gap(s) of more than {GAP_BUSINESS_DAYS} business days "
                f"(longest {longest}); dates shown are the rows after each gap", _shown(labels, gaps + 1), len(gaps)))
    return findings


def _column(series: pl.Series, labels: np.ndarray, used: bool, policy: str) -> tuple[ColumnStats, list[Finding]]:
    name, findings = series.name, []
    missing = series.null_count()
    unique_share = series.n_unique() / max(len(series), 1)
    numeric = series.dtype.is_numeric()
    # the run reads these under [data] missing: an error unless a policy deals with them
    level = "error" if used and policy == "error" else "warning"
    if missing:
        rows = series.is_null().arg_true().to_numpy()
        findings.append(Finding(level, "missing", name, f"{missing} missing value(s)", _shown(labels, rows), missing))
    if not numeric:
        stats = ColumnStats(name, str(series.dtype), missing, 0, unique_share, None, None, used)
        if unique_share >= UNIQUE_SHARE and len(series) > 1:
            findings.append(Finding("note", "unique", name, f"{unique_share:.0%} distinct values: an identifier, "
                                    "not a feature?"))
        return stats, findings
    values = series.cast(pl.Float64).to_numpy().astype(np.float64)
    non_finite_rows = np.flatnonzero(~np.isfinite(values) & series.is_not_null().to_numpy())
    if len(non_finite_rows):
        findings.append(Finding(level, "non_finite", name, f"{len(non_finite_rows)} NaN or infinite value(s)",
                                _shown(labels, non_finite_rows), len(non_finite_rows)))
    finite = values[np.isfinite(values)]  # nulls read as NaN
    stats = ColumnStats(name, str(series.dtype), missing, len(non_finite_rows), unique_share,
                        float(finite.min()) if len(finite) else None, float(finite.max()) if len(finite) else None, used)
    if len(finite) > 1:
        findings += _spread(name, finite)
    if "volume" not in name.lower():  # prices: positive, and no jumps (volumes jump every day)
        findings += _prices(name, values, labels)
    return stats, findings


def _spread(name: str, finite: np.ndarray) -> list[Finding]:
    distinct, counts = np.unique(finite, return_counts=True)
    if len(distinct) == 1:
        return [Finding("warning", "constant", name, f"constant ({distinct[0]:g} on every row)")]
    share = counts.max() / len(finite)
    cv = finite.std() / max(abs(finite.mean()), np.finfo(float).tiny)
    if share >= NEAR_CONSTANT_SHARE or cv < NEAR_CONSTANT_CV:
        common = distinct[np.argmax(counts)]
        return [Finding("warning", "near_constant", name,
                        f"near-constant: {common:g} on {share:.1%} of rows, std/|mean| {cv:.2g}")]
    return []


def _prices(name: str, values: np.ndarray, labels: np.ndarray) -> list[Finding]:
    findings = []
    not_positive = np.flatnonzero(values <= 0)
    if len(not_positive):
        findings.append(Finding("warning", "not_positive", name, f"{len(not_positive)} zero or negative value(s)",
                                _shown(labels, not_positive), len(not_positive)))
    with np.errstate(divide="ignore", invalid="ignore"):
        change = values[1:] / values[:-1] - 1.0
    jumps = np.flatnonzero((np.abs(change) > JUMP) & np.isfinite(change) & (values[:-1] > 0)) + 1
    if len(jumps):
        biggest = jumps[np.argmax(np.abs(change[jumps - 1]))]
        findings.append(Finding(
            "warning", "jump", name, f"{len(jumps)} one-period change(s) beyond ±{JUMP:.0%} (largest "
            f"{change[biggest - 1]:+.1%} on {labels[biggest]}): a split not adjusted for, or a real move "
            f"([data] adjust = true adjusts OHLC by Adj Close)", _shown(labels, jumps), len(jumps)))
    return findings
