"""RAdam: step-by-step against the NumPy reference, the rectification switch-over, TF-Addons' warmup, arguments."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import RAdam
from keras_optkit.optimizers._numerics import sma_length
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_classic as reference


def _steps_of_constant_gradient(optimizer, gradient, steps):
    """The parameter's displacement at each step under a constant scalar gradient."""
    variable = keras.Variable(0.0)
    positions = [0.0]
    for _ in range(steps):
        optimizer.apply([ops.convert_to_tensor(gradient)], [variable])
        positions.append(float(ops.convert_to_numpy(variable)))
    return np.diff(positions)


CONFIGS = {
    "default": {},
    "amsgrad": {"amsgrad": True},
    "paper_threshold": {"sma_threshold": 4.0, "epsilon": 1e-3},
    "fast_beta_2": {"beta_1": 0.5, "beta_2": 0.9},
    "never_rectified": {"beta_2": 0.5},
    "tfa_warmup": {"total_steps": 10, "warmup_proportion": 0.3, "min_lr": 0.01},
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
    actual = run_apply(RAdam(learning_rate=learning_rate, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.radam(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "config", [{}, {"total_steps": 8, "warmup_proportion": 0.25}], ids=["plain", "tfa_warmup"]
)
def test_matches_reference_with_weight_decay(config):
    initial, grads = make_problem(seed=1)
    actual = run_apply(RAdam(learning_rate=0.1, weight_decay=0.2, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.radam(
            initial[index], [g[index] for g in grads], [0.1] * STEPS, weight_decay=0.2, **config
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sma_threshold", [5.0, 4.0, 8.0])
def test_rectification_switches_on_at_the_first_step_whose_rho_reaches_the_threshold(sma_threshold):
    # Under a constant gradient g, m_hat == g exactly: before the switch each step is the SGD step lr * g;
    # from the switch on it is lr * r_t * g / (|g| + eps), i.e. about lr * r_t, with r_t well below 1 early on.
    lr, gradient = 0.1, 3.0
    switch = next(t for t in range(1, 100) if reference.radam_rho(t, 0.999) >= sma_threshold)
    assert switch == {5.0: 6, 4.0: 5, 8.0: 9}[sma_threshold]
    displacements = _steps_of_constant_gradient(
        RAdam(learning_rate=lr, sma_threshold=sma_threshold), gradient, 12
    )
    np.testing.assert_allclose(displacements[: switch - 1], -lr * gradient, rtol=1e-6)
    rectified = [
        -lr * reference.radam_rectifier(t, 0.999) * gradient / (gradient + 1e-7)
        for t in range(switch, 13)
    ]
    # atol: the displacements are differences of float32 positions of size ~1 (ulp 1.2e-7)
    np.testing.assert_allclose(displacements[switch - 1 :], rectified, rtol=1e-5, atol=3e-7)
    assert abs(displacements[switch - 1]) < 0.1 * abs(displacements[switch - 2])


def test_sma_length_is_accurate_in_float32():
    steps = np.array([1, 2, 5, 6, 7, 50, 499, 500, 501, 3000, 100000], dtype=np.float64)
    for beta_2 in (0.999, 0.99, 0.9999):
        expected = [reference.radam_rho(step, beta_2) for step in steps]
        actual = ops.convert_to_numpy(
            sma_length(ops.convert_to_tensor(steps, dtype="float32"), beta_2)
        )
        np.testing.assert_allclose(actual, expected, rtol=2e-6)


def test_tfa_warmup_then_linear_decay_of_the_learning_rate():
    # beta_2 = 0.5 gives rho_inf = 3 < 4: never rectified, so every step is exactly lr_t * g with g = 1.
    optimizer = RAdam(
        learning_rate=0.1, beta_2=0.5, total_steps=10, warmup_proportion=0.2, min_lr=0.02
    )
    displacements = _steps_of_constant_gradient(optimizer, 1.0, 13)
    # 2 warmup steps up to 0.1, then 8 decay steps down to 0.02 (0.01 per step), then flat at min_lr.
    expected = [0.05, 0.1, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.02, 0.02, 0.02]
    np.testing.assert_allclose(-displacements, expected, rtol=1e-5)


def test_tfa_warmup_composes_with_a_schedule():
    # 0.1 at steps 0-3, then 0.2
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([3], [0.1, 0.2])
    optimizer = RAdam(learning_rate=schedule, beta_2=0.5, total_steps=4, warmup_proportion=0.5)
    displacements = _steps_of_constant_gradient(optimizer, 1.0, 6)
    # warmup over 2 steps of the scheduled rate, then linear decay to 0 over the remaining 2 steps
    np.testing.assert_allclose(-displacements, [0.05, 0.1, 0.05, 0.0, 0.0, 0.0], atol=1e-7)


def test_config_holds_every_argument():
    arguments = {
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-6,
        "amsgrad": True,
        "sma_threshold": 6.0,
        "total_steps": 100,
        "warmup_proportion": 0.2,
        "min_lr": 1e-4,
    }
    config = RAdam(learning_rate=0.01, **arguments).get_config()
    assert {key: config[key] for key in arguments} == arguments
    restored = RAdam.from_config(config)
    assert {key: getattr(restored, key) for key in arguments} == arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": None}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_1": -0.1}, ValueError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": "0.9"}, TypeError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"amsgrad": 1}, TypeError, "amsgrad"),
        ({"sma_threshold": 3.0}, ValueError, "sma_threshold"),
        ({"total_steps": -1}, ValueError, "total_steps"),
        ({"total_steps": 10.5}, TypeError, "total_steps"),
        ({"warmup_proportion": 1.5}, ValueError, "warmup_proportion"),
        ({"min_lr": -1e-3}, ValueError, "min_lr"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RAdam(**kwargs)
