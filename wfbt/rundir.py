"""The run directory: atomic writes, and per-chunk partial results so a long run can resume.

Every file is written to a temporary name in the same folder and renamed into place, so a crash
leaves either the old file or the new one, never half of one. Finished chunks of splits are kept
in `partial/` as `.npz` files together with a fingerprint of what determines their numbers (data,
splits, model, training, scaling); a rerun with the same fingerprint trains only what is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from wfbt.errors import UserError

FORMAT = "partial-3"  # what a saved chunk holds; older run directories are refused, not misread
PARTIAL = "partial"
FINGERPRINT = "fingerprint.txt"


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: Path, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, float_precision=8)
    write_bytes_atomic(path, buffer.getvalue())


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, default=_json_default, allow_nan=True) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


class PartialStore:
    """Finished chunks of one experiment, keyed by split index."""

    def __init__(self, run_dir: Path, print_: str, overwrite: bool = False):
        self.folder = run_dir / PARTIAL
        stamp = self.folder / FINGERPRINT
        if self.folder.exists() and overwrite:
            shutil.rmtree(self.folder)
        if stamp.exists() and stamp.read_text().strip() != print_:
            raise UserError(
                f"{run_dir}: holds results of a different experiment (its data, splits, model, "
                f"training, scaling or baselines differ, or it ran on another platform or LSTM loop "
                f"layout, [engine] unroll). Use --out DIR for a new run directory, or --overwrite "
                f"to replace it."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(stamp, print_ + "\n")

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        splits = arrays["split"]
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes_atomic(self.folder / f"chunk-{splits.min():06d}-{splits.max():06d}.npz", buffer.getvalue())

    def write_json(self, name: str, payload: Any) -> None:
        write_json_atomic(self.folder / name, payload)

    def read_json(self, name: str) -> Any:
        """A JSON file saved beside the chunks, or None if it is missing or unreadable."""
        try:
            return json.loads((self.folder / name).read_text())
        except (OSError, ValueError):
            return None

    def load(self, splits: int | None = None) -> dict[str, np.ndarray] | None:
        """The saved per-split arrays of splits 0 .. `splits` - 1 (all if None), concatenated and
        sorted by split, or None. A run with fewer splits than the folder holds reads only its own."""
        chunks = []
        for file in sorted(self.folder.glob("chunk-*.npz")):
            try:  # our own handle: np.load leaves its file open when the zip is broken
                with open(file, "rb") as handle, np.load(handle) as data:
                    chunks.append({k: data[k] for k in data.files})
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # unreadable: retrain those splits
                file.unlink(missing_ok=True)
        if not chunks:
            return None
        keys = set.intersection(*(set(c) for c in chunks))
        merged = {k: np.concatenate([c[k] for c in chunks]) for k in keys}
        _, first = np.unique(merged["split"], return_index=True)
        if splits is not None:
            first = first[merged["split"][first] < splits]
            if not len(first):
                return None
        return {k: v[first] for k, v in merged.items()}
