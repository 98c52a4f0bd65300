"""AdaBelief: step-by-step against the NumPy reference, epsilon inside s_t, the belief property, rectify, arguments."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import AdaBelief
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_classic as reference

CONFIGS = {
    "default": {},
    "large_epsilon": {"epsilon": 1e-3},
    "amsgrad": {"amsgrad": True, "epsilon": 1e-6},
    "rectify": {"rectify": True},
    "rectify_amsgrad_fast_betas": {"rectify": True, "amsgrad": True, "beta_1": 0.5, "beta_2": 0.9},
    "rectify_never_reached": {"rectify": True, "beta_2": 0.5},
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
    actual = run_apply(AdaBelief(learning_rate=learning_rate, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.adabelief(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rectify", [False, True])
def test_matches_reference_with_weight_decay(rectify):
    initial, grads = make_problem(seed=1)
    actual = run_apply(AdaBelief(learning_rate=0.1, weight_decay=0.2, rectify=rectify), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.adabelief(
            initial[index],
            [g[index] for g in grads],
            [0.1] * STEPS,
            rectify=rectify,
            weight_decay=0.2,
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_epsilon_accumulates_inside_the_belief():
    # With zero gradients, m and (g - m) stay 0, so s_t is pure epsilon: eps * (1 - beta_2^t) / (1 - beta_2).
    epsilon, beta_2, steps = 1e-4, 0.9, 7
    optimizer = AdaBelief(epsilon=epsilon, beta_2=beta_2)
    variable = keras.Variable(np.ones(3, dtype="float32"))
    for _ in range(steps):
        optimizer.apply([ops.zeros((3,))], [variable])
    belief = ops.convert_to_numpy(optimizer._beliefs[0])
    np.testing.assert_allclose(belief, epsilon * (1 - beta_2**steps) / (1 - beta_2), rtol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(variable), 1.0)  # and no 0/0


def test_consistent_gradients_get_larger_steps_than_scattered_ones():
    # The defining property: the step is divided by the spread of g around its average, not by |g|.
    lr, steps = 0.01, 30
    optimizer = AdaBelief(learning_rate=lr)
    steady, noisy = keras.Variable(0.0), keras.Variable(0.0)
    for step in range(steps):
        before = [float(ops.convert_to_numpy(v)) for v in (steady, noisy)]
        optimizer.apply(
            [ops.convert_to_tensor(1.0), ops.convert_to_tensor(1.0 if step % 2 else -1.0)],
            [steady, noisy],
        )
    last = [
        abs(float(ops.convert_to_numpy(v)) - b)
        for v, b in zip((steady, noisy), before, strict=True)
    ]
    # Adam's step under a constant gradient is lr * m_hat / sqrt(v_hat) = lr; AdaBelief's keeps growing
    # (2.7 lr after 30 steps) as the deviation (g - m_t)^2 dies out, while alternating gradients stay tiny.
    assert last[0] > 2 * lr
    assert last[1] < 0.1 * lr


def test_rectify_takes_momentum_sgd_steps_until_rho_reaches_the_threshold():
    lr, gradient = 0.1, 3.0
    optimizer = AdaBelief(learning_rate=lr, rectify=True)
    variable = keras.Variable(0.0)
    positions = [0.0]
    for _ in range(6):
        optimizer.apply([ops.convert_to_tensor(gradient)], [variable])
        positions.append(float(ops.convert_to_numpy(variable)))
    displacements = np.diff(positions)
    np.testing.assert_allclose(
        displacements[:5], -lr * gradient, rtol=1e-6
    )  # rho_1..rho_5 < 5: m_hat == g
    assert abs(displacements[5]) != pytest.approx(
        lr * gradient, rel=0.1
    )  # step 6: rectified adaptive step


def test_config_holds_every_argument():
    arguments = {
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-10,
        "amsgrad": True,
        "rectify": True,
        "sma_threshold": 6.0,
    }
    config = AdaBelief(learning_rate=0.01, **arguments).get_config()
    assert {key: config[key] for key in arguments} == arguments
    restored = AdaBelief.from_config(config)
    assert {key: getattr(restored, key) for key in arguments} == arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_2": -0.1}, ValueError, "beta_2"),
        ({"beta_2": 1.5}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-14}, ValueError, "epsilon"),
        ({"amsgrad": "no"}, TypeError, "amsgrad"),
        ({"rectify": 0}, TypeError, "rectify"),
        ({"sma_threshold": 2.0}, ValueError, "sma_threshold"),
        ({"sma_threshold": float("nan")}, ValueError, "sma_threshold"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdaBelief(**kwargs)
