"""Where finished chunks live while a run trains, so a long run can resume.

A store holds the raw outputs (`wfbt.schema.RAW`) of finished splits and a log of the training
sessions that made them. The engine's loop asks it which splits are done and hands it each chunk
as it finishes; nothing else about resuming leaks into the orchestration. `MemoryStore` keeps
them in memory (a notebook run, no folder); `FolderStore` keeps them in `RUN_DIR/partial/`,
each chunk an atomically written `.npz`.

A folder store belongs to one experiment, named by `Identity`: a fingerprint derived from the
whole normalised config (minus the short, explicit `NOT_FINGERPRINTED` list) and the loaded data.
Another experiment's folder is refused with the settings that differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wfbt import schema
from wfbt.config import SECTIONS, Config
from wfbt.errors import UserError
from wfbt.rundir import write_bytes_atomic, write_json_atomic

PARTIAL = "partial"
IDENTITY = "experiment.json"
TRAINING_LOG = "training.json"

# Config keys that change no saved chunk, each with the reason. Every other key of every section
# is part of the fingerprint, so a key added to the config later is covered without anyone
# remembering to list it (tests/test_store.py walks every key and checks both classes).
NOT_FINGERPRINTED: dict[str, str] = {
    "data.source": "the loaded dates and values are hashed instead, so a moved file still resumes",
    "data.ticker_column": "selects the rows loaded; the loaded dates and values are hashed instead",
    "data.tickers": "selects the rows loaded; the loaded dates and values are hashed instead",
    "splits.max_splits": "a run reads only its own splits from the store",
    "engine.chunk_size": "bit-identical whatever the chunk (a fixed call size per device)",
    "engine.devices": "bit-identical whatever the device count (a fixed call size per device)",
    "engine.ray": "Ray actors run the same program with the same call size: identical numbers",
    "output.dir": "where the run is written, not what it computes",
    "output.save_params": "whether trained parameters are also saved, not what they are",
    "evaluation.baselines": "baselines are computed from the data when the tables are made",
    "evaluation.next_forecast": "the next-point forecast is cached with its own key",
    "evaluation.forecast_average": "the next-point forecast is cached with its own key",
    "evaluation.importance": "chunks saved without the importance raw output are trained again when it is on",
    "strategy.*": "the P&L is recomputed from the saved forecasts on every run",
}


@dataclass(frozen=True)
class Identity:
    """What determines every saved chunk's numbers."""

    fingerprint: str
    settings: dict[str, Any]  # "section.key" -> value, the fingerprinted config keys (+ resolved layout)
    data: dict[str, Any]  # rows, first and last date, sha256 of dates and values


def fingerprinted_settings(config: Config, resolved: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every config key not in NOT_FINGERPRINTED and not at its default, as "section.key" -> a
    JSON-able value, plus `resolved` (facts derived from the config and the machine, such as the
    LSTM loop's unroll). A key at its default is left out, so a key added to wfbt later, with a
    default that keeps the old behaviour, leaves older run directories resumable."""
    settings: dict[str, Any] = {}
    for section in SECTIONS:
        part = getattr(config, section)
        if part is None or f"{section}.*" in NOT_FINGERPRINTED:
            continue
        for item in dataclasses.fields(part):
            key = f"{section}.{item.name}"
            value = _plain(getattr(part, item.name))
            if key not in NOT_FINGERPRINTED and value != default_of(key):
                settings[key] = value
    for number, feature in enumerate(config.features, 1):  # [[features]]: every input's kind and parameters
        settings[f"features.{number}"] = {"kind": feature.kind, "column": feature.column, "name": feature.name,
                                          **feature.params()}
    return settings | (resolved or {})


def default_of(key: str) -> Any:
    """The default of a "section.key" config field, as `fingerprinted_settings` writes values."""
    section, name = key.split(".", 1)
    if section not in SECTIONS:
        return None
    for item in dataclasses.fields(SECTIONS[section]):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return _plain(item.default)
            return _plain(item.default_factory()) if item.default_factory is not dataclasses.MISSING else None
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)  # dates


def identity(config: Config, dates: np.ndarray, values: np.ndarray, resolved: dict[str, Any]) -> Identity:
    settings = fingerprinted_settings(config, resolved)
    data_hash = hashlib.sha256(np.ascontiguousarray(dates).tobytes() + b"\0" + np.ascontiguousarray(values).tobytes())
    data = {"rows": int(len(values)), "first": str(dates[0]), "last": str(dates[-1]), "sha256": data_hash.hexdigest()}
    text = json.dumps({"format": schema.FORMAT, "settings": settings, "data": data}, sort_keys=True)
    return Identity(hashlib.sha256(text.encode()).hexdigest(), settings, data)


def describe_difference(saved: dict[str, Any], current: Identity) -> str:
    """The settings (and data facts) that differ, as `key saved -> now` items."""
    changes = []
    old_settings = saved.get("settings", {})
    def shown(settings: dict[str, Any], key: str) -> Any:  # a config key left out is at its default
        return settings[key] if key in settings else default_of(key) if key.split(".")[0] in SECTIONS else "(unset)"

    for key in sorted(set(old_settings) | set(current.settings)):
        before, after = shown(old_settings, key), shown(current.settings, key)
        if before != after:
            changes.append(f"{key} {json.dumps(before)} -> {json.dumps(after)}")
    old_data = saved.get("data", {})
    if old_data.get("sha256") != current.data["sha256"]:
        changes.append(f"the data ({old_data.get('rows')} rows {old_data.get('first')} .. {old_data.get('last')} -> "
                       f"{current.data['rows']} rows {current.data['first']} .. {current.data['last']}"
                       + (", same span, other values)" if old_data.get("rows") == current.data["rows"] else ")"))
    return "; ".join(changes) or "the saved fingerprint"


@dataclass
class Session:
    """One training session's figures (a resumed run has several)."""

    trained: int = 0
    seconds: float = 0.0
    compile_seconds: float = 0.0
    first_chunk_seconds: float = 0.0
    chunk_size: int = 0


@dataclass
class MemoryStore:
    """Finished chunks in memory: a run without a folder."""

    chunks: list[dict[str, np.ndarray]] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the store did that a user should hear
    required: tuple[str, ...] = ()  # optional raw outputs (schema.RAW) this run needs in every chunk

    def tell(self, log: Callable[[str], None] | None) -> None:
        """Pass the store's notes (e.g. an older format retrained) to `log`, once."""
        for note in self.notes if log else ():
            log(note)
        self.notes.clear()

    def save(self, raw: dict[str, np.ndarray]) -> None:
        self.chunks.append(raw)

    def load(self, splits: int | None = None) -> dict[str, np.ndarray] | None:
        """The raw outputs of splits 0 .. `splits` - 1 (all if None), sorted by split, or None."""
        return merge_chunks(self.chunks, splits)

    def log_session(self, session: Session) -> None:
        self.sessions.append(session)

    def write_json(self, name: str, payload: Any) -> None:
        self.extras[name] = payload

    def read_json(self, name: str) -> Any:
        return self.extras.get(name)


def merge_chunks(chunks: list[dict[str, np.ndarray]], splits: int | None) -> dict[str, np.ndarray] | None:
    if not chunks:
        return None
    keys = [k for k in schema.RAW_NAMES if all(k in c for c in chunks)]
    merged = {k: np.concatenate([c[k] for c in chunks]) for k in keys}
    _, first = np.unique(merged["split"], return_index=True)
    if splits is not None:
        first = first[merged["split"][first] < splits]
        if not len(first):
            return None
    return {k: v[first] for k, v in merged.items()}


class FolderStore(MemoryStore):
    """Finished chunks of one experiment in `RUN_DIR/partial/`, read back on a rerun."""

    def __init__(self, run_dir: Path, current: Identity, overwrite: bool = False, required: tuple[str, ...] = ()):
        """`required`: optional raw outputs this run needs (importance): a saved chunk without one
        is deleted here, with a note, and its splits train again (their numbers are the same)."""
        super().__init__(required=tuple(required))
        self.folder = run_dir / PARTIAL
        if self.folder.exists() and overwrite:
            shutil.rmtree(self.folder)
        saved = self._read(IDENTITY)
        if self.folder.exists() and (saved is None or saved.get("format") != schema.FORMAT):
            if any(self.folder.iterdir()):
                self.notes.append(f"{self.folder}: saved by an older wfbt (format "
                                  f"{(saved or {}).get('format', 'partial-3 or before')}); training again.")
            shutil.rmtree(self.folder)
            saved = None
        if saved is not None and saved.get("fingerprint") != current.fingerprint:
            raise UserError(
                f"{run_dir}: holds results of a different experiment ({describe_difference(saved, current)}). "
                f"Use --out DIR for a new run directory, or --overwrite to replace it."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / IDENTITY, {"format": schema.FORMAT, "fingerprint": current.fingerprint,
                                                   "settings": current.settings, "data": current.data})
        self.sessions = [Session(**s) for s in (self._read(TRAINING_LOG) or [])]
        self._drop_chunks_without(self.required)

    def _drop_chunks_without(self, required: tuple[str, ...]) -> None:
        lacking = []
        for file in sorted(self.folder.glob("chunk-*.npz")) if required else ():
            try:
                with open(file, "rb") as handle, np.load(handle) as data:
                    names = set(data.files)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):
                continue  # unreadable: `load` deletes it
            if not set(required) <= names:
                file.unlink()
                lacking.append(file)
        if lacking:
            self.notes.append(f"{self.folder}: {len(lacking)} saved chunk(s) lack {', '.join(required)} (turned on "
                              f"since they were saved); training their splits again.")

    def _read(self, name: str) -> Any:
        try:
            return json.loads((self.folder / name).read_text())
        except (OSError, ValueError):
            return None

    def save(self, raw: dict[str, np.ndarray]) -> None:
        splits = raw["split"]
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(schema.FORMAT), **raw)
        write_bytes_atomic(self.folder / f"chunk-{splits.min():06d}-{splits.max():06d}.npz", buffer.getvalue())

    def load(self, splits: int | None = None) -> dict[str, np.ndarray] | None:
        chunks = []
        for file in sorted(self.folder.glob("chunk-*.npz")):
            try:  # our own handle: np.load leaves its file open when the zip is broken
                with open(file, "rb") as handle, np.load(handle) as data:
                    chunk = {k: data[k] for k in data.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # unreadable: retrain those splits
                file.unlink(missing_ok=True)
                continue
            if str(chunk.pop("format", "")) != schema.FORMAT or not all(k in chunk for k in schema.REQUIRED_RAW):
                file.unlink(missing_ok=True)  # another format's chunk: retrained, never misread
                continue
            chunks.append(chunk)
        return merge_chunks(chunks, splits)

    def log_session(self, session: Session) -> None:
        super().log_session(session)
        write_json_atomic(self.folder / TRAINING_LOG, [dataclasses.asdict(s) for s in self.sessions])

    def write_json(self, name: str, payload: Any) -> None:
        write_json_atomic(self.folder / name, payload)

    def read_json(self, name: str) -> Any:
        """A JSON file saved beside the chunks, or None if it is missing or unreadable."""
        return self._read(name)
