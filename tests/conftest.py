"""Suite-wide pytest hooks and fixtures."""

import keras
import pytest


def pytest_collection_modifyitems(config, items):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip_tf_only = pytest.mark.skip(reason=f"needs the TensorFlow backend; running on {backend}")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip_tf_only)


@pytest.fixture(scope="session")
def digits_split():
    """``(x_train, y_train, x_val, y_val)``: scikit-learn's bundled digits (no download), scaled to [0, 1], split
    80/20 with a fixed seed. Each test slices what it needs."""
    from keras_optkit.demo import load_digits_split

    return load_digits_split(seed=0)

