"""Run as a script: the matrix's cells of one distributed context, each checked against one device; prints one
JSON line per cell ({"id", "outcome"} or {"id", "error"}).

A process of its own: TensorFlow's logical devices and JAX's host device count are fixed when they start.
``python -m tests.compat.run_distributed mirrored|data_parallel CELL_ID ...``"""

import json
import os
import sys

CONTEXT = sys.argv[1]
if CONTEXT == "mirrored":
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
else:
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import keras  # noqa: E402

from tests.compat.matrix import Cell  # noqa: E402
from tests.compat.test_matrix import check_cell  # noqa: E402


def main(ids: list[str]) -> None:
    if CONTEXT == "mirrored":
        import tensorflow as tf

        context = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope
    else:
        devices = keras.distribution.list_devices("cpu")
        if len(devices) != 2:
            raise RuntimeError(f"expected 2 host devices, found {devices}")
        context = keras.distribution.DataParallel(devices=devices).scope
    for text in ids:
        cell = Cell.from_id(text)
        try:
            outcome = check_cell(cell, context)
            print(json.dumps({"id": text, "outcome": outcome}), flush=True)
        except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
            print(json.dumps({"id": text, "error": f"{type(error).__name__}: {error}"[:1500]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[2:])
