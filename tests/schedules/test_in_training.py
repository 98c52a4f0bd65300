"""Inside `model.fit` with `jit_compile=True`, the optimizer uses the schedule's value at every step (XLA on TensorFlow
and JAX; on PyTorch, where it means torch.compile, for one schedule only)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.schedules import list_schedules
from tests.reference.schedules import reference_value

START_STEP = 90  # across the warmup/phase boundaries at step 100 of most registry examples
STEPS = 24
BACKEND = keras.backend.backend()
# On PyTorch jit_compile=True is torch.compile: 8-18 s a model, and dynamo stops compiling Keras's train step after 8
# recompiles in a process (it silently runs it eagerly from then on). There one schedule, with a warmup boundary
# inside the steps, runs compiled; the others run eagerly.
TORCH_COMPILED = "WarmupCosineDecay"


class _RecordAppliedRate(keras.callbacks.Callback):
    """Zeroes the single weight before each batch; after it, the weight is -lr * grad = -lr (grad is exactly 1)."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.layers[0].kernel.assign(np.zeros((1, 1), "float32"))

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(-float(ops.convert_to_numpy(self.model.layers[0].kernel)[0, 0]))


def _sum_of_outputs(y_true, y_pred):
    # d(loss)/d(kernel) = x = 1 for a single sample, so plain SGD moves the kernel by exactly -lr.
    return ops.sum(y_pred)


@pytest.mark.parametrize("entry", list_schedules(), ids=lambda entry: entry.name)
def test_rate_used_at_each_step_matches_reference(entry):
    schedule = entry.build()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    jit_compile = BACKEND != "torch" or entry.name == TORCH_COMPILED
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule), loss=_sum_of_outputs, jit_compile=jit_compile
    )
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(START_STEP)
    recorder = _RecordAppliedRate()
    x = np.ones((STEPS, 1), "float32")
    model.fit(x, np.zeros((STEPS, 1), "float32"), batch_size=1, epochs=1, shuffle=False, verbose=0,
              callbacks=[recorder])
    expected = [reference_value(entry.name, dict(entry.example), START_STEP + k) for k in range(STEPS)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-6, atol=1e-30)
    assert int(model.optimizer.iterations) == START_STEP + STEPS


@pytest.mark.tf_only
@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="counts tf.function traces, which only TensorFlow has; the rates inside a compiled fit() are checked "
    "on every backend by test_rate_used_at_each_step_matches_reference",
)
@pytest.mark.parametrize("entry", list_schedules(), ids=lambda entry: entry.name)
def test_no_retracing_per_step_in_tf_function(entry):
    import tensorflow as tf

    schedule = entry.build()
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function(jit_compile=True)
    def rate_and_advance():
        rate = schedule(step)
        step.assign_add(1)
        return rate

    values = [float(rate_and_advance()) for _ in range(5)]
    assert rate_and_advance.experimental_get_tracing_count() == 1
    expected = [reference_value(entry.name, dict(entry.example), k) for k in range(5)]
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-30)
