"""AdaptiveGradientClipping: unit-wise clipping against the NumPy reference, step by step, and argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import AdaptiveGradientClipping
from keras_optkit.optimizers.adaptive_gradient_clipping import clip_gradient_unitwise
from tests.optimizers._harness import is_exactly
from tests.optimizers.test_lookahead import STEPS, column, exponential_decay, problem, run
from tests.reference import optimizer_wrappers as reference

LAYER_SHAPES = {
    "dense_kernel": (6, 5),
    "conv1d_kernel": (3, 4, 5),
    "conv2d_kernel": (3, 3, 2, 5),
    "bias": (5,),
    "scalar": (),
}


def _weights_and_gradients(shape, seed):
    """Weights and gradients whose units cover every case: clipped, not clipped, zero weights, zero gradient."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=shape).astype("float32")
    gradient = rng.normal(size=shape).astype("float32")
    if len(shape) >= 2:
        # Unit scales: far above the bound, far below it, zero weights (the eps floor), zero gradient.
        gradient = gradient * np.array([10.0, 1e-4, 1.0, 0.0, 0.05], "float32")
        weight[..., 2] = 0.0
    return weight, gradient


@pytest.mark.parametrize("shape", LAYER_SHAPES.values(), ids=LAYER_SHAPES.keys())
@pytest.mark.parametrize("clip_factor", [0.01, 0.1])
def test_gradients_are_clipped_as_the_reference(shape, clip_factor):
    weight, gradient = _weights_and_gradients(shape, seed=len(shape))
    expected = reference.clip_unitwise(gradient, weight, clip_factor=clip_factor, eps=1e-3)
    actual = clip_gradient_unitwise(
        ops.convert_to_tensor(gradient), keras.Variable(weight), clip_factor=clip_factor, eps=1e-3
    )
    np.testing.assert_allclose(ops.convert_to_numpy(actual), expected, rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(ops.convert_to_numpy(actual)))
    # Through the wrapper: an SGD step with learning rate 1 moves the weights by minus the clipped gradient.
    variable = keras.Variable(weight)
    optimizer = AdaptiveGradientClipping(
        keras.optimizers.SGD(learning_rate=1.0), clip_factor=clip_factor
    )
    optimizer.apply([ops.convert_to_tensor(gradient)], [variable])
    np.testing.assert_allclose(
        ops.convert_to_numpy(variable), weight - expected, rtol=1e-5, atol=1e-6
    )


def test_clipping_is_per_output_unit():
    weight = np.ones((4, 3), "float32")  # every unit has weight norm 2
    gradient = np.zeros((4, 3), "float32")
    gradient[:, 0] = 1.0  # norm 2: clipped to 0.5 * 2 = 1 ...
    gradient[:, 1] = 0.1  # ... norm 0.2: left alone
    actual = ops.convert_to_numpy(
        clip_gradient_unitwise(
            ops.convert_to_tensor(gradient), keras.Variable(weight), clip_factor=0.5, eps=1e-3
        )
    )
    np.testing.assert_allclose(actual[:, 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(actual[:, 1], 0.1, rtol=1e-6)
    np.testing.assert_array_equal(actual[:, 2], 0.0)


@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference_step_by_step(schedule):
    initial, grads = problem(seed=2)
    learning_rate, lrs = exponential_decay(0.1) if schedule else (0.1, [0.1] * STEPS)
    optimizer = AdaptiveGradientClipping(
        keras.optimizers.SGD(learning_rate, momentum=0.9), clip_factor=0.2
    )
    actual = run(optimizer, initial, grads)
    for index, theta in enumerate(initial):
        expected = reference.keras_sgd(
            theta,
            column(grads, index),
            lrs,
            momentum=0.9,
            transform=lambda g, w: reference.clip_unitwise(g, w, clip_factor=0.2, eps=1e-3),
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_weight_decay_on_the_wrapper_matches_reference():
    initial, grads = problem(seed=3)
    optimizer = AdaptiveGradientClipping(
        keras.optimizers.Adam(0.02), clip_factor=0.05, weight_decay=0.5
    )
    actual = run(optimizer, initial, grads)
    for index, theta in enumerate(initial):
        expected = reference.keras_adam(
            theta,
            column(grads, index),
            [0.02] * STEPS,
            weight_decay=0.5,
            transform=lambda g, w: reference.clip_unitwise(g, w, clip_factor=0.05, eps=1e-3),
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_float16_variables_track_reference_loosely():
    initial, grads = problem(seed=4, dtype="float16")
    optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(0.1, momentum=0.9), clip_factor=0.2)
    actual = run(optimizer, initial, grads, dtype="float16")
    for index, theta in enumerate(initial):
        expected = reference.keras_sgd(
            theta,
            column(grads, index),
            [0.1] * STEPS,
            momentum=0.9,
            transform=lambda g, w: reference.clip_unitwise(g, w, clip_factor=0.2, eps=1e-3),
        )
        np.testing.assert_allclose(actual[index], expected, rtol=2e-2, atol=2e-2)


def test_float16_norms_do_not_overflow():
    # Squares of 300 summed over 4096 inputs reach 3.7e8, far beyond float16's 65504.
    weight = keras.Variable(np.full((4096, 2), 300.0, "float16"))
    gradient = ops.convert_to_tensor(np.full((4096, 2), 300.0, "float16"))
    clipped = ops.convert_to_numpy(
        clip_gradient_unitwise(gradient, weight, clip_factor=0.5, eps=1e-3)
    )
    np.testing.assert_allclose(clipped.astype(np.float64), 150.0, rtol=1e-3)


def test_unclipped_gradients_pass_unchanged_bit_for_bit():
    initial, grads = problem(seed=5)
    wrapped = run(
        AdaptiveGradientClipping(keras.optimizers.Adam(0.05), clip_factor=1e6), initial, grads
    )
    bare = run(keras.optimizers.Adam(0.05), initial, grads)
    for index in range(len(initial)):
        np.testing.assert_array_equal(wrapped[index], bare[index])


def test_wrapper_clipnorm_applies_before_unit_wise_clipping():
    initial, grads = problem(seed=6, steps=3)
    grads = [[10.0 * g for g in step] for step in grads]
    optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(0.1), clip_factor=1.0, clipnorm=1.0)
    actual = run(optimizer, initial, grads)

    def clip_then_agc(g, w):
        return reference.clip_unitwise(reference.clip_by_norm(g, 1.0), w, clip_factor=1.0, eps=1e-3)

    for index, theta in enumerate(initial):
        expected = reference.keras_sgd(
            theta, column(grads, index), [0.1] * 3, transform=clip_then_agc
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)
        # The test can see the order: unit-wise clipping alone gives another trajectory.
        agc_only = reference.keras_sgd(
            theta,
            column(grads, index),
            [0.1] * 3,
            transform=lambda g, w: reference.clip_unitwise(g, w, 1.0, 1e-3),
        )
        assert not np.allclose(expected[-1], agc_only[-1], atol=1e-4)


def test_loss_scaled_gradients_are_unscaled_before_clipping():
    initial, grads = problem(seed=7, steps=4)
    scaled = run(
        AdaptiveGradientClipping(
            keras.optimizers.SGD(0.1), clip_factor=0.1, loss_scale_factor=1024.0
        ),
        initial,
        [[1024.0 * g for g in step] for step in grads],
    )
    plain = run(
        AdaptiveGradientClipping(keras.optimizers.SGD(0.1), clip_factor=0.1), initial, grads
    )
    for index in range(len(initial)):
        np.testing.assert_allclose(scaled[index], plain[index], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"clip_factor": 0.0}, ValueError, "clip_factor"),
        ({"clip_factor": -0.01}, ValueError, "clip_factor"),
        ({"clip_factor": float("nan")}, ValueError, "clip_factor"),
        ({"clip_factor": "0.01"}, TypeError, "clip_factor"),
        ({"eps": 0.0}, ValueError, "eps"),
        ({"eps": -1e-3}, ValueError, "eps"),
        ({"eps": None}, TypeError, "eps"),
        ({"optimizer": 7}, TypeError, "optimizer"),
        ({"optimizer": "no_such_optimizer"}, ValueError, "optimizer"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    kwargs = {"optimizer": "sgd", **kwargs}
    with pytest.raises(error, match=match):
        AdaptiveGradientClipping(**kwargs)


def test_config_holds_clip_factor_and_eps():
    optimizer = AdaptiveGradientClipping("adam", clip_factor=0.04, eps=1e-2)
    restored = AdaptiveGradientClipping.from_config(optimizer.get_config())
    assert (restored.clip_factor, restored.eps) == (0.04, 1e-2)
    assert is_exactly(restored.inner_optimizer, keras.optimizers.Adam)
