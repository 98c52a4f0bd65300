"""Fixtures shared by the optimizer tests: a small slice of scikit-learn's bundled digits, the float16 policy."""

import keras
import numpy as np
import pytest

DIGITS_SAMPLES = 384


@pytest.fixture(scope="session")
def digits():
    """``(x, y)``: the first ``DIGITS_SAMPLES`` 8x8 digits, flattened and scaled to [0, 1]; no download needed."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data[:DIGITS_SAMPLES] / 16.0).astype(np.float32)
    y = data.target[:DIGITS_SAMPLES].astype(np.int32)
    # Every class must be present, or a "loss goes down" check could pass by learning the class prior alone.
    assert set(y.tolist()) == set(range(10))
    return x, y


@pytest.fixture
def mixed_float16():
    """Sets the ``mixed_float16`` global policy for one test and restores ``float32`` afterwards."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")
