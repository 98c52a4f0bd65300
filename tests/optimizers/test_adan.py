"""Adan: against the NumPy reference, the first step's g_0 = g_1, proximal vs decoupled decay, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import Adan
from tests.reference import optimizers_modern_a as reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12


def _problem(seed):
    """Initial values and per-step gradients for every shape, rounded to float32 so both sides see the same."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(np.float32).astype(np.float64) for shape in SHAPES]
    grads = [
        [rng.normal(size=shape).astype(np.float32).astype(np.float64) for shape in SHAPES]
        for _ in range(STEPS)
    ]
    return initial, grads


def _run(optimizer, initial, grads, names=None):
    """Drives ``optimizer.apply`` on one variable per shape; returns trajectories[variable][step]."""
    names = names or [f"w{index}" for index in range(len(initial))]
    variables = [
        keras.Variable(value, dtype="float32", name=name)
        for value, name in zip(initial, names, strict=True)
    ]
    trajectories = [[] for _ in variables]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype="float32") for g in step_grads], variables)
        for trajectory, variable in zip(trajectories, variables, strict=True):
            trajectory.append(ops.convert_to_numpy(variable).astype(np.float64))
    return trajectories


def _check_against_reference(actual, initial, grads, lrs, **config):
    for index in range(len(SHAPES)):
        expected = reference.adan(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


CONFIGS = {
    "official_defaults": {},
    "other_betas": {"beta_1": 0.9, "beta_2": 0.5, "beta_3": 0.999, "epsilon": 1e-3},
    "proximal_decay": {"weight_decay": 0.5},
    "no_prox_decay": {"weight_decay": 0.5, "no_prox": True},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule):
    initial, grads = _problem(seed=0)
    if schedule:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=4, decay_rate=0.5
        )
        lrs = [0.1 * 0.5 ** (step / 4) for step in range(STEPS)]
    else:
        learning_rate, lrs = 0.1, [0.1] * STEPS
    actual = _run(Adan(learning_rate=learning_rate, **config), initial, grads)
    _check_against_reference(actual, initial, grads, lrs, **config)


def test_first_step_has_no_gradient_difference():
    optimizer = Adan(learning_rate=0.1)
    variable = keras.Variable([1.0, -2.0])
    first, second = np.array([3.0, -0.5]), np.array([1.0, 0.5])
    optimizer.apply([ops.convert_to_tensor(first, dtype="float32")], [variable])
    # g_0 = g_1: the difference average stays 0 and the second moment sees g_1 alone.
    np.testing.assert_array_equal(ops.convert_to_numpy(optimizer._difference_momentums[0]), 0.0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(optimizer._second_moments[0]), 0.01 * first**2, rtol=1e-6
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(optimizer._previous_gradients[0]), first)
    # Bias-corrected, the first step is lr * g / |g|.
    np.testing.assert_allclose(ops.convert_to_numpy(variable), [1.0 - 0.1, -2.0 + 0.1], rtol=1e-6)
    optimizer.apply([ops.convert_to_tensor(second, dtype="float32")], [variable])
    np.testing.assert_allclose(
        ops.convert_to_numpy(optimizer._difference_momentums[0]), 0.08 * (second - first), rtol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(optimizer._second_moments[0]),
        0.99 * 0.01 * first**2 + 0.01 * (second + 0.92 * (second - first)) ** 2,
        rtol=1e-5,
    )


@pytest.mark.parametrize("no_prox", [False, True])
def test_weight_decay_is_proximal_unless_no_prox(no_prox):
    # A zero gradient leaves the moments at zero, so only the decay moves the weights.
    optimizer = Adan(learning_rate=0.5, weight_decay=0.4, no_prox=no_prox)
    variable = keras.Variable([2.0, -4.0])
    for _ in range(2):
        optimizer.apply([ops.convert_to_tensor([0.0, 0.0])], [variable])
    factor = (1.0 - 0.2) if no_prox else 1.0 / (1.0 + 0.2)
    np.testing.assert_allclose(
        ops.convert_to_numpy(variable), np.array([2.0, -4.0]) * factor**2, rtol=1e-6
    )


def test_exclude_from_weight_decay_applies_to_the_proximal_step():
    initial, grads = _problem(seed=1)
    optimizer = Adan(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    actual = _run(optimizer, initial, grads, names=["w0", "bias", "w2", "w3"])
    for index, decay in enumerate([0.5, 0.0, 0.5, 0.5]):
        expected = reference.adan(
            initial[index], [g[index] for g in grads], [0.1] * STEPS, weight_decay=decay
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_config_round_trip_keeps_every_argument():
    optimizer = Adan(
        learning_rate=0.2, beta_1=0.9, beta_2=0.8, beta_3=0.95, epsilon=1e-6, no_prox=True
    )
    restored = Adan.from_config(optimizer.get_config())
    assert (
        restored.beta_1,
        restored.beta_2,
        restored.beta_3,
        restored.epsilon,
        restored.no_prox,
    ) == (0.9, 0.8, 0.95, 1e-6, True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_1": -0.1}, ValueError, "beta_1"),
        ({"beta_2": 1.5}, ValueError, "beta_2"),
        ({"beta_2": None}, TypeError, "beta_2"),
        ({"beta_3": 1.0}, ValueError, "beta_3"),
        ({"beta_3": -1e-3}, ValueError, "beta_3"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-8}, ValueError, "epsilon"),
        ({"no_prox": "yes"}, TypeError, "no_prox"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Adan(**kwargs)
