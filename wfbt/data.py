"""Price data: load with Polars, check, filter. Every problem a user can fix is a `UserError`.

Sources: `sample:<TICKER>` reads the daily prices that ship with the `bokeh-sampledata` package
(so the default experiment needs no network), or a path to a `.csv` / `.parquet` file with a
date column and numeric columns. A CSV may separate fields with `,` `;` tab or `|` (read from its
header line unless given) and may write decimals with a comma (`decimal=","`).

`load_prices` also applies the `[data] missing` policy and `adjust`, computes the `[[features]]`
inputs (`wfbt.indicators`) and drops their warm-up rows; `read_frame` gives the file as read, for
the quality report (`wfbt.quality`). docs/data.md describes every step.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

from wfbt import indicators, quality, transform
from wfbt.config import DataConfig, FeatureConfig
from wfbt.errors import UserError, did_you_mean, known

SAMPLE_PREFIX = "sample:"
# "<date and time>+05:00" (or +05, -0500, Z, UTC) -> "<date and time>"
_OFFSET = r"^(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:[+-]\d{2}(?::?\d{2})?|Z|UTC)$"


@dataclass(frozen=True)
class PriceSeries:
    """One observed series, sorted by date: what every later stage reads."""

    dates: np.ndarray  # datetime64[D] (or [us] for intraday data), strictly increasing
    values: np.ndarray  # float64, finite
    target: str
    source: str  # where it came from, resolved (sample name or absolute path)
    # the model inputs (rows, F) float64, one column per [[features]] input; None: the target alone
    inputs: np.ndarray | None = None
    input_names: tuple[str, ...] = ()
    warmup: int = 0  # leading rows dropped because some input was not yet defined
    verdict: str = ""  # the data quality report in one line (wfbt.quality)
    # the series the model learns with [data] target_transform (log returns, wfbt.transform), aligned
    # with `values`; None: the prices themselves
    learned: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def intraday(self) -> bool:
        """Whether rows carry times of day (else every row is a date)."""
        return self.dates.dtype != np.dtype("datetime64[D]")

    def date_text(self, index: np.ndarray | int) -> np.ndarray | str:
        """ISO labels for indices, for CSVs and messages: dates, or date and time for intraday
        data (a label must name one row: bars of one day sharing a date would be merged)."""
        return date_labels(self.dates[index])

    def next_date_text(self) -> str:
        """The label of the first row after the data: the last row plus the most common step
        between rows, except that a daily step on business days only goes to the next business
        day (at the same time of day: daily bars may be stamped 16:00)."""
        last = self.dates[-1]
        steps, counts = np.unique(np.diff(self.dates), return_counts=True)
        step = steps[np.argmax(counts)] if len(steps) else np.timedelta64(1, "D")
        day = last.astype("datetime64[D]")
        if step == np.timedelta64(1, "D") and np.is_busday(self.dates.astype("datetime64[D]")).all():
            return str(date_labels(np.busday_offset(day, 1, roll="forward") + (last - day)))
        return str(date_labels(last + step))


def date_labels(dates: np.ndarray) -> np.ndarray | str:
    """ISO labels: "2008-05-30" for dates, "2008-05-30T16:00:00" for times of day, with as many
    decimals of a second as the times need (two bars must never share a label)."""
    dates = np.asarray(dates)
    if dates.dtype == np.dtype("datetime64[D]"):
        return np.datetime_as_string(dates, unit="D")
    unit = next(u for u in ("s", "ms", "us", "ns") if (dates.astype(f"datetime64[{u}]") == dates).all())
    return np.datetime_as_string(dates, unit=unit)


def load_prices(config: DataConfig, base_dirs: tuple[Path, ...], min_rows: int,
                separator: str | None = None, decimal: str = ".",
                features: tuple[FeatureConfig, ...] = ()) -> PriceSeries:
    """Load, check and filter the configured series; `min_rows` is what one split needs.

    `separator` and `decimal` apply to CSV files: a separator of None is read from the header line.
    With `features`, the model inputs are computed on the whole file (after the `[data] missing`
    policy and `adjust`), then the rows are filtered to `start`..`end` and the leading rows where
    an input is still undefined (its warm-up) are dropped.
    """
    return _checked_series(read_frame(config, base_dirs, separator, decimal), config, min_rows, decimal, features)


def prices_from_frame(frame, config: DataConfig, min_rows: int, features: tuple[FeatureConfig, ...] = ()) -> PriceSeries:
    """A pandas or Polars DataFrame (a date column and value columns) instead of `[data] source`,
    checked exactly as a file is: the same errors name the column, row and date. A pandas frame
    indexed by its dates (e.g. from `yfinance`) has the index taken as the date column."""
    label = "the DataFrame passed as data"
    if not isinstance(frame, pl.DataFrame):
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dependency
            pd = None
        if pd is None or not isinstance(frame, pd.DataFrame):
            raise UserError(f"data: expected a pandas or Polars DataFrame, got {type(frame).__name__}.")
        if config.date_column not in frame.columns and (
                frame.index.name == config.date_column or isinstance(frame.index, pd.DatetimeIndex)):
            frame = frame.rename_axis(config.date_column).reset_index()
        frame = _polars_from_pandas(frame, pd)
    frame, ticker = one_ticker(frame, config, label)
    if ticker is not None:
        label = f"{label} ({config.ticker_column} {ticker})"
    if frame.height == 0:
        raise UserError(f"{label}: it has no rows (columns: {known(frame.columns) or 'none'}).")
    raw = RawFrame(frame, _parse_dates(frame, config.date_column, label), "DataFrame", label, None, config.date_column)
    return _checked_series(raw, config, min_rows, ".", features)


def _polars_from_pandas(frame, pd) -> pl.DataFrame:
    """Column by column, so that no pyarrow is needed: NumPy columns as they are, others (strings,
    nullable or time-zone aware columns) as Python values with pandas' missing values as None."""
    columns = {}
    for name, column in frame.items():
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufM":
            columns[str(name)] = column.to_numpy()
        else:
            columns[str(name)] = [None if pd.isna(value) else value for value in column.tolist()]
    return pl.DataFrame(columns, strict=False)


def _checked_series(raw: RawFrame, config: DataConfig, min_rows: int, decimal: str,
                    features: tuple[FeatureConfig, ...] = ()) -> PriceSeries:
    """A read frame checked (columns, order, missing values), adjusted, its features computed,
    filtered to [start, end] and past the features' warm-up, long enough."""
    frame, label, dates = raw.frame, raw.label, raw.dates
    used = used_columns(config, features)
    numbers = {column: _numeric(frame, column, label, dates, decimal, _role(column, config)) for column in used}
    _check_order(dates, label)
    keep = np.ones(len(dates), dtype=bool)
    numbers, keep = _apply_missing(frame, numbers, keep, config, label, dates)
    if config.adjust:
        numbers = _adjusted(numbers)
    values = numbers[config.target]
    inputs, names, warmup = None, (), 0
    if features:
        table = indicators.feature_frame(pl.DataFrame(numbers).filter(pl.Series(keep)), features, config.target)
        names = tuple(table.columns)
        inputs = np.full((len(dates), len(names)), np.nan)
        inputs[keep] = table.to_numpy().astype(np.float64)
    learned = None
    if config.target_transform != "none":  # over the rows kept so far, like the features: row 0 has none
        learned = np.full(len(dates), np.nan)
        learned[keep] = transform.learned_series(values[keep], config.target_transform)
    if config.start is not None:
        keep &= dates >= np.datetime64(config.start)
    if config.end is not None:
        keep &= dates < np.datetime64(config.end + dt.timedelta(days=1))
    if inputs is not None or learned is not None:  # the warm-up: leading kept rows where some input is undefined
        defined = np.ones(len(dates), dtype=bool) if inputs is None else np.isfinite(inputs).all(axis=1)
        if learned is not None:
            defined &= np.isfinite(learned)
        kept = np.flatnonzero(keep)
        first = kept[np.argmax(defined[kept])] if defined[kept].any() else len(dates)
        warmup = int(np.count_nonzero(kept < first))
        keep &= np.arange(len(dates)) >= first
        if inputs is not None:
            _check_inputs(inputs, keep, names, label, dates)
        if learned is not None:
            _check_learned(learned, values, keep, config, label, dates)
    if raw.sample is not None and len(dates) < min_rows:  # no dates can help: say what the ticker holds
        raise UserError(
            f"{label}: the sample ticker {raw.sample} has {len(dates)} rows "
            f"({_day(dates, 0)} .. {_day(dates, -1)}), but one split needs at least {min_rows} rows "
            f"([splits] train + gap + val). Use a longer sample (`wfbt list` shows them) or smaller windows."
        )
    if keep.sum() < min_rows:
        window = f" between {config.start or 'the start'} and {config.end or 'the end'}"
        after = f" after {warmup} warm-up rows of the features" if warmup else ""
        raise UserError(
            f"{label}: {int(keep.sum())} rows{window if (config.start or config.end) else ''}{after}, but one split "
            f"needs at least {min_rows} ([splits] train + gap + val). Use more data or smaller windows."
        )
    report = quality.check_frame(frame, dates, used, config.missing, raw.date_column)
    return PriceSeries(dates=dates[keep], values=values[keep], target=config.target, source=raw.source,
                       inputs=None if inputs is None else inputs[keep], input_names=names, warmup=warmup,
                       verdict=report.verdict(), learned=None if learned is None else learned[keep])


@dataclass(frozen=True)
class RawFrame:
    """A source as read, before any check: what `wfbt inspect` reports on."""

    frame: pl.DataFrame
    dates: np.ndarray
    source: str
    label: str
    sample: str | None  # the sample ticker, or None for a file or a DataFrame
    date_column: str


def read_frame(config: DataConfig, base_dirs: tuple[Path, ...], separator: str | None = None,
               decimal: str = ".") -> RawFrame:
    """The configured source's rows and parsed dates, unchecked (duplicates and order included).

    A long file (a `ticker_column`) gives the rows of its one ticker, or of the one `tickers` names;
    several tickers are a run of their own (`wfbt.tickers`)."""
    entry = single_source(config)
    is_sample = entry.startswith(SAMPLE_PREFIX)
    if is_sample:
        frame, source = _read_sample(entry[len(SAMPLE_PREFIX):]), entry
        date_column, label = "Date", entry
    else:
        path = _resolve(entry, base_dirs)
        frame, source = _read_file(path, separator, decimal), str(path)
        date_column = config.date_column
        frame, ticker = one_ticker(frame, config, source)
        label = source if ticker is None else f"{source} ({config.ticker_column} {ticker})"
    if frame.height == 0:
        raise UserError(f"{label}: the file has no data rows (columns: {known(frame.columns) or 'none'}).")
    sample = entry[len(SAMPLE_PREFIX):] if is_sample else None
    return RawFrame(frame, _parse_dates(frame, date_column, label), source, label, sample, date_column)


def single_source(config: DataConfig) -> str:
    """The one source of a single-ticker run; a list of several is a multi-ticker run."""
    if isinstance(config.source, str):
        return config.source
    if len(config.source) == 1:
        return config.source[0]
    raise UserError(
        f"[data] source lists {len(config.source)} sources ({known(config.source)}): several tickers run together "
        f"with `wfbt run` (docs/data.md); this command takes one ticker. Set [data] tickers to pick one."
    )


def one_ticker(frame: pl.DataFrame, config: DataConfig, label: str) -> tuple[pl.DataFrame, str | None]:
    """A long frame's rows of one ticker, without the ticker column, and that ticker (None when
    the frame has no `ticker_column`): the ticker `tickers` names, or the frame's only one."""
    column = config.ticker_column
    if column not in frame.columns:
        return frame, None
    names = frame_tickers(frame, column, label)
    if config.tickers:
        missing = [t for t in config.tickers if t not in names]
        if missing:
            raise UserError(f"{label}: no ticker '{missing[0]}' in column '{column}'.{did_you_mean(missing[0], names)} "
                            f"Tickers: {known(names)}. Fix [data] tickers.")
        names = list(config.tickers)
    if len(names) > 1:
        raise UserError(f"{label}: holds {len(names)} tickers in column '{column}' ({known(names)}): several tickers "
                        f"run together with `wfbt run` (docs/data.md); this command takes one. "
                        f"Set [data] tickers to pick one.")
    return frame.filter(pl.col(column).cast(pl.String) == names[0]).drop(column), names[0]


def frame_tickers(frame: pl.DataFrame, column: str, label: str) -> list[str]:
    """The distinct tickers of a long frame's `column`, in order of first appearance."""
    tickers = frame.get_column(column).cast(pl.String)
    missing = tickers.is_null().arg_true()
    if len(missing):
        raise UserError(f"{label}: row {int(missing[0]) + 1}: missing ticker in column '{column}'.")
    return tickers.unique(maintain_order=True).to_list()


def source_tickers(entry: str, config: DataConfig, base_dirs: tuple[Path, ...]) -> list[str] | None:
    """The tickers a file source holds in its `ticker_column`, or None for a sample or a file without one."""
    if entry.startswith(SAMPLE_PREFIX):
        return None
    path = _resolve(entry, base_dirs)
    frame = _read_file(path, config.separator or None, config.decimal)
    return frame_tickers(frame, config.ticker_column, str(path)) if config.ticker_column in frame.columns else None


ADJUSTED = ("Open", "High", "Low", "Close")


def used_columns(config: DataConfig, features: tuple[FeatureConfig, ...] = ()) -> list[str]:
    """The columns a run reads: the target, every feature's, and those `adjust` scales."""
    columns = [config.target] + [c for f in features for c in indicators.columns_read(f, config.target)]
    if config.adjust:
        columns += ["Close", "Adj Close"]
    return list(dict.fromkeys(columns))


def _apply_missing(frame: pl.DataFrame, numbers: dict[str, np.ndarray], keep: np.ndarray, config: DataConfig,
                   label: str, dates: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The `[data] missing` policy on the used columns' missing and non-finite values."""
    bad = {column: ~np.isfinite(values) for column, values in numbers.items()}
    if not any(b.any() for b in bad.values()):
        return numbers, keep
    if config.missing == "error":
        column = min((c for c in bad if bad[c].any()), key=lambda c: int(np.argmax(bad[c])))
        row = int(np.argmax(bad[column]))
        value = numbers[column][row]
        what = "missing" if frame.get_column(column)[row] is None else f"{value}"
        count = int(np.logical_or.reduce(list(bad.values())).sum())
        raise UserError(
            f"{label}: column '{column}' row {row + 1} ({_day(dates, row)}) is {what}; "
            f"{count} rows in all are missing or not finite. Clean or drop them first, or set [data] missing "
            f'= "drop" (drop those rows), "ffill" (carry the last value forward) or "interpolate".'
        )
    if config.missing == "drop":
        return numbers, keep & ~np.logical_or.reduce(list(bad.values()))
    frame = pl.DataFrame({c: np.where(bad[c], np.nan, v) for c, v in numbers.items()}).fill_nan(None)
    filled = frame.select(pl.all().forward_fill() if config.missing == "ffill" else pl.all().interpolate())
    out = {c: filled.get_column(c).to_numpy().astype(np.float64) for c in numbers}
    still = np.logical_or.reduce([~np.isfinite(v) for v in out.values()])  # nothing before (or after) to fill from
    return out, keep & ~still


def _adjusted(numbers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Open/High/Low/Close scaled by Adj Close / Close, so splits and dividends leave no jumps."""
    factor = numbers["Adj Close"] / numbers["Close"]
    return {c: v * factor if c in ADJUSTED else v for c, v in numbers.items()}


def _check_inputs(inputs: np.ndarray, keep: np.ndarray, names: tuple[str, ...], label: str, dates: np.ndarray) -> None:
    """After the warm-up, every input must be a finite number (a log of 0, a division by 0 are not)."""
    bad = ~np.isfinite(inputs) & keep[:, None]
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        raise UserError(
            f"{label}: feature '{names[column]}' is {inputs[row, column]} on row {row + 1} ({_day(dates, row)}) "
            f"after its warm-up ({int(bad.any(axis=1).sum())} rows in all). Check the data on those dates "
            f"(`wfbt inspect`), e.g. zero or negative prices under a return or log, or a zero volume range."
        )


def _check_learned(learned: np.ndarray, values: np.ndarray, keep: np.ndarray, config: DataConfig, label: str,
                   dates: np.ndarray) -> None:
    """After the warm-up row, the learned series must be finite: a log return needs positive prices."""
    bad = ~np.isfinite(learned) & keep
    if bad.any():
        row = int(np.argmax(bad))
        raise UserError(
            f"{label}: [data] target_transform = \"{config.target_transform}\" needs positive prices, but "
            f"'{config.target}' on row {row + 1} ({_day(dates, row)}) is {values[row]:g} or follows one that is not "
            f"positive ({int(bad.sum())} rows in all). Use a positive price series, or target_transform = \"none\"."
        )


def sample_path() -> Path:
    return Path(str(resources.files("bokeh_sampledata") / "_data" / "stocks.csv.gz"))


@dataclass(frozen=True)
class SampleTicker:
    """One ticker of the embedded sample data, as `wfbt list` shows it."""

    name: str
    rows: int
    first_date: str
    last_date: str


def sample_tickers() -> list[SampleTicker]:
    """Every sample ticker with its row count and date span, by name."""
    spans = (
        _read_samples()
        .group_by("Ticker")
        .agg(pl.len().alias("rows"), pl.col("Date").min().alias("first"), pl.col("Date").max().alias("last"))
        .sort("Ticker")
    )
    return [SampleTicker(row["Ticker"], row["rows"], str(row["first"]), str(row["last"]))
            for row in spans.iter_rows(named=True)]


@functools.lru_cache(maxsize=1)
def _read_samples() -> pl.DataFrame:
    """Read once per process: a run of several sample tickers reads it once per ticker."""
    return pl.read_csv(sample_path(), try_parse_dates=True, glob=False)


def _read_sample(ticker: str) -> pl.DataFrame:
    stocks = _read_samples()
    tickers = stocks.get_column("Ticker").unique().sort().to_list()
    if ticker not in tickers:
        raise UserError(
            f"[data] source: no sample data for '{ticker}'.{did_you_mean(ticker, tickers)} "
            f"Sample tickers: {known(tickers)}."
        )
    return stocks.filter(pl.col("Ticker") == ticker).drop("Ticker")


def _resolve(source: str, base_dirs: tuple[Path, ...]) -> Path:
    path = Path(source).expanduser()
    candidates = [path] if path.is_absolute() else [base / path for base in base_dirs]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise UserError(f"[data] source: file '{source}' not found (looked in {looked}).")


SEPARATORS = (",", ";", "\t", "|")
DECIMALS = (".", ",")


def _read_file(path: Path, separator: str | None = None, decimal: str = ".") -> pl.DataFrame:
    """Read a user's file; a long file of several tickers is read once, not once per ticker
    (cached by path, size and modification time)."""
    stat = path.stat()
    return _read_file_once(path, stat.st_size, stat.st_mtime_ns, separator, decimal)


@functools.lru_cache(maxsize=2)
def _read_file_once(path: Path, size: int, mtime_ns: int, separator: str | None, decimal: str) -> pl.DataFrame:
    """Read a user's file. `glob=False`: a name like `prices [v1]*.csv` is a name, not a pattern."""
    suffixes = "".join(path.suffixes[-2:]).lower()
    is_csv = suffixes.endswith((".csv", ".csv.gz"))
    if is_csv:
        separator = _csv_separator(path, separator, decimal)
    try:
        if is_csv:
            return pl.read_csv(path, infer_schema_length=None, separator=separator,
                               decimal_comma=decimal == ",", glob=False)
        if suffixes.endswith(".parquet"):
            return pl.read_parquet(path, glob=False)
    except Exception as exc:  # Polars raises many kinds; all mean "cannot read this file"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot read the file: {first_line}") from None
    raise UserError(f"{path}: unsupported file type; use a .csv, .csv.gz or .parquet file.")


def _csv_separator(path: Path, separator: str | None, decimal: str) -> str:
    """The given separator, checked, or the one the header line uses most (`,` if none)."""
    if decimal not in DECIMALS:
        raise UserError(f"[data] decimal must be one of {known(DECIMALS)}, got {decimal!r}.")
    if separator is None:
        separator = sniff_separator(_header_line(path))
    elif separator not in SEPARATORS:
        raise UserError(f"[data] separator must be one of {known(SEPARATORS)}, got {separator!r}.")
    if separator == decimal:
        raise UserError(
            f"{path}: fields are separated by '{separator}', so decimals cannot be written with "
            f"'{decimal}' too; set [data] separator (e.g. \";\") or [data] decimal."
        )
    return separator


def sniff_separator(header: str) -> str:
    """The separator a CSV header line uses: the candidate it holds most often, `,` by default.

    A header holds names, not numbers, so decimal commas cannot fool it.
    """
    counts = {candidate: header.count(candidate) for candidate in SEPARATORS}
    best = max(SEPARATORS, key=lambda candidate: counts[candidate])  # ties: the earlier candidate
    return best if counts[best] else ","


def _header_line(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as file:
            return file.readline()
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: cannot read the file: {exc}") from None


def _parse_dates(frame: pl.DataFrame, column: str, label: str) -> np.ndarray:
    if column not in frame.columns:
        raise UserError(
            f"{label}: no date column '{column}'.{did_you_mean(column, frame.columns)} "
            f"Columns: {known(frame.columns)}. Set [data] date_column."
        )
    series = frame.get_column(column)
    if series.dtype == pl.String:
        text = series.str.strip_chars()
        local = text.str.replace(_OFFSET, "${1}")  # time zone offsets dropped
        try:
            parsed = local.str.to_date(strict=False)
            if parsed.null_count() > series.null_count():
                parsed = local.str.to_datetime(strict=False)
                # with offsets, daily data (every time midnight) keeps the local dates it was
                # written with: in UTC they would move a day early east of Greenwich, and mixed
                # offsets would collide. Intraday data keeps its instants, in UTC: local times
                # repeat when the clocks go back, the instants do not.
                if (local != text).any() and not _all_midnight(parsed):
                    parsed = text.str.to_datetime(strict=False)
        except pl.exceptions.PolarsError:  # no one format fits the column
            first = series.drop_nulls()
            raise UserError(
                f"{label}: cannot parse the dates in column '{column}' (e.g. '{first[0] if len(first) else ''}'); "
                f"write them like 2008-05-30 or 2008-05-30T16:00:00."
            ) from None
        row = _first_unconverted(series, parsed)
        if row is not None:
            raise UserError(
                f"{label}: row {row + 1}: cannot parse date '{series[row]}' in column '{column}' "
                f"(expected e.g. 2008-05-30)."
            )
        series = parsed
    if series.dtype not in (pl.Date,) and not isinstance(series.dtype, pl.Datetime):
        raise UserError(f"{label}: column '{column}' holds {series.dtype}, not dates.")
    missing = series.is_null().arg_true()
    if len(missing):
        raise UserError(f"{label}: row {int(missing[0]) + 1}: missing date in column '{column}'.")
    if series.dtype == pl.Date or _all_midnight(series):  # daily data written as datetimes is daily
        return series.dt.date().to_numpy().astype("datetime64[D]")
    return series.dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")


def _role(column: str, config: DataConfig) -> str:
    """What to set when a column the run reads is not in the file."""
    if column == config.target:
        return "Set [data] target"
    if config.adjust and column in ("Close", "Adj Close"):
        return "[data] adjust = true needs 'Close' and 'Adj Close'; set adjust = false"
    return "Set the column of that [[features]] table"


def _numeric(frame: pl.DataFrame, column: str, label: str, dates: np.ndarray, decimal: str, role: str) -> np.ndarray:
    """A column as float64, NaN where it is missing; text that is not a number is an error."""
    if column not in frame.columns:
        what = "target column" if role == "Set [data] target" else "column"
        raise UserError(
            f"{label}: no {what} '{column}'.{did_you_mean(column, frame.columns)} "
            f"Columns: {known(frame.columns)}. {role}."
        )
    series = frame.get_column(column)
    if series.dtype == pl.String:  # e.g. a lowercase 'nan' the CSV reader did not take for a number
        as_number = series.str.strip_chars().cast(pl.Float64, strict=False)
        row = _first_unconverted(series, as_number)
        if row is not None:
            raise UserError(
                f"{label}: column '{column}' is not numeric: row {row + 1} ({_day(dates, row)}) "
                f"holds '{series[row]}'.{_decimal_hint(series[row], decimal)}"
            )
        series = as_number
    elif not series.dtype.is_numeric():
        raise UserError(f"{label}: column '{column}' holds {series.dtype} values, not numbers.")
    return series.cast(pl.Float64).to_numpy().astype(np.float64)


def _decimal_hint(text: str, decimal: str) -> str:
    """What to set when a value that is not a number looks like one in the other decimal style."""
    if decimal == "." and re.fullmatch(r"\s*[-+]?\d+,\d+\s*", text):
        return ' Is the decimal separator a comma? Set [data] decimal = ",".'
    if decimal == "," and re.fullmatch(r"\s*[-+]?\d+\.\d+\s*", text):
        return ' Is the decimal separator a point? Set [data] decimal = ".".'
    return ""


def _all_midnight(times: pl.Series) -> bool:
    times = times.drop_nulls()
    return bool((times.dt.truncate("1d") == times).all())


def _first_unconverted(original: pl.Series, converted: pl.Series) -> int | None:
    """The first row whose value did not convert (null after, not before), or None."""
    bad = (converted.is_null() & original.is_not_null()).arg_true()
    return int(bad[0]) if len(bad) else None


def _check_order(dates: np.ndarray, label: str) -> None:
    steps = np.diff(dates)
    duplicate = np.flatnonzero(steps == np.timedelta64(0))
    if len(duplicate):
        row = int(duplicate[0]) + 1
        raise UserError(f"{label}: row {row + 1}: duplicate date {_day(dates, row)} (also on row {row}).")
    backwards = np.flatnonzero(steps < np.timedelta64(0))
    if len(backwards):
        row = int(backwards[0]) + 1
        raise UserError(
            f"{label}: row {row + 1}: dates are not sorted ({_day(dates, row)} comes after "
            f"{_day(dates, row - 1)}). Sort the file by date."
        )


def _day(dates: np.ndarray, row: int) -> str:
    return str(np.datetime_as_string(dates[row], unit="D"))
