"""MADGRAD: against the NumPy reference, the x0 slot, both weight-decay forms, epsilon = 0, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import MADGRAD
from tests.reference import optimizers_modern_a as reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12


def _problem(seed, dead_entries=False):
    """Initial values and per-step gradients for every shape, rounded to float32 so both sides see the same.
    With ``dead_entries`` the first entry of every non-scalar gradient is always 0."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(np.float32).astype(np.float64) for shape in SHAPES]
    grads = []
    for _ in range(STEPS):
        step_grads = [
            rng.normal(size=shape).astype(np.float32).astype(np.float64) for shape in SHAPES
        ]
        if dead_entries:
            for grad in step_grads[1:]:
                grad.reshape(-1)[0] = 0.0
        grads.append(step_grads)
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
        expected = reference.madgrad(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


CONFIGS = {
    "defaults": {},
    "no_momentum": {"momentum": 0.0},
    "decoupled_decay": {"weight_decay": 0.3},
    "l2_decay": {"weight_decay": 0.3, "decouple_decay": False, "momentum": 0.5},
    "no_momentum_decoupled_decay": {"weight_decay": 0.3, "momentum": 0.0, "epsilon": 1e-3},
    "no_momentum_l2_decay": {"weight_decay": 0.3, "momentum": 0.0, "decouple_decay": False},
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
    actual = _run(MADGRAD(learning_rate=learning_rate, **config), initial, grads)
    _check_against_reference(actual, initial, grads, lrs, **config)


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_zero_epsilon_leaves_never_seen_entries_alone(momentum):
    initial, grads = _problem(seed=1, dead_entries=True)
    actual = _run(MADGRAD(learning_rate=0.05, momentum=momentum, epsilon=0.0), initial, grads)
    _check_against_reference(actual, initial, grads, [0.05] * STEPS, momentum=momentum, epsilon=0.0)
    for index in range(1, len(SHAPES)):
        assert np.all(np.isfinite(actual[index][-1]))
        # 0.9 x + 0.1 x0 with x = x0: equal up to float32 rounding.
        assert actual[index][-1].reshape(-1)[0] == pytest.approx(
            initial[index].reshape(-1)[0], rel=1e-6
        )


def test_initial_point_slot_holds_the_starting_weights():
    optimizer = MADGRAD(learning_rate=0.1)
    variable = keras.Variable([1.0, -2.0, 3.0])
    for _ in range(3):
        optimizer.apply([ops.convert_to_tensor([1.0, 1.0, -1.0])], [variable])
    # The slot holds the weights of the first step, untouched since, while the weights moved.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(optimizer._initial_values[0]), [1.0, -2.0, 3.0]
    )
    assert not np.allclose(ops.convert_to_numpy(variable), [1.0, -2.0, 3.0])
    assert len(optimizer.variables) == 2 + 3  # iterations, learning rate, s, nu, x0


def test_without_momentum_no_initial_point_is_stored():
    optimizer = MADGRAD(learning_rate=0.1, momentum=0.0)
    optimizer.build([keras.Variable([1.0, 2.0])])
    assert len(optimizer.variables) == 2 + 2  # iterations, learning rate, s, nu
    assert not hasattr(optimizer, "_initial_values")


@pytest.mark.parametrize("decouple_decay", [True, False])
def test_weight_decay_forms(decouple_decay):
    # A zero gradient: only the decay acts. Decoupled: x1 = 0.9 x0 + 0.1 z - lr wd x0 with z = x0.
    # L2: the gradient is wd x0, which goes through the dual average (step lr^(2/3) (wd x0)^(1/3) on z).
    lr, decay = 0.1, 0.5
    optimizer = MADGRAD(
        learning_rate=lr, weight_decay=decay, decouple_decay=decouple_decay, epsilon=0.0
    )
    start = np.array([8.0, -1.0], dtype="float32")
    variable = keras.Variable(start)
    optimizer.apply([ops.convert_to_tensor([0.0, 0.0])], [variable])
    if decouple_decay:
        expected = start * (1.0 - lr * decay)
    else:
        z = start - lr ** (2.0 / 3.0) * np.cbrt(decay * start)
        expected = 0.9 * start + 0.1 * z
    np.testing.assert_allclose(ops.convert_to_numpy(variable), expected, rtol=1e-6)


def test_exclude_from_weight_decay_applies_to_both_forms():
    initial, grads = _problem(seed=2)
    for decouple_decay in (True, False):
        optimizer = MADGRAD(learning_rate=0.05, weight_decay=0.3, decouple_decay=decouple_decay)
        optimizer.exclude_from_weight_decay(var_names=["bias"])
        actual = _run(optimizer, initial, grads, names=["w0", "bias", "w2", "w3"])
        for index, decay in enumerate([0.3, 0.0, 0.3, 0.3]):
            expected = reference.madgrad(
                initial[index],
                [g[index] for g in grads],
                [0.05] * STEPS,
                weight_decay=decay,
                decouple_decay=decouple_decay,
            )
            np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.torch_compile
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_fit_trains_a_small_model(jit_compile):
    # Keras builds the optimizer inside the compiled train step on TensorFlow: the x0 slot must be creatable there.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=MADGRAD(learning_rate=0.05), loss="mse", jit_compile=jit_compile)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before


def test_config_round_trip_keeps_every_argument():
    optimizer = MADGRAD(learning_rate=0.2, momentum=0.5, epsilon=0.0, decouple_decay=False)
    restored = MADGRAD.from_config(optimizer.get_config())
    assert (restored.momentum, restored.epsilon, restored.decouple_decay) == (0.5, 0.0, False)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"momentum": None}, TypeError, "momentum"),
        ({"epsilon": -1e-6}, ValueError, "epsilon"),
        ({"epsilon": float("nan")}, ValueError, "epsilon"),
        ({"decouple_decay": 1}, TypeError, "decouple_decay"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MADGRAD(**kwargs)
