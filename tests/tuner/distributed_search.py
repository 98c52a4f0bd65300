"""One process of a distributed search, started by test_distributed.py (not collected by pytest).

Usage: python -m tests.tuner.distributed_search OUTPUT_JSON DIRECTORY
The role comes from keras-tuner's KERASTUNER_* environment variables (no variable set: a single-process search).
"""

import json
import os
import sys

import keras

from keras_optkit.demo import load_digits_split
from keras_optkit.tuner import SearchSpace, tune

TRIALS = 4
fits = 0


class CountFits(keras.callbacks.Callback):
    """Counts the trainings of this process (keras-tuner deep-copies callbacks; the module global is shared)."""

    def on_train_begin(self, logs=None):
        global fits
        fits += 1


def build():
    return keras.Sequential(
        [keras.Input(shape=(64,)), keras.layers.Dense(16, activation="relu"),
         keras.layers.Dense(10, activation="softmax")]
    )


def main(output: str, directory: str) -> None:
    x, y, x_val, y_val = load_digits_split(seed=0)
    result = tune(
        build, x[:480], y[:480], validation_data=(x_val[:200], y_val[:200]), tuner="random",
        max_trials=TRIALS, epochs=2, loss="sparse_categorical_crossentropy", narrow_lr_with_finder=False,
        search_space=SearchSpace(l2=None), directory=directory, project_name="shared", seed=7,
        callbacks=[CountFits()],
    )
    record = {"role": os.environ.get("KERASTUNER_TUNER_ID", "single"), "fits": fits}
    if record["role"] in ("chief", "single"):
        record["trials"] = [
            {"values": {k: v for k, v in row.items() if k not in ("trial_id", "status", "score")},
             "score": row["score"], "status": row["status"]}
            for row in result.table()
        ]
    with open(output, "w") as handle:
        json.dump(record, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
