"""Suite-wide pytest hooks."""

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
