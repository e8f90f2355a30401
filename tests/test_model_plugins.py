"""Model plugins: found like strategies, typed parameters from [model], checked before training."""

import textwrap

import pytest

from conftest import write_config
from wfbt.api import run_experiment
from wfbt.cli import main
from wfbt.config import load_config
from wfbt.model_plugins import available_models

GOOD = """
import flax.linen as nn


class Last(nn.Module):
    '''A dense layer on the last `lags` inputs.'''

    lags: int = 2
    scale: float = 1.0

    @nn.compact
    def __call__(self, x, deterministic=True, dropout_seed=None):
        return {body}
"""


def _plugin(tmp_path, body="nn.Dense(1)(x[:, -self.lags:])[:, 0] * self.scale", extra=""):
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    (folder / "last.py").write_text(GOOD.format(body=body) + textwrap.dedent(extra))


def _error(capsys, config, *overrides):
    code = main(["run", str(config), "--quiet", "--out", str(config.parent / "out"),
                 *[item for o in overrides for item in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_the_example_plugin_trains_end_to_end(tmp_path, tiny_data):
    """models/mlp_lags.py (the repository's example, found from the working directory)."""
    config = load_config(write_config(tmp_path, tiny_data), ["model.name='models/mlp_lags.py:MLPLags'",
                                                             "model.lags=4", "model.hidden=6"])
    assert dict(config.model.params) == {"lags": 4, "hidden": 6}
    results = run_experiment(config, out_dir=tmp_path / "out")
    assert (results.splits["status"] == "ok").all()
    assert "lags = 4" in (tmp_path / "out" / "config.toml").read_text()  # the run's config reads back
    assert results.summary["next_forecast"]["average"] is not None


def test_a_plugin_next_to_the_config_and_its_parameter_errors(tmp_path, tiny_data, capsys):
    _plugin(tmp_path)
    config = write_config(tmp_path, tiny_data, "\n")
    name = "model.name='models/last.py:Last'"
    assert "[model] lagz: unknown parameter of model Last. Did you mean 'lags'?" in _error(capsys, config, name, "model.lagz=3")
    assert "[model] lags: expected int, got str" in _error(capsys, config, name, "model.lags='3'")
    assert "no class 'Lats' in" in _error(capsys, config, "model.name='models/last.py:Lats'")
    assert "unknown model 'lstn'. Did you mean 'lstm'?" in _error(capsys, config, "model.name='lstn'")
    assert "model.hiden_size: unknown key. Did you mean 'hidden_size'?" in _error(capsys, config, "model.hiden_size=3")


@pytest.mark.parametrize("body, message", [
    ("nn.Dense(1)(x[:, -self.lags:])", "returned shape (3, 1) for inputs (3, 6); it must return (3,)"),
    ("nn.Dense(1)(x)[:, 0] / 0.0", "returned NaN/inf at its initial parameters"),
    ("nn.Dense(1)(x[:, self.missing])[:, 0]", "fails on a dummy input (3, 6): AttributeError"),
])
def test_a_bad_plugin_stops_before_training_with_one_line(tmp_path, tiny_data, capsys, body, message):
    _plugin(tmp_path, body)
    assert message in _error(capsys, write_config(tmp_path, tiny_data), "model.name='models/last.py:Last'")
    assert not (tmp_path / "out" / "partial").exists() or not any((tmp_path / "out" / "partial").glob("*.npz"))


def test_a_missing_parameter_and_listing(tmp_path, tiny_data, capsys, monkeypatch):
    _plugin(tmp_path, extra="""

    class NeedsWidth(nn.Module):
        '''Needs a width.'''

        width: int

        def __call__(self, x, deterministic=True, dropout_seed=None):
            return nn.Dense(1)(x)[:, 0]
    """)
    message = _error(capsys, write_config(tmp_path, tiny_data), "model.name='models/last.py:NeedsWidth'")
    assert "[model] width: model NeedsWidth needs this parameter (int)" in message
    infos = {info.name: info for info in available_models([tmp_path])}
    assert {"lstm", "gru", "attention", "mlp"} <= set(infos)
    assert infos["models/last.py:Last"].parameters == "lags: int = 2, scale: float = 1.0"
    assert infos["models/last.py:NeedsWidth"].parameters == "width: int"
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 0
    assert "models/last.py:Last" in capsys.readouterr().out
