"""The trained models leave the run: saved as safetensors, reloaded in a fresh process, the same forecast."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import wfbt

from conftest import FEATURES, random_walk, write_config, write_prices
from wfbt.api import run_experiment
from wfbt.config import load_config
from wfbt.errors import UserError
from wfbt.saved import read_safetensors, write_safetensors

ROOT = Path(__file__).resolve().parents[1]


def _predict(*args: str) -> dict:
    """`wfbt predict ... --json` in a fresh interpreter (nothing shared with this process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "wfbt.cli", "predict", *args, "--json"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("saved")
    config = load_config(write_config(folder, tiny_data), ["output.save_params=true"])
    return run_experiment(config, out_dir=folder / "out")


def test_safetensors_round_trip(tmp_path):
    tensors = {"params/Dense_0/kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3),
               "scaler/offset": np.array([1.5, -2.0]), "ok": np.array([1, 0], np.uint8)}
    write_safetensors(tmp_path / "x.safetensors", tensors, {"format": "test"})
    back, metadata = read_safetensors(tmp_path / "x.safetensors")
    assert metadata == {"format": "test"} and set(back) == set(tensors)
    for name, value in tensors.items():
        assert back[name].dtype == value.dtype
        np.testing.assert_array_equal(back[name], value)
    raw = (tmp_path / "x.safetensors").read_bytes()
    assert (8 + int.from_bytes(raw[:8], "little")) % 8 == 0  # the data starts aligned, as the format asks


def test_a_fresh_process_reproduces_the_run_forecast_bit_for_bit(saved_run):
    run_dir = saved_run.run_dir
    ours = saved_run.summary["next_forecast"]
    theirs = _predict(str(run_dir))
    assert theirs["forecasts"] == ours["forecasts"]  # floats through JSON: exact
    assert theirs["average"] == ours["average"] and theirs["last_window"] == ours["last_window"]
    assert theirs["date"] == ours["date"]
    info = json.loads((run_dir / "model" / "next_point.json").read_text())
    assert info["tensors"]["scaler/offset"]["shape"] == [3] and "[model]" in info["config"]


def test_new_data_with_the_same_columns(saved_run, tmp_path):
    values = random_walk(90, seed=5)
    new = _predict(str(saved_run.run_dir), "--data", str(write_prices(tmp_path / "new.csv", values)))
    assert new["last_value"] == values[-1] and new["windows"] == 3
    assert np.isfinite(new["average"]) and new["average"] != saved_run.summary["next_forecast"]["average"]


def test_save_params_keeps_every_trained_split(saved_run):
    files = sorted((saved_run.run_dir / "model").glob("splits-*.safetensors"))
    splits = np.concatenate([read_safetensors(f)[0]["split"] for f in files])
    np.testing.assert_array_equal(np.sort(splits), np.arange(8))
    tensors = read_safetensors(files[0])[0]
    assert tensors["params/FusedLSTM_0/kernel"].shape[0] == len(tensors["split"])


def test_the_safetensors_package_reads_what_wfbt_writes(saved_run):
    numpy_io = pytest.importorskip("safetensors.numpy")  # not a dependency: checked where it is installed
    theirs = numpy_io.load_file(str(saved_run.run_dir / "model" / "next_point.safetensors"))
    ours = read_safetensors(saved_run.run_dir / "model" / "next_point.safetensors")[0]
    assert set(theirs) == set(ours) and all(np.array_equal(theirs[k], ours[k]) for k in ours)


def test_predict_without_saved_models_is_a_user_error(tmp_path, capsys):
    from wfbt.cli import main

    assert main(["predict", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no saved model in" in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def features_run(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("features")
    config = load_config(write_config(folder, tiny_data, FEATURES), ["splits.max_splits=4"])
    return run_experiment(config, out_dir=folder / "out")


def test_a_features_model_predicts_from_its_own_scaled_features(features_run):
    """The input columns' scalers are saved beside the target's: `wfbt predict` computes the
    features on the data and repeats the run's forecast bit for bit in a fresh process."""
    ours = features_run.summary["next_forecast"]
    theirs = _predict(str(features_run.run_dir))
    assert theirs["forecasts"] == ours["forecasts"] and theirs["average"] == ours["average"]
    tensors = read_safetensors(features_run.run_dir / "model" / "next_point.safetensors")[0]
    assert tensors["scaler/inputs/offset"].shape == (3, 4)  # (windows, input columns)


def test_results_predict_in_memory_and_for_a_dataframe(tmp_path, features_run):
    """`Results.predict()` repeats the run's forecast; `Results.predict(frame)` gives what
    `wfbt predict --data FILE` gives for the same rows."""
    assert features_run.predict()["forecasts"] == features_run.summary["next_forecast"]["forecasts"]
    values = random_walk(90, seed=5)
    path = write_prices(tmp_path / "new.csv", values)
    from_frame = features_run.predict(pl.read_csv(path, try_parse_dates=True))
    from_file = _predict(str(features_run.run_dir), "--data", str(path))
    assert from_frame["forecasts"] == from_file["forecasts"] and from_frame["date"] == from_file["date"]
    loaded = wfbt.load(features_run.run_dir)  # a loaded run reads its saved models
    assert loaded.predict(pl.read_csv(path, try_parse_dates=True))["forecasts"] == from_file["forecasts"]


def test_results_predict_without_models_says_why(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data), ["splits.max_splits=2", "train.epochs=1",
                                                              "evaluation.next_forecast=false"])
    with pytest.raises(UserError, match="next_forecast = true"):
        run_experiment(config).predict()
