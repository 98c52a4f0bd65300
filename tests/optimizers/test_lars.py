"""LARS: against the NumPy reference, the trust ratio's edge cases, exclusion from adaptation, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import LARS
from tests.reference import optimizers_modern_a as reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12


def _problem(seed, dtype="float32"):
    """Initial values and per-step gradients for every shape, rounded to ``dtype`` so both sides see the same."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(dtype).astype(np.float64) for shape in SHAPES]
    grads = [
        [(rng.normal(size=shape) * 3.0).astype(dtype).astype(np.float64) for shape in SHAPES]
        for _ in range(STEPS)
    ]
    return initial, grads


def _run(optimizer, initial, grads, dtype="float32", names=None):
    """Drives ``optimizer.apply`` on one variable per shape; returns trajectories[variable][step]."""
    names = names or [f"w{index}" for index in range(len(initial))]
    variables = [
        keras.Variable(value, dtype=dtype, name=name)
        for value, name in zip(initial, names, strict=True)
    ]
    trajectories = [[] for _ in variables]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype=dtype) for g in step_grads], variables)
        for trajectory, variable in zip(trajectories, variables, strict=True):
            trajectory.append(ops.convert_to_numpy(variable).astype(np.float64))
    return trajectories


def _check_against_reference(
    actual, initial, grads, lrs, rtol=1e-5, atol=1e-6, adapt=None, **config
):
    adapt = adapt or [True] * len(SHAPES)
    for index in range(len(SHAPES)):
        expected = reference.lars(
            initial[index], [g[index] for g in grads], lrs, adapt=adapt[index], **config
        )
        np.testing.assert_allclose(actual[index], expected, rtol=rtol, atol=atol)


CONFIGS = {
    "paper_defaults": {},
    "larger_trust_and_lars_decay": {"trust_coefficient": 0.05, "lars_weight_decay": 0.1},
    "no_momentum_big_epsilon": {"momentum": 0.0, "trust_coefficient": 0.02, "epsilon": 0.5},
    "with_keras_weight_decay": {
        "trust_coefficient": 0.01,
        "lars_weight_decay": 0.05,
        "weight_decay": 0.2,
    },
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule):
    initial, grads = _problem(seed=0)
    if schedule:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            2.0, decay_steps=4, decay_rate=0.5
        )
        lrs = [2.0 * 0.5 ** (step / 4) for step in range(STEPS)]
    else:
        learning_rate, lrs = 2.0, [2.0] * STEPS
    actual = _run(LARS(learning_rate=learning_rate, **config), initial, grads)
    _check_against_reference(actual, initial, grads, lrs, **config)


def test_float16_variables_track_reference_loosely():
    initial, grads = _problem(seed=2, dtype="float16")
    optimizer = LARS(learning_rate=2.0, trust_coefficient=0.05, lars_weight_decay=0.01)
    actual = _run(optimizer, initial, grads, dtype="float16")
    assert all(slot.dtype == "float16" for slot in optimizer._velocities)
    _check_against_reference(
        actual,
        initial,
        grads,
        [2.0] * STEPS,
        rtol=2e-2,
        atol=2e-2,
        trust_coefficient=0.05,
        lars_weight_decay=0.01,
    )


def test_float16_norms_do_not_overflow():
    # Squares of 300 exceed float16's maximum (65504); the norms are accumulated in float32.
    initial = [np.full((4,), 300.0), np.full((4,), 1.0)]
    grads = [[np.full((4,), 400.0), np.full((4,), 1.0)]]
    optimizer = LARS(learning_rate=1.0, trust_coefficient=0.01)
    variables = [keras.Variable(value, dtype="float16") for value in initial]
    optimizer.apply([ops.convert_to_tensor(g, dtype="float16") for g in grads[0]], variables)
    actual = ops.convert_to_numpy(variables[0]).astype(np.float64)
    expected = reference.lars(initial[0], [grads[0][0]], [1.0], trust_coefficient=0.01)[-1]
    assert np.all(np.isfinite(actual))
    np.testing.assert_allclose(actual, expected, rtol=1e-3)  # 300 - 0.01 * 600 * 0.5 = 297


def test_step_length_is_trust_times_weight_norm_whatever_the_gradient_scale():
    initial = np.array([3.0, 4.0])  # ||w|| = 5
    direction = np.array([0.6, -0.8])
    for scale in (1e-4, 1.0, 1e4):
        optimizer = LARS(learning_rate=0.5, trust_coefficient=0.01, epsilon=0.0)
        weight = keras.Variable(initial)
        optimizer.apply([ops.convert_to_tensor(scale * direction, dtype="float32")], [weight])
        np.testing.assert_allclose(
            ops.convert_to_numpy(weight), initial - 0.5 * 0.01 * 5.0 * direction, rtol=1e-6
        )


def test_trust_ratio_is_one_when_a_norm_is_zero():
    # ||w|| = 0 (a zero-initialized bias): a plain SGD step lr * g.
    optimizer = LARS(learning_rate=0.5, momentum=0.0, lars_weight_decay=0.1)
    zeros, weights = keras.Variable(np.zeros(3)), keras.Variable(np.array([1.0, -2.0, 2.0]))
    optimizer.apply(
        [ops.convert_to_tensor([1.0, 2.0, 3.0]), ops.convert_to_tensor([0.0, 0.0, 0.0])],
        [zeros, weights],
    )
    np.testing.assert_allclose(ops.convert_to_numpy(zeros), [-0.5, -1.0, -1.5], rtol=1e-6)
    # ||g|| = 0 with LARS weight decay: the decay term alone, at the full learning rate (ratio 1).
    np.testing.assert_allclose(
        ops.convert_to_numpy(weights), np.array([1.0, -2.0, 2.0]) * (1.0 - 0.5 * 0.1), rtol=1e-6
    )


def test_excluded_variables_take_plain_momentum_sgd_steps():
    initial, grads = _problem(seed=3)
    names = ["kernel_a", "bias", "kernel_b", "batch_norm_gamma"]
    optimizer = LARS(
        learning_rate=0.05,
        trust_coefficient=0.02,
        lars_weight_decay=0.01,
        exclude_from_layer_adaptation=["bias", "^batch_norm"],
    )
    actual = _run(optimizer, initial, grads, names=names)
    _check_against_reference(
        actual,
        initial,
        grads,
        [0.05] * STEPS,
        adapt=[True, False, True, False],
        trust_coefficient=0.02,
        lars_weight_decay=0.01,
    )


def test_exclusion_matches_layer_paths_in_a_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, bias_initializer="ones")])
    optimizer = LARS(
        learning_rate=0.1, trust_coefficient=0.001, exclude_from_layer_adaptation=["bias"]
    )
    kernel, bias = model.layers[0].kernel, model.layers[0].bias
    kernel_before = ops.convert_to_numpy(kernel).copy()
    gradient = np.full((2,), 10.0, dtype="float32")
    optimizer.apply(
        [ops.convert_to_tensor(np.ones((3, 2), "float32")), ops.convert_to_tensor(gradient)],
        [kernel, bias],
    )
    # The bias is not adapted: SGD moves it by lr * g = 1. The kernel moves by lr * eta * ||w|| in total.
    np.testing.assert_allclose(ops.convert_to_numpy(bias), [0.0, 0.0], atol=1e-6)
    moved = np.linalg.norm(ops.convert_to_numpy(kernel) - kernel_before)
    # (rel=1e-3: the difference of two float32 kernels loses about four digits.)
    assert moved == pytest.approx(0.1 * 0.001 * np.linalg.norm(kernel_before), rel=1e-3)


def test_exclude_from_weight_decay_also_turns_off_lars_weight_decay():
    initial, grads = _problem(seed=4)
    optimizer = LARS(learning_rate=1.0, trust_coefficient=0.02, lars_weight_decay=0.3)
    optimizer.exclude_from_weight_decay(var_names=["skip"])
    actual = _run(optimizer, initial, grads, names=["w0", "skip_me", "w2", "w3"])
    for index, decay in enumerate([0.3, 0.0, 0.3, 0.3]):
        expected = reference.lars(
            initial[index],
            [g[index] for g in grads],
            [1.0] * STEPS,
            trust_coefficient=0.02,
            lars_weight_decay=decay,
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_config_round_trip_keeps_every_argument():
    optimizer = LARS(
        learning_rate=3.0,
        momentum=0.8,
        trust_coefficient=0.002,
        epsilon=1e-6,
        lars_weight_decay=1e-4,
        exclude_from_layer_adaptation=("bias", "gamma"),
    )
    restored = LARS.from_config(optimizer.get_config())
    assert (
        restored.momentum,
        restored.trust_coefficient,
        restored.epsilon,
        restored.lars_weight_decay,
        restored.exclude_from_layer_adaptation,
    ) == (0.8, 0.002, 1e-6, 1e-4, ["bias", "gamma"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"momentum": None}, TypeError, "momentum"),
        ({"trust_coefficient": 0.0}, ValueError, "trust_coefficient"),
        ({"trust_coefficient": -1e-3}, ValueError, "trust_coefficient"),
        ({"epsilon": -1e-8}, ValueError, "epsilon"),
        ({"epsilon": "tiny"}, TypeError, "epsilon"),
        ({"lars_weight_decay": -1e-4}, ValueError, "lars_weight_decay"),
        ({"lars_weight_decay": float("inf")}, ValueError, "lars_weight_decay"),
        ({"exclude_from_layer_adaptation": "bias"}, TypeError, "exclude_from_layer_adaptation"),
        (
            {"exclude_from_layer_adaptation": ["bias", 3]},
            TypeError,
            "exclude_from_layer_adaptation",
        ),
        ({"exclude_from_layer_adaptation": ["("]}, ValueError, "exclude_from_layer_adaptation"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LARS(**kwargs)
