"""Shared test set-up: two host devices (like the CLI), one shrunk config, one shared run.

JAX compiles are slow on 2 cores, so every engine test uses the same tiny model and shapes
(compiled programs are reused within the session) and the end-to-end run happens once.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from wfbt import runtime

runtime.configure_jax(cpu_devices=2, compilation_cache=False)

TINY_TOML = """
[data]
source = "{source}"
target = "Close"

[splits]
mode = "rolling"
train = 40
val = 5
step = 3
max_splits = 8

[model]
name = "lstm"
lookback = 6
hidden_size = 8
dense_size = 4
dropout = [0.3, 0.2]

[train]
epochs = 3
batch_size = 8
learning_rate = 0.01
patience = 1
seed = 7

[engine]
chunk_size = 4

[evaluation]
forecast_average = 3

[strategy]
name = "strategies/momentum_filter.py:MomentumFilter"
cost_bps = 10.0
"""


# the model inputs of the features tests: four columns, of three kinds with warm-ups
FEATURES = """
[[features]]
kind = "column"
[[features]]
kind = "log_return"
[[features]]
kind = "rsi"
window = 4
[[features]]
kind = "sma"
window = 3
"""


def random_walk(n: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 + np.cumsum(rng.normal(0.0, 1.0, n))


def write_prices(path: Path, values: np.ndarray, start: str = "2020-01-01") -> Path:
    dates = pl.date_range(pl.date(*map(int, start.split("-"))), pl.date(2030, 1, 1), "1d", eager=True)[: len(values)]
    pl.DataFrame({"Date": dates, "Close": values}).write_csv(path)
    return path


def write_config(folder: Path, source: Path | str, extra: str = "", name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(TINY_TOML.format(source=str(source)) + textwrap.dedent(extra))
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return write_prices(tmp_path_factory.mktemp("data") / "prices.csv", random_walk())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data):
    """One end-to-end run of the shrunk experiment, shared by the tests that inspect it."""
    from wfbt.api import run_experiment
    from wfbt.config import load_config

    folder = tmp_path_factory.mktemp("run")
    config = load_config(write_config(folder, tiny_data))
    return run_experiment(config, out_dir=folder / "out")
