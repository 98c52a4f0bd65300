"""Run as a script (TensorFlow): each optimizer named on the command line trains the same model on the same
batches under a MirroredStrategy over 2 logical CPUs and on one device; prints one JSON line per optimizer with
the largest relative difference of the final weights and of the replicas' copies of each optimizer variable.

A separate process: logical devices can only be configured before TensorFlow initializes."""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_optkit import get_entry  # noqa: E402

STEPS, BATCH = 6, 16


def build(name):
    if name.startswith("keras."):
        return getattr(keras.optimizers, name[len("keras."):])(learning_rate=0.01)
    if "(" in name:  # Wrapper(inner)
        wrapper, inner = name[:-1].split("(", 1)
        return get_entry("optimizer", wrapper).build(optimizer=build(inner))
    return get_entry("optimizer", name).build()


def train(name, strategy):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 5)).astype("float32")
    y = rng.normal(size=(STEPS * BATCH, 2)).astype("float32")
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
        model.compile(build(name), "mse")
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    spread = 0.0
    for variable in model.optimizer.variables:
        values = getattr(variable.value, "values", None)
        if values and len(values) > 1:
            copies = [np.asarray(v) for v in values]
            scale = max(float(np.max(np.abs(copies[0]))), 1e-12)
            spread = max(spread, max(float(np.max(np.abs(c - copies[0]))) / scale for c in copies[1:]))
    return [np.asarray(w) for w in model.get_weights()], spread


def main(names):
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.OneDeviceStrategy("/cpu:0")
    for name in names:
        try:
            distributed, spread = train(name, mirrored)
            reference, _ = train(name, single)
            difference = max(
                float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-12)
                for a, b in zip(distributed, reference, strict=True)
            )
            print(json.dumps({"name": name, "difference": difference, "spread": spread}), flush=True)
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            print(json.dumps({"name": name, "error": f"{type(error).__name__}: {error}"[:500]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
