"""Prodigy: parameters and d against the NumPy reference, the d estimate, learning-rate freedom, arguments."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import Prodigy
from tests.reference import optimizers_modern_b as reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 15


def _problem(seed, scale=1e-5, zero_steps=0):
    """Initial values (of size ``scale``) and per-step gradients (the first ``zero_steps`` all zero).

    With the default d0 = 1e-6 the first steps move the weights by ~1e-6. The d estimate correlates gradients
    with x_0 - x_k, which float32 resolves only to ~1e-7 |x|: small initial values (as for zero-initialised
    biases) keep that difference exact enough for a 1e-5 comparison with the float64 reference.
    """
    rng = np.random.default_rng(seed)
    initial = [
        (scale * rng.normal(size=shape)).astype(np.float32).astype(np.float64) for shape in SHAPES
    ]
    grads = [
        [rng.normal(size=shape).astype(np.float32).astype(np.float64) for shape in SHAPES]
        for _ in range(STEPS)
    ]
    for step in range(zero_steps):
        grads[step] = [np.zeros_like(g) for g in grads[step]]
    return initial, grads


def _run(optimizer, initial, grads):
    """Drives ``optimizer.apply`` on all variables together; returns (trajectory[step][variable], d[step])."""
    variables = [keras.Variable(value, dtype="float32") for value in initial]
    trajectory, ds = [], []
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype="float32") for g in step_grads], variables)
        trajectory.append([ops.convert_to_numpy(v).astype(np.float64) for v in variables])
        ds.append(float(ops.convert_to_numpy(optimizer.d)))
    return trajectory, ds


def _check_against_reference(optimizer, initial, grads, lrs, scale=1e-5, **config):
    actual, actual_ds = _run(optimizer, initial, grads)
    expected, expected_ds = reference.prodigy(initial, grads, lrs, **config)
    np.testing.assert_allclose(actual_ds, expected_ds, rtol=1e-5)
    for step, (values, expected_values) in enumerate(zip(actual, expected, strict=True)):
        for index, (value, expected_value) in enumerate(zip(values, expected_values, strict=True)):
            np.testing.assert_allclose(
                value, expected_value, rtol=1e-5, atol=1e-3 * scale, err_msg=f"step {step}, {index}"
            )
    return actual_ds


CONFIGS = {
    "defaults": {},
    "bias_correction_and_beta_3": {"bias_correction": True, "beta_3": 0.9, "beta_1": 0.8},
    "safeguard_growth_and_d_coef": {"safeguard_warmup": True, "growth_rate": 1.5, "d_coef": 2.0},
    "epsilon": {"epsilon": 1e-6},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_d_and_parameters_match_reference(config):
    initial, grads = _problem(seed=0)
    ds = _check_against_reference(Prodigy(**config), initial, grads, [1.0] * STEPS, **config)
    # The comparison is only meaningful if d actually moved within the window.
    if "bias_correction" not in config:
        assert ds[-1] > 1.5e-6


def test_matches_reference_with_large_weights_and_a_large_d0():
    # Weights of size 1 are fine once the steps are large too: d0 = 1e-2.
    initial, grads = _problem(seed=1, scale=1.0)
    ds = _check_against_reference(
        Prodigy(d0=1e-2), initial, grads, [1.0] * STEPS, scale=1.0, d0=1e-2
    )
    assert ds[-1] > 2e-2


def test_matches_reference_with_a_learning_rate_schedule():
    initial, grads = _problem(seed=2)
    schedule = keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=5, decay_rate=0.5)
    lrs = [0.5 ** (step / 5) for step in range(STEPS)]
    _check_against_reference(Prodigy(learning_rate=schedule), initial, grads, lrs)


def test_steps_with_zero_learning_rate_or_zero_gradients_are_skipped_as_in_the_reference():
    # Two all-zero gradients first (sum |s| = 0), then steps 5 and 6 at learning rate 0.
    initial, grads = _problem(seed=3, zero_steps=2)
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([4, 6], [1.0, 0.0, 0.7])
    lrs = [1.0 if step <= 4 else 0.0 if step <= 6 else 0.7 for step in range(STEPS)]
    optimizer = Prodigy(learning_rate=schedule)
    _check_against_reference(optimizer, initial, grads, lrs)
    # And the first (skipped) step took x_0: the weights had not moved.
    for slot, value in zip(optimizer._initial_values, initial, strict=True):
        np.testing.assert_allclose(ops.convert_to_numpy(slot), value, rtol=1e-7)


def test_d_starts_at_d0_and_grows_monotonically():
    optimizer = Prodigy()
    x = keras.Variable(np.array([2.0, -1.0, 0.5], dtype=np.float32))
    ds = []
    for _ in range(60):
        optimizer.apply([ops.convert_to_tensor(x)], [x])  # the gradient of |x|^2 / 2
        ds.append(float(ops.convert_to_numpy(optimizer.d)))
    # x_1 = x_0, so the first correlation and estimate are 0: d stays d0 for one step.
    assert ds[0] == pytest.approx(1e-6, rel=1e-6)
    assert np.all(np.diff(ds) >= 0.0)
    # It grew by orders of magnitude, to the scale of the distance to the minimum (|x_0| ~ 2.3).
    assert 0.1 < ds[-1] < 10.0
    assert float(ops.convert_to_numpy(optimizer._d_max)) >= ds[-1]


def test_growth_rate_limits_the_growth_after_the_first_estimate():
    optimizer = Prodigy(growth_rate=1.1)
    x = keras.Variable(np.array([2.0, -1.0, 0.5], dtype=np.float32))
    ds = [1e-6]
    for _ in range(40):
        optimizer.apply([ops.convert_to_tensor(x)], [x])
        ds.append(float(ops.convert_to_numpy(optimizer.d)))
    moved = next(i for i, d in enumerate(ds) if d > 1e-6)
    # The first estimate is taken whole ...
    assert ds[moved] > 1.1 * ds[moved - 1]
    # ... later ones by at most 10% a step.
    ratios = np.array(ds[moved + 1 :]) / np.array(ds[moved:-1])
    assert max(ratios) <= 1.1 * (1 + 1e-6)
    assert max(ratios) > 1.09


@pytest.mark.parametrize("distance", [1e-2, 1.0, 100.0])
def test_reaches_the_minimum_of_a_quadratic_at_any_scale_with_the_default_learning_rate(distance):
    # f(x) = sum_i c_i (x_i - x*_i)^2 / 2 with curvatures 1..10 and |x_0 - x*| = distance: a fixed learning rate
    # that suits one scale is 10^4 times off for another; Prodigy's estimated d adapts to each.
    curvature = ops.convert_to_tensor(np.array([1.0, 2.0, 5.0, 10.0], dtype=np.float32))
    target = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    direction = np.array([1.0, 1.0, -1.0, 1.0], dtype=np.float32) / 2.0
    x = keras.Variable(target + distance * direction)
    optimizer = Prodigy()
    target_tensor = ops.convert_to_tensor(target)

    def value():
        return 0.5 * float(ops.convert_to_numpy(ops.sum(curvature * ops.square(x - target_tensor))))

    start = value()
    for _ in range(100):
        optimizer.apply([curvature * (x - target_tensor)], [x])
    assert value() < 1e-3 * start
    # d is an estimate of the distance to the solution: same order of magnitude.
    assert 0.1 * distance < float(ops.convert_to_numpy(optimizer.d)) < 10.0 * distance


def test_initial_point_is_taken_at_the_first_step_not_at_build():
    optimizer = Prodigy()
    x = keras.Variable(np.zeros(3, dtype=np.float32))
    optimizer.build([x])
    x.assign(np.array([1.0, 2.0, 3.0], dtype=np.float32))  # e.g. weights loaded after compile
    optimizer.apply([ops.convert_to_tensor(np.ones(3, dtype=np.float32))], [x])
    np.testing.assert_allclose(ops.convert_to_numpy(optimizer._initial_values[0]), [1.0, 2.0, 3.0])
    x.assign(np.array([7.0, 8.0, 9.0], dtype=np.float32))
    optimizer.apply([ops.convert_to_tensor(np.ones(3, dtype=np.float32))], [x])
    np.testing.assert_allclose(ops.convert_to_numpy(optimizer._initial_values[0]), [1.0, 2.0, 3.0])


def _run_named(optimizer, initial, grads):
    variables = [
        keras.Variable(v, dtype="float32", name=f"weight_{i}") for i, v in enumerate(initial)
    ]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype="float32") for g in step_grads], variables)
    return [ops.convert_to_numpy(v) for v in variables]


def test_weight_decay_is_scaled_by_d_and_honours_exclusions():
    # d0 = 1e-2 makes the decay d * lr * 0.5 ~ 1% a step: visible, and far from lr * 0.5 = 50% a step.
    initial, grads = _problem(seed=4, scale=1.0)
    with_decay, with_ds = reference.prodigy(
        initial, grads, [1.0] * STEPS, d0=1e-2, weight_decay=0.5
    )
    without_decay, _ = reference.prodigy(initial, grads, [1.0] * STEPS, d0=1e-2)

    decayed = Prodigy(d0=1e-2, weight_decay=0.5)
    final = _run_named(decayed, initial, grads)
    assert float(ops.convert_to_numpy(decayed.d)) == pytest.approx(with_ds[-1], rel=1e-5)
    for index, value in enumerate(final):
        np.testing.assert_allclose(value, with_decay[-1][index], rtol=1e-5, atol=1e-5)
        assert not np.allclose(value, without_decay[-1][index], rtol=1e-3, atol=1e-3)
        assert np.abs(value).max() > 0.5 * np.abs(initial[index]).max()

    excluded = Prodigy(d0=1e-2, weight_decay=0.5)
    excluded.exclude_from_weight_decay(var_names=["weight_"])
    for index, value in enumerate(_run_named(excluded, initial, grads)):
        np.testing.assert_allclose(value, without_decay[-1][index], rtol=1e-5, atol=1e-5)


def test_state_lives_in_optimizer_variables():
    optimizer = Prodigy()
    x = keras.Variable(np.ones(3, dtype=np.float32))
    optimizer.build([x])
    paths = [variable.path for variable in optimizer.variables]
    for name in ("d", "d_max", "d_numerator"):
        assert any(path.endswith(f"/{name}") for path in paths), paths
    # 4 slots per parameter (s, x_0, m, v) besides d, d_max, r, the iteration count and the learning rate.
    assert len(optimizer.variables) == 2 + 3 + 4


def test_config_round_trip_keeps_every_argument():
    optimizer = Prodigy(
        beta_3=0.95,
        d0=1e-5,
        d_coef=0.5,
        growth_rate=1.02,
        safeguard_warmup=True,
        bias_correction=True,
        epsilon=1e-7,
    )
    restored = Prodigy.from_config(optimizer.get_config())
    names = (
        "beta_3",
        "d0",
        "d_coef",
        "growth_rate",
        "safeguard_warmup",
        "bias_correction",
        "epsilon",
    )
    assert [getattr(restored, name) for name in names] == [0.95, 1e-5, 0.5, 1.02, True, True, 1e-7]
    assert Prodigy.from_config(Prodigy().get_config()).growth_rate == math.inf


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": "auto"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_2": -0.1}, ValueError, "beta_2"),
        ({"beta_3": 1.0}, ValueError, "beta_3"),
        ({"beta_3": "sqrt"}, TypeError, "beta_3"),
        ({"d0": 0.0}, ValueError, "d0"),
        ({"d0": -1e-6}, ValueError, "d0"),
        ({"d_coef": 0.0}, ValueError, "d_coef"),
        ({"d_coef": None}, TypeError, "d_coef"),
        ({"growth_rate": 0.5}, ValueError, "growth_rate"),
        ({"growth_rate": float("nan")}, ValueError, "growth_rate"),
        ({"growth_rate": "fast"}, TypeError, "growth_rate"),
        ({"growth_rate": True}, TypeError, "growth_rate"),
        ({"safeguard_warmup": "yes"}, TypeError, "safeguard_warmup"),
        ({"bias_correction": 1}, TypeError, "bias_correction"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Prodigy(**kwargs)
