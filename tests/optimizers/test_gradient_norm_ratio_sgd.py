"""GradientNormRatioSGD: against the NumPy reference, global-norm coupling, the cap, where the norm is taken."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import GradientNormRatioSGD
from tests.reference import optimizers_classic as reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12


def _problem(seed, dtype="float32"):
    """Random gradients whose overall scale changes from step to step, so the ratio moves and hits the cap."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(dtype).astype(np.float64) for shape in SHAPES]
    scales = rng.uniform(0.3, 3.0, size=STEPS)
    grads = [
        [(scale * rng.normal(size=shape)).astype(dtype).astype(np.float64) for shape in SHAPES]
        for scale in scales
    ]
    return initial, grads


def _run(optimizer, initial, grads, dtype="float32"):
    """Drives ``optimizer.apply`` on all variables at once; returns trajectories[variable][step]."""
    variables = [keras.Variable(value, dtype=dtype) for value in initial]
    trajectories = [[] for _ in variables]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype=dtype) for g in step_grads], variables)
        for trajectory, variable in zip(trajectories, variables, strict=True):
            trajectory.append(ops.convert_to_numpy(variable).astype(np.float64))
    return trajectories


def _assert_trajectories_close(actual, expected, rtol=1e-5, atol=1e-6):
    for index in range(len(expected)):
        np.testing.assert_allclose(actual[index], expected[index], rtol=rtol, atol=atol)


CONFIGS = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "tight_cap": {"max_ratio": 1.25, "momentum": 0.5},
    "no_cap": {"max_ratio": 1e6},
    "large_epsilon": {"epsilon": 30.0},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule):
    initial, grads = _problem(seed=0)
    if schedule:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            0.05, decay_steps=4, decay_rate=0.5
        )
        lrs = [0.05 * 0.5 ** (step / 4) for step in range(STEPS)]
    else:
        learning_rate, lrs = 0.05, [0.05] * STEPS
    actual = _run(GradientNormRatioSGD(learning_rate=learning_rate, **config), initial, grads)
    _assert_trajectories_close(
        actual, reference.gradient_norm_ratio_sgd(initial, grads, lrs, **config)
    )


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_matches_reference_with_weight_decay(momentum):
    initial, grads = _problem(seed=1)
    actual = _run(
        GradientNormRatioSGD(learning_rate=0.05, momentum=momentum, weight_decay=0.5),
        initial,
        grads,
    )
    expected = reference.gradient_norm_ratio_sgd(
        initial, grads, [0.05] * STEPS, momentum=momentum, weight_decay=0.5
    )
    _assert_trajectories_close(actual, expected)


def test_float16_variables_track_reference_loosely():
    initial, grads = _problem(seed=2, dtype="float16")
    optimizer = GradientNormRatioSGD(learning_rate=0.02, momentum=0.9)
    actual = _run(optimizer, initial, grads, dtype="float16")
    assert all(velocity.dtype == "float16" for velocity in optimizer._velocities)
    expected = reference.gradient_norm_ratio_sgd(initial, grads, [0.02] * STEPS, momentum=0.9)
    _assert_trajectories_close(actual, expected, rtol=2e-2, atol=2e-2)


def _second_step_of_first_variable(second_gradient_of_other):
    optimizer = GradientNormRatioSGD(learning_rate=0.1, max_ratio=100.0)
    first, other = keras.Variable(0.0), keras.Variable(0.0)
    optimizer.apply([ops.convert_to_tensor(1.0), ops.convert_to_tensor(1.0)], [first, other])
    before = float(ops.convert_to_numpy(first))
    optimizer.apply(
        [ops.convert_to_tensor(1.0), ops.convert_to_tensor(second_gradient_of_other)],
        [first, other],
    )
    return float(ops.convert_to_numpy(first)) - before


def test_global_norm_couples_the_variables():
    # The first variable sees the same gradient (1) twice; only the OTHER variable's second gradient changes.
    # Global squared norms: 2, then 1 + g^2, so the first variable's second step is -0.1 * (1 + g^2) / 2.
    for other_gradient in (1.0, 3.0, 0.0):
        expected = -0.1 * (1.0 + other_gradient**2) / 2.0
        assert _second_step_of_first_variable(other_gradient) == pytest.approx(expected, rel=1e-6)
    assert _second_step_of_first_variable(3.0) == pytest.approx(
        5.0 * _second_step_of_first_variable(1.0)
    )


def test_first_step_is_plain_sgd_and_the_ratio_is_capped_both_ways():
    optimizer = GradientNormRatioSGD(learning_rate=0.1, max_ratio=2.0)
    variable = keras.Variable(0.0)
    positions = [0.0]
    for gradient in (10.0, 100.0, 100.0, 1.0):
        optimizer.apply([ops.convert_to_tensor(gradient)], [variable])
        positions.append(float(ops.convert_to_numpy(variable)))
    # ratio 1 (first step), 100 -> capped at 2, exactly 1, 1e-4 -> capped at 1/2; atol: float32 ulp at 31
    expected = [-1.0, -20.0, -10.0, -0.05]
    np.testing.assert_allclose(np.diff(positions), expected, rtol=1e-6, atol=4e-6)


def test_previous_squared_norm_is_optimizer_state():
    optimizer = GradientNormRatioSGD()
    variables = [keras.Variable(np.zeros(2, dtype="float32")), keras.Variable(0.0)]
    optimizer.apply([ops.convert_to_tensor([3.0, 4.0]), ops.convert_to_tensor(12.0)], variables)
    assert any(variable is optimizer._previous_squared_norm for variable in optimizer.variables)
    assert float(ops.convert_to_numpy(optimizer._previous_squared_norm)) == pytest.approx(169.0)


def test_norm_is_taken_after_loss_scale_unscaling():
    # Gradients of a loss scaled by 1024 are unscaled before the norm: same trajectory as the unscaled run.
    initial, grads = _problem(seed=3)
    scaled = [[g * 1024.0 for g in step] for step in grads]
    baseline = _run(GradientNormRatioSGD(learning_rate=0.05), initial, grads)
    unscaled = _run(
        GradientNormRatioSGD(learning_rate=0.05, loss_scale_factor=1024.0), initial, scaled
    )
    _assert_trajectories_close(unscaled, baseline)


def test_norm_is_taken_on_the_accumulated_gradient():
    # With gradient accumulation the ratio compares the averaged gradients of consecutive real updates.
    initial, grads = _problem(seed=4)
    grads = grads[:4]  # two real updates: eager accumulation re-traces a lax.cond per step on JAX
    actual = _run(
        GradientNormRatioSGD(learning_rate=0.05, gradient_accumulation_steps=2), initial, grads
    )
    averaged = [
        [(a + b) / 2.0 for a, b in zip(grads[i], grads[i + 1], strict=True)] for i in range(0, 4, 2)
    ]
    expected = reference.gradient_norm_ratio_sgd(initial, averaged, [0.05] * 2)
    for index in range(len(SHAPES)):
        np.testing.assert_allclose(actual[index][1::2], expected[index], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            actual[index][0::2], [initial[index]] + expected[index][:-1], rtol=1e-6, atol=1e-7
        )


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="TensorFlow's optimizers refuse stateless_apply (it is incompatible with tf.distribute)",
)
def test_stateless_apply_threads_the_previous_norm():
    initial, grads = _problem(seed=5)
    stateful = _run(GradientNormRatioSGD(learning_rate=0.05, momentum=0.9), initial, grads)
    optimizer = GradientNormRatioSGD(learning_rate=0.05, momentum=0.9)
    variables = [keras.Variable(value, dtype="float32") for value in initial]
    optimizer.build(variables)
    values = [variable.value for variable in variables]
    state = [variable.value for variable in optimizer.variables]
    for step_grads in grads:
        values, state = optimizer.stateless_apply(
            state, [ops.convert_to_tensor(g) for g in step_grads], values
        )
    for index in range(len(SHAPES)):
        np.testing.assert_allclose(
            ops.convert_to_numpy(values[index]), stateful[index][-1], rtol=1e-6, atol=1e-7
        )


def test_config_holds_every_argument():
    arguments = {"epsilon": 1e-6, "max_ratio": 3.0, "momentum": 0.8}
    config = GradientNormRatioSGD(learning_rate=0.01, **arguments).get_config()
    assert {key: config[key] for key in arguments} == arguments
    restored = GradientNormRatioSGD.from_config(config)
    assert {key: getattr(restored, key) for key in arguments} == arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": "1"}, TypeError, "learning_rate"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": None}, TypeError, "epsilon"),
        ({"max_ratio": 0.5}, ValueError, "max_ratio"),
        ({"max_ratio": float("inf")}, ValueError, "max_ratio"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"momentum": -0.5}, ValueError, "momentum"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradientNormRatioSGD(**kwargs)
