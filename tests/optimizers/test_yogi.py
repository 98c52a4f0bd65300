"""Yogi: step-by-step against the NumPy reference, the additive second moment, the proximal L1 step, arguments."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import Yogi
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_classic as reference

CONFIGS = {
    "default": {},
    "no_momentum": {"beta_1": 0.0},
    "tanh": {"activation": "tanh", "initial_accumulator_value": 0.5},
    "large_accumulator": {"initial_accumulator_value": 1.0, "beta_2": 0.9},
    "l1": {"l1_regularization_strength": 0.5},
    "l2": {"l2_regularization_strength": 0.5},
    "l1_l2": {
        "l1_regularization_strength": 0.3,
        "l2_regularization_strength": 0.2,
        "epsilon": 1e-2,
    },
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
    actual = run_apply(Yogi(learning_rate=learning_rate, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.yogi(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", [{}, {"l1_regularization_strength": 0.1}], ids=["plain", "l1"])
def test_matches_reference_with_weight_decay(config):
    initial, grads = make_problem(seed=1)
    actual = run_apply(Yogi(learning_rate=0.1, weight_decay=0.3, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.yogi(
            initial[index], [g[index] for g in grads], [0.1] * STEPS, weight_decay=0.3, **config
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_float16_variables_track_reference_loosely():
    initial, grads = make_problem(seed=2, dtype="float16")
    optimizer = Yogi(learning_rate=0.05)
    actual = run_apply(optimizer, initial, grads, dtype="float16")
    assert all(slot.dtype == "float16" for slot in optimizer._velocities + optimizer._momentums)
    for index in range(len(SHAPES)):
        expected = reference.yogi(initial[index], [g[index] for g in grads], [0.05] * STEPS)
        np.testing.assert_allclose(actual[index], expected, rtol=2e-2, atol=2e-2)


def test_second_moment_changes_additively():
    # v moves by exactly (1 - beta_2) g^2 towards g^2: a zero gradient leaves v untouched (Adam would shrink it
    # by the factor beta_2, raising the step), and g^2 < v lowers it by (1 - beta_2) g^2 only.
    optimizer = Yogi(beta_2=0.9, initial_accumulator_value=1.0)
    variable = keras.Variable(np.zeros(2, dtype="float32"))
    optimizer.apply([ops.zeros((2,))], [variable])
    np.testing.assert_array_equal(ops.convert_to_numpy(optimizer._velocities[0]), [1.0, 1.0])
    optimizer.apply([ops.convert_to_tensor([0.5, 2.0])], [variable])
    np.testing.assert_allclose(
        ops.convert_to_numpy(optimizer._velocities[0]), [1.0 - 0.1 * 0.25, 1.0 + 0.1 * 4.0]
    )


def test_l1_proximal_step_sets_small_weights_exactly_to_zero():
    optimizer = Yogi(learning_rate=0.1, l1_regularization_strength=0.05)  # alpha_1 * l1 = 0.79
    variable = keras.Variable(np.array([0.01, -0.02, 5.0], dtype="float32"))
    for _ in range(2):
        optimizer.apply([ops.zeros((3,))], [variable])
    values = ops.convert_to_numpy(variable)
    np.testing.assert_array_equal(values[:2], 0.0)
    assert 0.0 < values[2] < 5.0  # shrunk towards zero, not past it


def test_no_momentum_slot_without_beta_1():
    with_momentum, without = Yogi(beta_1=0.9), Yogi(beta_1=0.0)
    for optimizer in (with_momentum, without):
        optimizer.build([keras.Variable(np.zeros((2, 3)))])
    assert len(with_momentum.variables) == len(without.variables) + 1


def test_config_holds_every_argument():
    arguments = {
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-4,
        "initial_accumulator_value": 0.1,
        "l1_regularization_strength": 0.01,
        "l2_regularization_strength": 0.02,
        "activation": "tanh",
    }
    config = Yogi(learning_rate=0.01, **arguments).get_config()
    assert {key: config[key] for key in arguments} == arguments
    restored = Yogi.from_config(config)
    assert {key: getattr(restored, key) for key in arguments} == arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": [0.1]}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": -0.5}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"initial_accumulator_value": -1e-6}, ValueError, "initial_accumulator_value"),
        ({"l1_regularization_strength": -0.1}, ValueError, "l1_regularization_strength"),
        ({"l2_regularization_strength": float("inf")}, ValueError, "l2_regularization_strength"),
        ({"l2_regularization_strength": "0"}, TypeError, "l2_regularization_strength"),
        ({"activation": "relu"}, ValueError, "activation"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Yogi(**kwargs)
