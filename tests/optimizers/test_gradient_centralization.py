"""GradientCentralization: the transformed gradients, step-by-step against the NumPy reference, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import GradientCentralization
from keras_optkit.optimizers.gradient_centralization import centralize_gradient
from tests.optimizers._harness import is_exactly
from tests.optimizers.test_lookahead import STEPS, column, exponential_decay, problem, run
from tests.reference import optimizer_wrappers as reference

LAYER_SHAPES = {
    "dense_kernel": (6, 4),
    "conv1d_kernel": (3, 5, 4),
    "conv2d_kernel": (3, 3, 2, 4),
    "bias": (4,),
    "scalar": (),
}


@pytest.mark.parametrize("shape", LAYER_SHAPES.values(), ids=LAYER_SHAPES.keys())
def test_gradients_are_centralized_as_the_reference(shape):
    gradient = np.random.default_rng(0).normal(loc=0.5, size=shape).astype("float32")
    expected = reference.centralize(gradient)
    actual = ops.convert_to_numpy(centralize_gradient(ops.convert_to_tensor(gradient)))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    # Through the wrapper: one SGD step with learning rate 1 from zero moves the weights by minus the gradient used.
    weight = keras.Variable(np.zeros(shape, "float32"))
    GradientCentralization(keras.optimizers.SGD(learning_rate=1.0)).apply(
        [ops.convert_to_tensor(gradient)], [weight]
    )
    np.testing.assert_allclose(ops.convert_to_numpy(weight), -expected, rtol=1e-5, atol=1e-6)
    if len(shape) >= 2:
        # Each output unit's gradient sums to zero over the unit's inputs; the raw one did not.
        axes = tuple(range(len(shape) - 1))
        np.testing.assert_allclose(np.sum(ops.convert_to_numpy(weight), axis=axes), 0.0, atol=1e-5)
        assert np.all(np.abs(np.sum(gradient, axis=axes)) > 1e-2)


def test_rank_one_and_scalar_gradients_pass_unchanged_bit_for_bit():
    initial, grads = problem(seed=1, shapes=[(), (7,)])
    wrapped = run(GradientCentralization(keras.optimizers.Adam(0.05)), initial, grads)
    bare = run(keras.optimizers.Adam(0.05), initial, grads)
    for index in range(2):
        np.testing.assert_array_equal(wrapped[index], bare[index])


@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference_step_by_step(schedule):
    initial, grads = problem(seed=2)
    learning_rate, lrs = exponential_decay(0.05) if schedule else (0.05, [0.05] * STEPS)
    actual = run(GradientCentralization(keras.optimizers.Adam(learning_rate)), initial, grads)
    for index, theta in enumerate(initial):
        expected = reference.keras_adam(
            theta, column(grads, index), lrs, transform=lambda g, _: reference.centralize(g)
        )
        # atol 5e-6: float32 rounding of the unit means (~1e-7 of the raw gradient) is a large relative error in
        # the rare near-zero centralized entries, and Adam divides each entry by its own running RMS.
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=5e-6)


def test_weight_decay_on_the_wrapper_matches_reference():
    initial, grads = problem(seed=3)
    optimizer = GradientCentralization(keras.optimizers.SGD(0.05, momentum=0.9), weight_decay=0.2)
    actual = run(optimizer, initial, grads)
    for index, theta in enumerate(initial):
        expected = reference.keras_sgd(
            theta,
            column(grads, index),
            [0.05] * STEPS,
            momentum=0.9,
            weight_decay=0.2,
            transform=lambda g, _: reference.centralize(g),
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_float16_variables_track_reference_loosely():
    initial, grads = problem(seed=4, dtype="float16")
    actual = run(
        GradientCentralization(keras.optimizers.SGD(0.05, momentum=0.9)),
        initial,
        grads,
        dtype="float16",
    )
    for index, theta in enumerate(initial):
        expected = reference.keras_sgd(
            theta,
            column(grads, index),
            [0.05] * STEPS,
            momentum=0.9,
            transform=lambda g, _: reference.centralize(g),
        )
        np.testing.assert_allclose(actual[index], expected, rtol=2e-2, atol=2e-2)


@pytest.mark.tf_only
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.IndexedSlices gradients exist only on TensorFlow; JAX and PyTorch give an Embedding a dense "
    "gradient, centralized as any other (test_gradients_are_centralized_as_the_reference)",
)
def test_sparse_embedding_gradient_is_centralized_densely():
    import tensorflow as tf

    rng = np.random.default_rng(5)
    rows = rng.normal(size=(2, 3)).astype("float32")
    sparse = tf.IndexedSlices(
        tf.constant(rows), tf.constant([1, 3]), dense_shape=tf.constant([5, 3])
    )
    dense = np.zeros((5, 3), "float32")
    dense[[1, 3]] = rows
    weight = keras.Variable(np.zeros((5, 3), "float32"))
    GradientCentralization(keras.optimizers.SGD(learning_rate=1.0)).apply([sparse], [weight])
    np.testing.assert_allclose(
        ops.convert_to_numpy(weight), -reference.centralize(dense), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"optimizer": 1.5}, TypeError, "optimizer"),
        ({"optimizer": ["adam"]}, TypeError, "optimizer"),
        ({"optimizer": "no_such_optimizer"}, ValueError, "optimizer"),
        (
            {"optimizer": keras.optimizers.Adam(loss_scale_factor=4.0), "loss_scale_factor": 8.0},
            ValueError,
            "loss_scale_factor",
        ),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradientCentralization(**kwargs)


def test_config_round_trip_keeps_the_inner_optimizer():
    optimizer = GradientCentralization(
        keras.optimizers.SGD(learning_rate=0.3, momentum=0.5), clipnorm=2.0
    )
    restored = GradientCentralization.from_config(optimizer.get_config())
    assert is_exactly(restored.inner_optimizer, keras.optimizers.SGD)
    assert restored.inner_optimizer.momentum == 0.5
    assert float(ops.convert_to_numpy(restored.learning_rate)) == pytest.approx(0.3)
    assert restored.clipnorm == 2.0
