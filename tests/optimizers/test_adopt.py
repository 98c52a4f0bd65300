"""ADOPT: step-by-step against the NumPy reference, the initialisation step, the t^p clipping, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import ADOPT
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_modern_b as reference


def _check_against_reference(actual, initial, grads, lrs, rtol=1e-5, atol=1e-6, **config):
    for index in range(len(SHAPES)):
        expected = reference.adopt(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=rtol, atol=atol)


CONFIGS = {
    "default_clipped": {},
    "unclipped": {"clip_exponent": None},
    "steeper_clip_and_betas": {"clip_exponent": 0.5, "beta_1": 0.5, "beta_2": 0.9},
    "no_momentum_tiny_epsilon": {"beta_1": 0.0, "beta_2": 0.99, "epsilon": 1e-8},
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
    actual = run_apply(ADOPT(learning_rate=learning_rate, **config), initial, grads)
    _check_against_reference(actual, initial, grads, lrs, **config)


def test_matches_reference_with_weight_decay():
    initial, grads = make_problem(seed=1)
    actual = run_apply(ADOPT(learning_rate=0.1, weight_decay=0.05), initial, grads)
    _check_against_reference(actual, initial, grads, [0.1] * STEPS, weight_decay=0.05)


def test_float16_variables_track_reference_loosely():
    initial, grads = make_problem(seed=2, dtype="float16")
    optimizer = ADOPT(learning_rate=0.05)
    actual = run_apply(optimizer, initial, grads, dtype="float16")
    assert all(slot.dtype == "float16" for slot in optimizer._momentums + optimizer._second_moments)
    assert all(np.isfinite(trajectory).all() for trajectory in actual)
    _check_against_reference(actual, initial, grads, [0.05] * STEPS, rtol=2e-2, atol=2e-2)


def test_first_step_only_initialises_the_second_moment():
    optimizer = ADOPT(learning_rate=0.5, clip_exponent=None)
    variable = keras.Variable([1.0, -2.0])
    optimizer.apply([ops.convert_to_tensor([3.0, -0.5])], [variable])
    np.testing.assert_array_equal(ops.convert_to_numpy(variable), [1.0, -2.0])
    np.testing.assert_allclose(ops.convert_to_numpy(optimizer._second_moments[0]), [9.0, 0.25])
    np.testing.assert_array_equal(ops.convert_to_numpy(optimizer._momentums[0]), [0.0, 0.0])
    # The second step is normalized by v_0 = g_0^2 only, not by the current gradient.
    optimizer.apply([ops.convert_to_tensor([6.0, 1.0])], [variable])
    expected_m = 0.1 * np.array([6.0 / 3.0, 1.0 / 0.5])
    np.testing.assert_allclose(ops.convert_to_numpy(optimizer._momentums[0]), expected_m, rtol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(variable), np.array([1.0, -2.0]) - 0.5 * expected_m, rtol=1e-6
    )


def test_first_step_with_a_zero_gradient_stays_finite_without_clipping():
    # v stays 0, so the next step divides by epsilon: large but finite, and nothing is NaN.
    optimizer = ADOPT(learning_rate=1e-3, clip_exponent=None)
    variable = keras.Variable([0.0])
    optimizer.apply([ops.convert_to_tensor([0.0])], [variable])
    optimizer.apply([ops.convert_to_tensor([1e-3])], [variable])
    assert float(ops.convert_to_numpy(variable)[0]) == pytest.approx(-1e-3 * 0.1 * 1e-3 / 1e-6)


@pytest.mark.parametrize("clip_exponent", [0.25, 0.5])
def test_clipping_bound_grows_as_a_power_of_the_step(clip_exponent):
    # A tiny first gradient leaves v ~ 0, so later unit gradients normalize to ~100 and hit the bound t^p.
    # With beta_1 = 0 the momentum is the clipped value itself and each step moves by lr * t^p.
    lr = 0.01
    optimizer = ADOPT(learning_rate=lr, beta_1=0.0, clip_exponent=clip_exponent)
    variable = keras.Variable(0.0)
    optimizer.apply([ops.convert_to_tensor(1e-3)], [variable])
    previous = 0.0
    for t in range(1, 6):
        optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
        current = float(ops.convert_to_numpy(variable))
        assert previous - current == pytest.approx(lr * t**clip_exponent, rel=1e-5)
        previous = current


def test_unclipped_step_is_not_bounded():
    optimizer = ADOPT(learning_rate=0.01, beta_1=0.0, clip_exponent=None)
    variable = keras.Variable(0.0)
    optimizer.apply([ops.convert_to_tensor(1e-3)], [variable])
    optimizer.apply([ops.convert_to_tensor(1.0)], [variable])
    # g / sqrt(v_0) = 1 / 1e-3: a thousand times the clipped step.
    assert float(ops.convert_to_numpy(variable)) == pytest.approx(-0.01 * 1000.0, rel=1e-5)


def test_config_round_trip_keeps_every_argument():
    optimizer = ADOPT(learning_rate=0.2, beta_1=0.8, beta_2=0.99, epsilon=1e-7, clip_exponent=None)
    restored = ADOPT.from_config(optimizer.get_config())
    assert (restored.beta_1, restored.beta_2, restored.epsilon, restored.clip_exponent) == (
        0.8,
        0.99,
        1e-7,
        None,
    )
    assert float(ops.convert_to_numpy(restored.learning_rate)) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_1": -0.1}, ValueError, "beta_1"),
        ({"beta_1": None}, TypeError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": -1e-3}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-6}, ValueError, "epsilon"),
        ({"epsilon": "small"}, TypeError, "epsilon"),
        ({"clip_exponent": -0.25}, ValueError, "clip_exponent"),
        ({"clip_exponent": float("inf")}, ValueError, "clip_exponent"),
        ({"clip_exponent": True}, TypeError, "clip_exponent"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ADOPT(**kwargs)
