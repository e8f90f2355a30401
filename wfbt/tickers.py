"""Several tickers in one run: which tickers a config names, each as a config of its own.

    [data]
    source = ["sample:AAPL", "sample:MSFT"]   # or a long file with a ticker column
    ticker_column = "Ticker"
    tickers = ["AAPL"]                        # optional: keep only these

`resolve` turns a config into its tickers, each with an ordinary single-ticker `Config` (one
source; a long file's entry keeps `tickers = [<that ticker>]`), so a ticker of a multi-ticker
run is exactly `wfbt run` of its own config. A list entry is `sample:<TICKER>` (ticker TICKER)
or a file: a file with the `ticker_column` holds one ticker per distinct value of it, a file
without one is one ticker named after the file (`data/aapl.csv` -> `aapl`). Ticker names become
folder names (`RUN_DIR/tickers/<TICKER>/`), so one that cannot be (a path separator, `..`) is an
error. `wfbt.ticker_run` trains them together; this module reads files but imports no JAX, so
`wfbt inspect` uses it too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfbt.config import Config
from wfbt.data import SAMPLE_PREFIX, frame_tickers, source_tickers
from wfbt.errors import UserError, did_you_mean, known

FILE_SUFFIXES = (".csv.gz", ".csv", ".parquet")
TICKERS = "tickers"  # RUN_DIR/tickers/<TICKER>/: each ticker's own run directory


@dataclass(frozen=True)
class Ticker:
    name: str
    config: Config  # a single-ticker config: `wfbt run` of it gives this ticker's numbers
    data: Any = None  # a DataFrame of this ticker's rows (a notebook's `data=`), else None: the config's source


def resolve(config: Config, data: Any = None) -> list[Ticker]:
    """The tickers of `config` (or of `data`, a long DataFrame, when given), in source order,
    filtered by `[data] tickers`; each name checked to be usable as a folder name, none twice."""
    where = f"{config.path}: [data] source"
    if data is not None:
        found = _frame_tickers(config, data)
    else:
        found = []
        for entry in (config.data.source,) if isinstance(config.data.source, str) else config.data.source:
            if entry.startswith(SAMPLE_PREFIX):
                found.append((entry[len(SAMPLE_PREFIX):], entry, False))
                continue
            try:
                names = source_tickers(entry, config.data, config.base_dirs)
            except UserError as exc:
                raise UserError(f"{config.path}: {exc}") from None
            found += [(name, entry, True) for name in names] if names is not None else [(_file_ticker(entry), entry, False)]
    wanted = config.data.tickers
    if wanted:
        names = [name for name, _, _ in found]
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise UserError(f"{config.path}: [data] tickers: no ticker '{unknown[0]}' in the source(s)."
                            f"{did_you_mean(unknown[0], names)} Tickers: {known(names)}.")
        found = [item for item in found if item[0] in wanted]
    seen: dict[str, str] = {}
    for name, entry, _ in found:
        check_name(name, f"{where} '{entry}'")
        other = seen.get(name.casefold())
        if other is not None:
            raise UserError(f"{where}: ticker '{name}' comes twice ({other} and {entry}); every ticker needs its own "
                            f"name (and folder: names differing only in case share one). Drop one, or pick with "
                            f"[data] tickers.")
        seen[name.casefold()] = entry
    if data is not None and len(found) == 1 and not found[0][2]:
        return [Ticker(found[0][0], config, data)]  # a plain frame: the run of old
    return [Ticker(name, _ticker_config(config, entry, name if long else None),
                   data if data is None else _rows_of(data, config.data.ticker_column, name))
            for name, entry, long in found]


def single(config: Config, tickers: list[Ticker]) -> Config:
    """The config a one-ticker run uses: the config itself when its source is one string (so the
    run is byte for byte the run of old), else the ticker's own config."""
    return config if isinstance(config.data.source, str) else tickers[0].config


def check_name(name: str, where: str) -> None:
    """A ticker name is a folder name in a run directory: no separators, not `.` or `..`, no
    control characters or surrounding spaces."""
    bad = (not name or name in (".", "..") or name != name.strip() or any(c in name for c in "/\\:")
           or any(ord(c) < 32 or ord(c) == 127 for c in name))
    if bad:
        raise UserError(f"{where}: ticker {name!r} cannot name a folder (RUN_DIR/tickers/<ticker>/): use letters, "
                        f"digits, '.', '-' or '_', without '/', '\\', ':' or surrounding spaces.")


def _ticker_config(config: Config, entry: str, long_ticker: str | None) -> Config:
    """The single-ticker config of one entry (and of one ticker of a long file)."""
    tickers = (long_ticker,) if long_ticker is not None else ()
    return dataclasses.replace(config, data=dataclasses.replace(config.data, source=entry, tickers=tickers))


def _file_ticker(entry: str) -> str:
    """A file without a ticker column is named after the file: `data/AAPL.csv.gz` -> `AAPL`."""
    name = Path(entry).name
    for suffix in FILE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(entry).stem


def _frame_tickers(config: Config, data: Any) -> list[tuple[str, str, bool]]:
    """A notebook's DataFrame: its ticker column's tickers, or one unnamed ticker."""
    column = config.data.ticker_column
    if column not in getattr(data, "columns", ()):
        return [("data", "DataFrame", False)]
    import polars as pl

    frame = data if isinstance(data, pl.DataFrame) else pl.DataFrame({column: [str(v) for v in data[column]]})
    return [(name, "DataFrame", True) for name in frame_tickers(frame, column, "the DataFrame passed as data")]


def _rows_of(data: Any, column: str, name: str) -> Any:
    """One ticker's rows of a long pandas or Polars DataFrame, the ticker column kept (the loader drops it)."""
    import polars as pl

    if isinstance(data, pl.DataFrame):
        return data.filter(pl.col(column).cast(pl.String) == name)
    return data[data[column].astype(str) == name]
