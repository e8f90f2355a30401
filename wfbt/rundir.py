"""The run directory: atomic writes, and the writer that persists a run's `Results`.

Every file is written to a temporary name in the same folder and renamed into place, so a crash
leaves either the old file or the new one, never half of one. Computing a run writes nothing
(`wfbt.api.run_experiment`); `write_run` is the separate, thin step that persists it. Finished
chunks, kept so a long run can resume, live in `partial/` (`wfbt.store`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fchmod(out.fileno(), _default_mode())  # mkstemp's 0600 is not what a plain write makes
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _default_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: Path, frame: pl.DataFrame, scientific: bool = False) -> None:
    """`frame` as CSV: floats with 8 decimals, or (`scientific`) 8 significant digits, for numbers
    far below 1 such as importance deltas in scaled MSE units."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, float_precision=7 if scientific else 8, float_scientific=True if scientific else None)
    write_bytes_atomic(path, buffer.getvalue())


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, default=_json_default, allow_nan=True) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_run(results: Any, out: Path, config_toml: str) -> None:
    """Every file of a run directory from a run's `Results`, each written atomically.

    `config_toml` is the config as run (`wfbt.config.to_toml`), so `wfbt run OUT/config.toml`
    reproduces the run."""
    out.mkdir(parents=True, exist_ok=True)
    # summary.json is what `report` reads: gone while the files change, written last, so a run
    # killed halfway leaves no summary that disagrees with the CSVs beside it
    (out / "summary.json").unlink(missing_ok=True)
    write_csv_atomic(out / "splits.csv", results.splits)
    write_csv_atomic(out / "predictions.csv", results.predictions)
    write_csv_atomic(out / "curves.csv", results.curves)
    write_csv_atomic(out / "test_predictions.csv", results.test_predictions)
    if results.strategy is not None:
        write_csv_atomic(out / "equity.csv", results.strategy.equity)
        write_csv_atomic(out / "pnl_splits.csv", results.strategy.per_split)
    else:  # an earlier run in this folder may have traded
        for name in ("equity.csv", "pnl_splits.csv"):
            (out / name).unlink(missing_ok=True)
    if results.importance is not None:
        write_csv_atomic(out / "importance.csv", results.importance, scientific=True)
    else:  # or ranked its inputs
        (out / "importance.csv").unlink(missing_ok=True)
    write_text_atomic(out / "config.toml", config_toml)
    write_json_atomic(out / "summary.json", results.summary)
