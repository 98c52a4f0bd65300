"""apply_regularization on a model that already carries tunable regularizers replaces them cleanly."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.regularizers import L2, GroupLasso, apply_regularization


def _group_lasso(kernel, strength):
    """strength * sum over output units of sqrt(fan-in) * the norm of the unit's incoming weights."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return strength * np.sqrt(kernel.shape[0]) * np.linalg.norm(kernel, axis=0).sum()


def test_group_lasso_replaces_an_l2_that_apply_regularization_added():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                              keras.layers.Dense(3, name="head")])
    with_l2 = apply_regularization(model, kernel_regularizer=L2(1e-2))
    sparse = apply_regularization(with_l2, kernel_regularizer=GroupLasso(1e-3), layers="hidden")

    hidden, head = sparse.layers
    assert isinstance(hidden.kernel_regularizer, GroupLasso)
    assert isinstance(head.kernel_regularizer, L2)  # the layer not chosen keeps its regularizer
    # kernel and bias of both layers, one GroupLasso strength, the head's L2 strength: no stale L2 strength left.
    assert len(sparse.weights) == 6
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(sparse(x)), ops.convert_to_numpy(model(x)))
    penalties = sorted(float(ops.convert_to_numpy(loss)) for loss in sparse.losses)
    kernels = [ops.convert_to_numpy(layer.kernel) for layer in model.layers]
    expected = sorted([_group_lasso(kernels[0], 1e-3), 1e-2 * float(np.sum(np.square(kernels[1], dtype=np.float64)))])
    assert penalties == pytest.approx(expected, rel=1e-5)
