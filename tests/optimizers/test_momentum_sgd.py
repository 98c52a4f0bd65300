"""MomentumSGD: step-by-step against the NumPy reference, its EMA / Nesterov forms, and argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import MomentumSGD
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_classic as reference


def _exponential_decay():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    return schedule, [0.1 * 0.5 ** (step / 4) for step in range(STEPS)]


CONFIGS = {
    "heavy_ball": {"momentum": 0.9},
    "nesterov": {"momentum": 0.8, "nesterov": True},
    "dampened": {"momentum": 0.7, "dampening": 0.3},
    "ema": {"momentum": 0.9, "dampening": 0.9},
    "plain_sgd": {"momentum": 0.0},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule):
    initial, grads = make_problem(seed=0)
    if schedule:
        learning_rate, lrs = _exponential_decay()
    else:
        learning_rate, lrs = 0.1, [0.1] * STEPS
    actual = run_apply(MomentumSGD(learning_rate=learning_rate, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.momentum_sgd(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_matches_reference_with_weight_decay(nesterov):
    initial, grads = make_problem(seed=1)
    config = {"momentum": 0.9, "nesterov": nesterov}
    actual = run_apply(MomentumSGD(learning_rate=0.1, weight_decay=0.05, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.momentum_sgd(
            initial[index], [g[index] for g in grads], [0.1] * STEPS, weight_decay=0.05, **config
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_float16_variables_track_reference_loosely():
    initial, grads = make_problem(seed=2, dtype="float16")
    optimizer = MomentumSGD(learning_rate=0.05, momentum=0.9)
    actual = run_apply(optimizer, initial, grads, dtype="float16")
    assert all(buffer.dtype == "float16" for buffer in optimizer._buffers)
    for index in range(len(SHAPES)):
        expected = reference.momentum_sgd(
            initial[index], [g[index] for g in grads], [0.05] * STEPS, momentum=0.9
        )
        np.testing.assert_allclose(actual[index], expected, rtol=2e-2, atol=2e-2)


def test_dampening_equal_to_momentum_is_the_exponential_moving_average_from_zero():
    # With a constant gradient g the EMA from a zero start is (1 - beta^t) g: no bias correction and, unlike
    # PyTorch (b_1 = g), a damped first step. The parameter therefore moves by lr * (1 - beta^t) g at step t.
    beta, lr, g = 0.8, 0.5, 2.0
    optimizer = MomentumSGD(learning_rate=lr, momentum=beta, dampening=beta)
    variable = keras.Variable(0.0)
    position = 0.0
    for step in range(1, 8):
        optimizer.apply([ops.convert_to_tensor(g)], [variable])
        position -= lr * (1.0 - beta**step) * g
        np.testing.assert_allclose(float(ops.convert_to_numpy(variable)), position, rtol=1e-6)
    assert float(ops.convert_to_numpy(optimizer._buffers[0])) == pytest.approx(
        (1.0 - beta**7) * g, rel=1e-6
    )


def test_first_step_is_damped_unlike_pytorch():
    optimizer = MomentumSGD(learning_rate=1.0, momentum=0.9, dampening=0.5)
    variable = keras.Variable(0.0)
    optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
    # PyTorch would move by the full gradient (b_1 = g_1 = 1); the zero-started buffer moves by 0.5.
    assert float(ops.convert_to_numpy(variable)) == pytest.approx(-0.5)


def test_nesterov_looks_ahead_along_the_buffer():
    optimizer = MomentumSGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    variable = keras.Variable(0.0)
    optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
    assert float(ops.convert_to_numpy(variable)) == pytest.approx(-0.1 * (1.0 + 0.9 * 1.0))
    optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
    assert float(ops.convert_to_numpy(variable)) == pytest.approx(-0.19 - 0.1 * (1.0 + 0.9 * 1.9))


def test_no_buffer_without_momentum():
    with_momentum, without = MomentumSGD(momentum=0.9), MomentumSGD(momentum=0.0)
    for optimizer in (with_momentum, without):
        optimizer.build([keras.Variable(np.zeros((2, 3)))])
    assert len(with_momentum.variables) == len(without.variables) + 1


def test_config_holds_every_argument():
    optimizer = MomentumSGD(learning_rate=0.2, momentum=0.5, dampening=0.1)
    config = optimizer.get_config()
    assert {key: config[key] for key in ("learning_rate", "momentum", "dampening", "nesterov")} == {
        "learning_rate": pytest.approx(0.2),
        "momentum": 0.5,
        "dampening": 0.1,
        "nesterov": False,
    }
    restored = MomentumSGD.from_config(config)
    assert (restored.momentum, restored.dampening, restored.nesterov) == (0.5, 0.1, False)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"momentum": None}, TypeError, "momentum"),
        ({"dampening": 1.0}, ValueError, "dampening"),
        ({"dampening": -0.5}, ValueError, "dampening"),
        ({"nesterov": "yes"}, TypeError, "nesterov"),
        ({"nesterov": True, "momentum": 0.0}, ValueError, "nesterov"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError, "dampening"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MomentumSGD(**kwargs)
