"""The optimizer chain from [train], its schedule, and hyper-parameters as per-split inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import write_config
from wfbt.cli import main
from wfbt.optim import Hyper, TrainSettings, constant_hyper, learning_rate_schedule, make_optimizer


def settings(**changes) -> TrainSettings:
    return TrainSettings(epochs=1, batch_size=8, learning_rate=0.1, patience=1, loss="mse", **changes)


def test_the_default_chain_is_optax_adam_bit_for_bit():
    ours = make_optimizer(settings(), settings().hyper(1)._replace(learning_rate=np.float32(0.1)))
    theirs = optax.adam(0.1, eps=1e-7)
    params = jnp.linspace(-1.0, 1.0, 7)
    state_a, state_b = ours.init(params), theirs.init(params)
    for step in range(3):
        grads = jnp.sin(params * (step + 1.0))
        update_a, state_a = jax.jit(ours.update)(grads, state_a, params)
        update_b, state_b = jax.jit(theirs.update)(grads, state_b, params)
        np.testing.assert_array_equal(update_a, update_b)


def test_warmup_and_cosine_schedule_by_hand():
    rate = learning_rate_schedule(settings(schedule="cosine", warmup_steps=2), constant_hyper(settings(warmup_steps=2)),
                                  total_steps=10)
    # warm-up: 0.1 x (count + 1) / 2; then cosine over the 8 updates after it, to 0
    expected = {0: 0.05, 1: 0.1, 2: 0.1, 6: 0.1 * 0.5 * (1 + np.cos(np.pi * 0.5)), 10: 0.0, 12: 0.0}
    for count, value in expected.items():
        assert float(rate(jnp.asarray(count))) == pytest.approx(value, abs=1e-7)
    assert learning_rate_schedule(settings(), constant_hyper(settings()), 10) == 0.1  # constant: no schedule


def test_adamw_decays_weights_sgd_keeps_momentum_and_clipping_caps_the_norm():
    params = jnp.array([1.0, -2.0])
    adamw = make_optimizer(settings(optimizer="adamw", weight_decay=0.5), constant_hyper(settings(weight_decay=0.5)))
    update, _ = adamw.update(jnp.zeros(2), adamw.init(params), params)
    np.testing.assert_allclose(update, -0.1 * 0.5 * params)  # Adam of zero gradients moves nothing
    sgd = make_optimizer(settings(optimizer="sgd", momentum=0.9), constant_hyper(settings(momentum=0.9)))
    state = sgd.init(params)
    grads = jnp.array([1.0, 1.0])
    first, state = sgd.update(grads, state, params)
    second, state = sgd.update(grads, state, params)
    np.testing.assert_allclose(first, -0.1 * grads)
    np.testing.assert_allclose(second, -0.1 * 1.9 * grads)  # g + 0.9 g
    clipped = make_optimizer(settings(optimizer="sgd", clip_norm=1.0), constant_hyper(settings(clip_norm=1.0)))
    update, _ = clipped.update(jnp.array([6.0, 8.0]), clipped.init(params), params)
    np.testing.assert_allclose(update, -0.1 * jnp.array([0.6, 0.8]), rtol=1e-6)


def test_splits_with_other_learning_rates_share_one_program_and_get_their_own_numbers(tiny_run):
    from test_engine import _tiny_trainer

    from wfbt.features import build_windows
    from wfbt.models import build_model

    config = tiny_run.config
    train_settings, trainer = _tiny_trainer(config, build_model(config.model, 1))
    windows = build_windows(tiny_run.prices.values, tiny_run.plan, np.arange(8), config.model.lookback, "minmax")
    rates = np.array([0.01, 0.05] * 4, np.float32)
    mixed = trainer.train(windows, hyper=train_settings.hyper(8, learning_rate=rates))
    assert len(trainer._compiled) == 1  # one program served both learning rates
    plain = trainer.train(windows)  # every split at the settings' 0.01
    np.testing.assert_array_equal(mixed.val_pred[0::2], plain.val_pred[0::2])
    assert not np.allclose(mixed.val_pred[1::2], plain.val_pred[1::2])
    assert len(trainer._compiled) == 1


def test_optimizer_keys_run_and_bad_combinations_exit_2(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    args = ["run", str(config), "--quiet", "--max-splits", "2", "--set", "evaluation.next_forecast=false"]
    assert main([*args, "--out", str(tmp_path / "adamw"), "--set", "train.optimizer='adamw'",
                 "--set", "train.weight_decay=0.01", "--set", "train.clip_norm=1.0",
                 "--set", "train.schedule='cosine'", "--set", "train.warmup_steps=3"]) == 0
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "bad"), "--set", "train.weight_decay=0.01"]) == 2
    assert 'optimizer = "adamw"' in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "bad"), "--set", "train.momentum=0.9"]) == 2
    assert "sgd" in capsys.readouterr().err


def test_hyper_defaults_are_the_settings_numbers():
    hyper = settings(clip_norm=2.0).hyper(3, learning_rate=[0.1, 0.2, 0.3])
    assert isinstance(hyper, Hyper) and hyper.learning_rate.dtype == np.float32 and hyper.epochs.dtype == np.int32
    np.testing.assert_array_equal(hyper.clip_norm, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(hyper.learning_rate, np.float32([0.1, 0.2, 0.3]))
