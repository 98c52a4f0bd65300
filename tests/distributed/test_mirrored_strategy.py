"""Nested wrappers under tf.distribute.MirroredStrategy (2 logical CPUs) train to the weights of one device, and keep
one value per optimizer variable across the replicas."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("mirrored_check.py")
# Every optimizer and wrapper of this package, and Keras's, is checked under MirroredStrategy by the compatibility
# matrix (tests/compat: each against one device, and the replicas' copies of every optimizer variable). What the
# matrix cannot hold is a wrapper of a wrapper: the summed batch gradient must reach the inner transform too.
NAMES = ["Lookahead(AdaptiveGradientClipping(keras.SGD))", "GradientCentralization(Lookahead(keras.Adam))"]


def _names():
    return list(NAMES)


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
