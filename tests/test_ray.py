"""Ray: chunks trained by actors give the local run's numbers, for a run and for a sweep."""

import pytest

from conftest import write_config
from wfbt.api import run_experiment
from wfbt.config import load_config

ray = pytest.importorskip("ray", reason="Ray is the optional extra wfbt[ray] (installed with .[test])")

FAST = ["splits.max_splits=4", "evaluation.next_forecast=false"]


@pytest.fixture(scope="module")
def local_ray():
    from wfbt.distributed import connect
    from wfbt.errors import UserError

    try:
        yield connect("local")  # a local Ray with this machine's (2) CPUs
    except UserError as exc:
        pytest.skip(f"no local Ray cluster could start here: {exc}")
    finally:
        ray.shutdown()


@pytest.mark.filterwarnings("ignore")  # Ray's own deprecation notes
def test_a_run_and_a_sweep_on_ray_equal_the_local_ones(tmp_path, tiny_data, local_ray):
    from wfbt.sweep import run_sweep

    path = write_config(tmp_path, tiny_data, "[sweep]\ntrain.learning_rate = [0.01, 0.05]\n")
    local = run_experiment(load_config(path, FAST), out_dir=tmp_path / "local")
    remote = run_experiment(load_config(path, [*FAST, "engine.ray='local'"]), out_dir=tmp_path / "ray")
    assert remote.splits.equals(local.splits) and remote.predictions.equals(local.predictions)
    assert remote.strategy.equity.equals(local.strategy.equity)
    for name in ("splits.csv", "predictions.csv", "curves.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    on_ray = run_sweep(path, [*FAST, "engine.ray='local'"], out_dir=tmp_path / "sweep")
    assert on_ray.results[0].predictions.equals(local.predictions)
    assert not on_ray.results[1].predictions.equals(local.predictions)  # the other learning rate


def test_the_ray_flag_sets_the_engine_key():
    from wfbt.cli import _ray_override, build_parser

    for argv, expected in ((["run", "x.toml", "--ray"], ['engine.ray="local"']),
                           (["sweep", "x.toml", "--ray", "ray://head:10001"], ['engine.ray="ray://head:10001"']),
                           (["tune", "x.toml"], [])):
        assert _ray_override(build_parser().parse_args(argv)) == expected
