"""NovoGrad: step-by-step against the NumPy reference, layer-wise normalization, the two weight decays, arguments."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import NovoGrad
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_classic as reference

CONFIGS = {
    "default": {},
    "grad_averaging": {"grad_averaging": True},
    "amsgrad": {"amsgrad": True, "beta_2": 0.5},
    "moment_weight_decay": {"moment_weight_decay": 0.1},
    "everything": {
        "grad_averaging": True,
        "amsgrad": True,
        "moment_weight_decay": 0.05,
        "beta_1": 0.95,
        "beta_2": 0.3,
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
    actual = run_apply(NovoGrad(learning_rate=learning_rate, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.novograd(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", [{}, {"moment_weight_decay": 0.1}], ids=["plain", "both_decays"])
def test_matches_reference_with_weight_decay(config):
    initial, grads = make_problem(seed=1)
    actual = run_apply(NovoGrad(learning_rate=0.1, weight_decay=0.2, **config), initial, grads)
    for index in range(len(SHAPES)):
        expected = reference.novograd(
            initial[index], [g[index] for g in grads], [0.1] * STEPS, weight_decay=0.2, **config
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_float16_variables_track_reference_loosely():
    initial, grads = make_problem(seed=2, dtype="float16")
    optimizer = NovoGrad(learning_rate=0.05, grad_averaging=True)
    actual = run_apply(optimizer, initial, grads, dtype="float16")
    assert all(m.dtype == "float16" for m in optimizer._momentums)
    assert all(v.dtype == "float32" for v in optimizer._second_moments)  # norms kept in float32
    for index in range(len(SHAPES)):
        expected = reference.novograd(
            initial[index], [g[index] for g in grads], [0.05] * STEPS, grad_averaging=True
        )
        np.testing.assert_allclose(actual[index], expected, rtol=2e-2, atol=2e-2)


def test_one_scalar_second_moment_per_variable():
    optimizer = NovoGrad()
    optimizer.build([keras.Variable(np.zeros(shape, dtype="float32")) for shape in SHAPES])
    assert [tuple(v.shape) for v in optimizer._second_moments] == [()] * len(SHAPES)
    assert [tuple(m.shape) for m in optimizer._momentums] == SHAPES


def test_steps_are_invariant_to_the_scale_of_each_layers_gradients():
    # Normalizing by the layer's own gradient norm: scaling one variable's gradients by 1000 and another's by
    # 1e-3 changes neither trajectory (up to epsilon).
    initial, grads = make_problem(seed=3)
    scales = [1e3, 1e-3, 1.0, 7.0]
    scaled = [[g * scale for g, scale in zip(step, scales, strict=True)] for step in grads]
    baseline = run_apply(NovoGrad(learning_rate=0.1, epsilon=1e-12), initial, grads)
    rescaled = run_apply(NovoGrad(learning_rate=0.1, epsilon=1e-12), initial, scaled)
    for index in range(len(SHAPES)):
        np.testing.assert_allclose(rescaled[index], baseline[index], rtol=1e-5, atol=1e-6)


def test_second_moment_starts_at_the_first_nonzero_gradient():
    # A variable with no gradient on step 1 (v stays 0) then gradient g takes a step of lr along g / ||g||,
    # not the step blown up by a tiny v = (1 - beta_2) ||g||^2 that starting from zero would give.
    optimizer = NovoGrad(learning_rate=0.1)
    variable = keras.Variable(np.zeros(2, dtype="float32"))
    optimizer.apply([ops.zeros((2,))], [variable])
    np.testing.assert_array_equal(ops.convert_to_numpy(variable), [0.0, 0.0])
    optimizer.apply([ops.convert_to_tensor([3.0, 4.0])], [variable])
    np.testing.assert_allclose(ops.convert_to_numpy(variable), [-0.06, -0.08], rtol=1e-6)


def test_moment_weight_decay_travels_through_the_momentum_but_base_weight_decay_does_not():
    lr, decay, beta_1 = 0.1, 0.5, 0.9
    in_moment = NovoGrad(learning_rate=lr, moment_weight_decay=decay, beta_1=beta_1)
    decoupled = NovoGrad(learning_rate=lr, weight_decay=decay, beta_1=beta_1)
    positions = {}
    for label, optimizer in (("in_moment", in_moment), ("decoupled", decoupled)):
        variable = keras.Variable(1.0)
        positions[label] = [1.0]
        for _ in range(2):
            # zero gradient: only the decay acts
            optimizer.apply([ops.convert_to_tensor(0.0)], [variable])
            positions[label].append(float(ops.convert_to_numpy(variable)))
    first = 1.0 - lr * decay
    np.testing.assert_allclose(
        positions["in_moment"][1:], [first, first - lr * (beta_1 * decay + decay * first)]
    )
    np.testing.assert_allclose(positions["decoupled"][1:], [first, first * (1.0 - lr * decay)])


def test_config_holds_every_argument():
    arguments = {
        "beta_1": 0.95,
        "beta_2": 0.98,
        "epsilon": 1e-8,
        "moment_weight_decay": 0.001,
        "grad_averaging": True,
        "amsgrad": True,
    }
    config = NovoGrad(learning_rate=0.01, **arguments).get_config()
    assert {key: config[key] for key in arguments} == arguments
    restored = NovoGrad.from_config(config)
    assert {key: getattr(restored, key) for key in arguments} == arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": True}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": -0.01}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"moment_weight_decay": -0.1}, ValueError, "moment_weight_decay"),
        ({"moment_weight_decay": "0.1"}, TypeError, "moment_weight_decay"),
        ({"grad_averaging": "true"}, TypeError, "grad_averaging"),
        ({"amsgrad": None}, TypeError, "amsgrad"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        NovoGrad(**kwargs)
