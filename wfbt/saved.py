"""Trained models out of the run: safetensors files any framework reads, and `predict` from them.

`RUN_DIR/model/` holds (docs/models.md):

- `next_point.safetensors`: the next-point models' parameters, each tensor stacked over the k
  windows (`params/<module>/<leaf>`, float32, shape (k, ...)), their scalers (`scaler/offset`,
  `scaler/scale`, float64, (k,)) and `ok` (uint8, (k,): 0 for a window whose training failed);
- `next_point.json`: the same shapes, the scalers as numbers, the run's config (TOML), and what
  `predict` needs to repeat the run's forecast: lookback, the windows' training ranges, the
  rows of the forward pass, the forecasts the run made;
- with `[output] save_params = true`, `splits-<first>.safetensors` per trained chunk: every
  split's final parameters (`params/...`, (S, ...)) and `split` (int64, (S,)).

The safetensors layout is written here with NumPy (an 8-byte little-endian header length, a
JSON header of dtype, shape and byte range per tensor plus `__metadata__`, then the raw bytes),
so wfbt needs no extra package; the `safetensors` package and every framework that reads it
load these files as they are.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from wfbt.errors import UserError
from wfbt.tickers import TICKERS

if TYPE_CHECKING:
    from wfbt.config import Config
    from wfbt.data import PriceSeries

FOLDER = "model"
NEXT_POINT = "next_point"
FORMAT = "wfbt-model-1"
DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64",
          np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}


# ---------------------------------------------------------------- the file format


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write `tensors` (name -> array) and string `metadata` as a safetensors file, atomically."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset, blobs = 0, []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            out.write(blob)
    os.replace(temporary, path)


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a safetensors file."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    metadata = header.pop("__metadata__", {})
    by_code = {code: dtype for dtype, code in DTYPES.items()}
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = by_code[info["dtype"]].newbyteorder("<")
        tensors[name] = np.frombuffer(raw[base + begin:base + end], dtype=dtype).reshape(info["shape"]).astype(dtype.newbyteorder("="))
    return tensors, metadata


def flat_params(params: Any) -> dict[str, np.ndarray]:
    """A parameter tree as `params/<module>/<leaf>` -> host array."""
    return {"params/" + "/".join(path): np.asarray(leaf) for path, leaf in flatten_dict(params).items()}


def params_tree(tensors: dict[str, np.ndarray]) -> dict:
    return unflatten_dict({tuple(name.split("/")[1:]): value for name, value in tensors.items()
                           if name.startswith("params/")})


# ---------------------------------------------------------------- what a run saves


def next_point_tensors(params: Any, offset: np.ndarray, scale: np.ndarray, ok: np.ndarray,
                       inputs: Any = None) -> dict[str, np.ndarray]:
    """The tensors of the k next-point models: parameters stacked over windows, the target's
    scalers, `ok`, and with `[[features]]` the input columns' scalers (`inputs`: (k, F) each)."""
    tensors = {**flat_params(params), "scaler/offset": np.asarray(offset, np.float64),
               "scaler/scale": np.asarray(scale, np.float64), "ok": np.asarray(ok, np.uint8)}
    if inputs is not None:
        tensors |= {"scaler/inputs/offset": np.asarray(inputs.offset, np.float64),
                    "scaler/inputs/scale": np.asarray(inputs.scale, np.float64)}
    return tensors


def save_next_point(folder: Path, tensors: dict[str, np.ndarray], info: dict[str, Any], config_toml: str) -> None:
    """The next-point models' `tensors` (`next_point_tensors`) and `info` (lookback, windows, rows,
    forecasts...) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    offset, scale, ok = tensors["scaler/offset"], tensors["scaler/scale"], tensors["ok"]
    write_safetensors(folder / f"{NEXT_POINT}.safetensors", tensors, {"format": FORMAT, "config": config_toml})
    described = {"format": FORMAT, **info, "scaler": {"offset": np.asarray(offset).tolist(), "scale": np.asarray(scale).tolist()},
                 "ok": np.asarray(ok, bool).tolist(),
                 "tensors": {name: {"dtype": DTYPES[value.dtype], "shape": list(value.shape)} for name, value in sorted(tensors.items())},
                 "config": config_toml}
    temporary = folder / f"{NEXT_POINT}.json.tmp"
    temporary.write_text(json.dumps(described, indent=2) + "\n")
    os.replace(temporary, folder / f"{NEXT_POINT}.json")


def has_next_point(folder: Path) -> bool:
    return (folder / f"{NEXT_POINT}.safetensors").is_file() and (folder / f"{NEXT_POINT}.json").is_file()


def save_split_params(folder: Path, splits: np.ndarray, params: Any) -> None:
    """Every trained split's final parameters of one chunk (`[output] save_params`)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = len(splits)
    tensors = {name: value[:count] for name, value in flat_params(params).items()}
    write_safetensors(folder / f"splits-{int(splits[0]):06d}.safetensors", {**tensors, "split": np.asarray(splits, np.int64)},
                      {"format": FORMAT})


def load_next_point(run_dir: Path) -> NextPointModels:
    """The saved next-point models of a run directory."""
    folder = Path(run_dir) / FOLDER
    several = Path(run_dir) / TICKERS
    if not has_next_point(folder) and several.is_dir():  # a run of several tickers: each has its models
        names = sorted(p.name for p in several.iterdir() if p.is_dir())
        raise UserError(f"{run_dir}: a run of several tickers, each with its own models; forecast one of them, "
                        f"e.g. `wfbt predict {several / names[0]}` (tickers: {', '.join(names)}).")
    if not has_next_point(folder):
        raise UserError(f"{run_dir}: no saved model in {folder}; run it with [evaluation] next_forecast = true "
                        f"(the default) and a wfbt that saves models, e.g. `wfbt run {Path(run_dir) / 'config.toml'}`.")
    try:
        tensors, metadata = read_safetensors(folder / f"{NEXT_POINT}.safetensors")
        info = json.loads((folder / f"{NEXT_POINT}.json").read_text())
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise UserError(f"{folder}: cannot read the saved model: {exc}") from None
    if metadata.get("format") != FORMAT or info.get("format") != FORMAT:
        raise UserError(f"{folder}: saved in format {info.get('format')!r}, this wfbt reads {FORMAT!r}; run it again.")
    return NextPointModels(tensors, info)


def next_point_info(base_dirs: Any, lookback: int, rows: int, unroll: int, n_outputs: int,
                    starts: np.ndarray, stops: np.ndarray, forecast: dict[str, Any], horizon: int = 1) -> dict[str, Any]:
    """What `predict` needs besides the tensors (see the module docstring); `horizon`: the points
    each model forecasts at once ([model] horizon)."""
    return {"lookback": int(lookback), "rows": int(rows), "unroll": int(unroll), "n_outputs": int(n_outputs),
            "horizon": int(horizon),
            "windows": {"train_start": np.asarray(starts).tolist(), "train_stop": np.asarray(stops).tolist()},
            "base_dirs": [str(d) for d in base_dirs], "forecast": forecast}


# ---------------------------------------------------------------- forecasting from them


def forecast_record(prices: PriceSeries, forecasts: np.ndarray, ok: np.ndarray, horizon: int,
                    epochs: int | None = None) -> dict[str, Any]:
    """The next-point forecast as the run's summary and `wfbt predict` report it: the last
    window's and the average over the windows that trained (`ok`), from `forecasts` (k,) in prices,
    or (k, h) with a horizon h > 1 (then the figures are of step 1 and `steps` holds every step)."""
    from wfbt import horizons

    steps = None
    if horizon > 1:  # (k, h): the next h points; the figures below are of step 1
        steps, forecasts = horizons.steps_record(prices, forecasts, ok), forecasts[:, 0]
    record = {
        "date": prices.next_date_text(),
        "last_date": str(prices.date_text(len(prices) - 1)), "last_value": float(prices.values[-1]),
        "last_window": float(forecasts[0]) if ok[0] else None,
        "average": float(forecasts[ok].mean()) if ok.any() else None,
        "windows": int(ok.sum()), **({} if epochs is None else {"epochs": epochs}), "forecasts": forecasts.tolist(),
    }
    return record if steps is None else record | {"steps": steps}


@dataclass(frozen=True)
class NextPointModels:
    """A run's next-point models: the k windows' parameters and scalers (`tensors`, as saved) and
    what forecasting needs besides (`info`: lookback, rows of the forward pass, config, ...)."""

    tensors: dict[str, np.ndarray]
    info: dict[str, Any]

    @property
    def config(self) -> Config:
        from wfbt.config import config_from_dict

        return config_from_dict(tomllib.loads(self.info["config"]), Path("config.toml"))

    @property
    def search_dirs(self) -> tuple[Path, ...]:
        return tuple(Path(d) for d in self.info["base_dirs"])

    def predict(self, prices: PriceSeries) -> dict[str, Any]:
        """The forecast of the point after `prices` (a series with the run's columns and features).

        Each window's model forecasts from the last `lookback` rows, scaled with that window's saved
        scalers; the forward pass has the run's own layout (the forecast row first, among as many
        rows as the run's final pass had), so on the machine that ran it the run's data gives the
        run's `next_forecast` bit for bit. The average is over the windows that trained without failing.
        """
        import jax

        from wfbt import scaling
        from wfbt.api import train_settings
        from wfbt.engine import Trainer
        from wfbt.models import build_model
        from wfbt.transform import to_price

        config, info, tensors = self.config, self.info, self.tensors
        lookback, rows = info["lookback"], info["rows"]
        if len(prices) < lookback:
            raise UserError(f"{prices.source}: {len(prices)} rows, fewer than the model's lookback of {lookback}.")
        scaler = scaling.ScalerParams(tensors["scaler/offset"], tensors["scaler/scale"])
        k = len(scaler.offset)
        if "scaler/inputs/offset" in tensors:  # [[features]]: each input column with its own scaler
            if prices.inputs is None:
                raise UserError(f"{prices.source}: the model reads [[features]] inputs, but none were computed.")
            columns = scaling.ScalerParams(tensors["scaler/inputs/offset"], tensors["scaler/inputs/scale"])
            last = np.broadcast_to(prices.inputs[-lookback:], (k, *prices.inputs[-lookback:].shape))
            inputs = np.zeros((k, rows, *last.shape[1:]), np.float32)
            inputs[:, 0] = scaling.apply_columns(columns, last).astype(np.float32)
        else:
            series = prices.values if prices.learned is None else prices.learned  # what the models learned
            inputs = np.zeros((k, rows, lookback), np.float32)
            inputs[:, 0] = scaling.apply(scaler, np.broadcast_to(series[-lookback:], (k, lookback))).astype(np.float32)
        model = build_model(config.model, info["n_outputs"], info["unroll"], self.search_dirs)
        trainer = Trainer(model, train_settings(config), config.train.seed, jax.devices())
        mean, _ = trainer.predict(jax.tree.map(jax.numpy.asarray, params_tree(tensors)), inputs)
        forecasts = to_price(config.data.target_transform, scaling.invert(scaler, mean[:, 0].astype(np.float64)),
                             prices.values[-1])  # a learned log return: from the last price
        return forecast_record(prices, forecasts, tensors["ok"].astype(bool), info.get("horizon", 1))


def predict_next(run_dir: Path, data: str | Path | None = None) -> dict[str, Any]:
    """The next-point forecast of a run's saved models (`NextPointModels.predict`), for the run's
    data or for `data` (a file with the same columns; its whole span is used, [data] start and end
    are not applied; `[[features]]` are computed on it as the run computed them). A run with
    `[model] horizon` h > 1 forecasts the next h points: the figures are of step 1, and `steps`
    holds every step's dates and forecasts, as the run's `next_forecast` does."""
    from wfbt.data import load_prices

    models = load_next_point(run_dir)
    config = models.config
    data_config = config.data
    if data is not None:
        data_config = dataclasses.replace(data_config, source=str(Path(data).resolve()), start=None, end=None)
    prices = load_prices(data_config, models.search_dirs, models.info["lookback"],
                         separator=data_config.separator or None, decimal=data_config.decimal,
                         features=config.features)
    return models.predict(prices)
