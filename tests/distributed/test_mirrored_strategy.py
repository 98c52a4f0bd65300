"""Every optimizer under tf.distribute.MirroredStrategy (2 logical CPUs) trains to the weights of one device, and
keeps one value per optimizer variable across the replicas."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_optkit import list_entries

SCRIPT = Path(__file__).with_name("mirrored_check.py")
KERAS_OPTIMIZERS = ["keras.Adam", "keras.AdamW", "keras.SGD", "keras.Lamb", "keras.Lion", "keras.Adafactor"]


def _names():
    names = list(KERAS_OPTIMIZERS)
    for entry in list_entries("optimizer"):
        if entry.flags.get("wrapper") and "optimizer" in entry.example:
            names.append(f"{entry.name}(keras.Adam)")
        else:
            names.append(entry.name)
    # a wrapper of a wrapper: the batch gradient must reach the inner transform too
    names.append("Lookahead(AdaptiveGradientClipping(keras.SGD))")
    return names


@pytest.fixture(scope="module")
def results():
    environment = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *_names()], capture_output=True, text=True, timeout=900, env=environment,
        cwd=Path(__file__).parents[2],
    )
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the script printed no result:\n{completed.stderr[-3000:]}"
    return {line["name"]: line for line in lines}


@pytest.mark.tf_only
@pytest.mark.slow
@pytest.mark.parametrize("name", _names())
def test_mirrored_training_equals_one_device(results, name):
    result = results[name]
    assert "error" not in result, result.get("error")
    # Summation order differs between 2 replicas and 1 device: a few float32 roundings over 6 steps.
    assert result["difference"] < 3e-6, f"{name}: final weights differ from one device by {result['difference']:.3g}"
    assert result["spread"] < 1e-6, f"{name}: the replicas' copies of an optimizer variable differ"
