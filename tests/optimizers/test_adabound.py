"""AdaBound: step-by-step against the NumPy reference, the bounds and their scaling, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import AdaBound
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_modern_a as reference


def _check_against_reference(actual, initial, grads, lrs, **config):
    for index in range(len(SHAPES)):
        expected = reference.adabound(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


CONFIGS = {
    "defaults": {},
    # gamma >= 0.2 closes the bounds within a few steps: the upper (and, with final_lr = 1, the lower) bound clips.
    "tight_bounds": {"final_lr": 0.05, "gamma": 0.3, "beta_1": 0.5},
    "amsbound_lower_bound": {"amsbound": True, "gamma": 0.2, "beta_2": 0.9, "final_lr": 1.0},
    "base_rate_given": {"base_learning_rate": 0.4, "gamma": 0.2, "epsilon": 1e-3},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule):
    initial, grads = make_problem(seed=0)
    if schedule:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=4, decay_rate=0.5
        )
        lrs = [0.1 * 0.5 ** (step / 4) for step in range(STEPS)]
    else:
        learning_rate, lrs = 0.1, [0.1] * STEPS
    actual = run_apply(AdaBound(learning_rate=learning_rate, **config), initial, grads)
    reference_config = dict(config)
    if "base_learning_rate" in reference_config:
        reference_config["base_lr"] = reference_config.pop("base_learning_rate")
    _check_against_reference(actual, initial, grads, lrs, **reference_config)


def test_matches_reference_with_weight_decay():
    initial, grads = make_problem(seed=1)
    config = {"gamma": 0.3, "weight_decay": 0.5}
    actual = run_apply(AdaBound(learning_rate=0.1, **config), initial, grads)
    _check_against_reference(actual, initial, grads, [0.1] * STEPS, **config)


def _steps(optimizer, count, gradient=1.0):
    """Moves of a scalar variable under a constant gradient."""
    variable = keras.Variable(0.0)
    moves = []
    for _ in range(count):
        before = float(ops.convert_to_numpy(variable))
        optimizer.apply([ops.convert_to_tensor(gradient)], [variable])
        moves.append(before - float(ops.convert_to_numpy(variable)))
    return moves


def _upper(t, final_lr=0.1, gamma=0.5):
    return final_lr * (1.0 + 1.0 / (gamma * t))


def _lower(t, final_lr=0.1, gamma=0.5):
    return final_lr * (1.0 - 1.0 / (gamma * t + 1.0))


def test_huge_adam_steps_are_capped_by_the_upper_bound():
    # beta_1 = 0: m = g = 1. Adam would move by lr = 10 per step; the upper bound allows 0.1 (1 + 2 / t).
    moves = _steps(AdaBound(learning_rate=10.0, beta_1=0.0, gamma=0.5), 6)
    np.testing.assert_allclose(moves, [_upper(t) for t in range(1, 7)], rtol=1e-5)


def test_tiny_adam_steps_are_raised_to_the_lower_bound():
    moves = _steps(AdaBound(learning_rate=1e-6, beta_1=0.0, gamma=0.5), 6)
    np.testing.assert_allclose(moves, [_lower(t) for t in range(1, 7)], rtol=1e-5)


def test_bounds_converge_to_sgd_at_final_lr():
    # Whatever Adam's step, after many steps the move is final_lr * m (SGD with momentum, dampened).
    for learning_rate in (1e-6, 10.0):
        moves = _steps(AdaBound(learning_rate=learning_rate, beta_1=0.0, gamma=0.9), 100)
        assert moves[-1] == pytest.approx(0.1, rel=1.2e-2)


def test_bounds_scale_with_the_current_over_the_base_learning_rate():
    optimizer = AdaBound(learning_rate=10.0, beta_1=0.0, gamma=0.5)
    variable = keras.Variable(0.0)
    optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
    assert -float(ops.convert_to_numpy(variable)) == pytest.approx(_upper(1), rel=1e-5)
    optimizer.learning_rate = 5.0  # as a callback would: the bounds halve
    optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
    move = -float(ops.convert_to_numpy(variable)) - _upper(1)
    assert move == pytest.approx(0.5 * _upper(2), rel=1e-5)

    # An explicit base rate twice the learning rate halves the bounds from the start.
    moves = _steps(AdaBound(learning_rate=10.0, base_learning_rate=20.0, beta_1=0.0, gamma=0.5), 3)
    np.testing.assert_allclose(moves, [0.5 * _upper(t) for t in range(1, 4)], rtol=1e-5)


def test_config_keeps_the_base_learning_rate_after_the_rate_changed():
    optimizer = AdaBound(learning_rate=0.2, final_lr=0.3, gamma=0.01, amsbound=True)
    optimizer.learning_rate = 0.05
    restored = AdaBound.from_config(optimizer.get_config())
    assert restored.base_learning_rate == pytest.approx(0.2)
    assert float(ops.convert_to_numpy(restored.learning_rate)) == pytest.approx(0.05)
    assert (restored.final_lr, restored.gamma, restored.amsbound) == (0.3, 0.01, True)


def test_schedule_base_rate_is_its_value_at_step_zero():
    schedule = keras.optimizers.schedules.PolynomialDecay(
        0.3, decay_steps=10, end_learning_rate=0.1
    )
    assert AdaBound(learning_rate=schedule).base_learning_rate == pytest.approx(0.3)


def test_a_schedule_from_zero_needs_a_base_learning_rate():
    warmup = keras.optimizers.schedules.PolynomialDecay(0.0, decay_steps=10, end_learning_rate=0.1)
    with pytest.raises(ValueError, match="base_learning_rate"):
        AdaBound(learning_rate=warmup)
    with pytest.raises(ValueError, match="base_learning_rate"):
        AdaBound(learning_rate=0.0)
    optimizer = AdaBound(learning_rate=warmup, base_learning_rate=0.1)
    moves = _steps(optimizer, 3)
    assert moves[0] == 0.0 and moves[1] > 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"final_lr": 0.0}, ValueError, "final_lr"),
        ({"final_lr": -0.1}, ValueError, "final_lr"),
        ({"final_lr": "0.1"}, TypeError, "final_lr"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_1": -0.1}, ValueError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": None}, TypeError, "beta_2"),
        ({"gamma": 0.0}, ValueError, "gamma"),
        ({"gamma": 1.0}, ValueError, "gamma"),
        ({"gamma": float("nan")}, ValueError, "gamma"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-8}, ValueError, "epsilon"),
        ({"amsbound": 1}, TypeError, "amsbound"),
        ({"base_learning_rate": 0.0}, ValueError, "base_learning_rate"),
        ({"base_learning_rate": -1.0}, ValueError, "base_learning_rate"),
        ({"base_learning_rate": "1"}, TypeError, "base_learning_rate"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdaBound(**kwargs)
