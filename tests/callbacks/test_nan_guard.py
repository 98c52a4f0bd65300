"""NaNGuard: recovery from an injected NaN batch on digits, exact restore, backoff, stop after max_retries."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.callbacks import NaNGuard
from keras_optkit.schedules import WarmupCosineDecay
from tests._models import small_digits_model

BATCH = 32


class Batches(keras.utils.PyDataset):
    """Fixed batches of digits; the batches listed in ``bad`` have a NaN sample weight.

    The NaN goes into the loss itself (sample weights multiply the per-sample losses): a NaN in the features may
    never reach it, since TensorFlow's oneDNN kernels make ``relu(NaN)`` 0.
    """

    def __init__(self, x, y, bad=(), count=8):
        super().__init__()
        self.x, self.y, self.bad, self.count = x, y, set(bad), count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        x = self.x[index * BATCH:(index + 1) * BATCH]
        weights = np.ones(len(x), dtype="float32")
        if index in self.bad:
            weights[0] = np.nan
        return x, self.y[index * BATCH:(index + 1) * BATCH], weights


def _numpy(values):
    return [np.array(ops.convert_to_numpy(v)) for v in values]


class Recorder(keras.callbacks.Callback):
    """Records the model and optimizer state at every batch begin and end (placed before the guard, so the end
    records are taken before it acts)."""

    def __init__(self):
        super().__init__()
        self.begin, self.end, self.rates, self.losses = [], [], [], []

    def _state(self):
        model = self.model
        # Everything the guard restores; the learning rate is lowered instead, so it is recorded apart.
        optimizer_state = [v for v in model.optimizer.variables if v.name != "learning_rate"]
        return _numpy(model.variables) + _numpy(optimizer_state)

    def on_train_batch_begin(self, batch, logs=None):
        self.begin.append(self._state())
        self.rates.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_train_batch_end(self, batch, logs=None):
        self.end.append(self._state())
        self.losses.append(float(logs["loss"]))


def _model(learning_rate, jit_compile=False):
    model = small_digits_model(seed=0, hidden=16)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", jit_compile=jit_compile)
    return model


def _bad_calls(recorder):
    # Which call of on_train_batch_end saw the bad batch depends on how the backend's data pipeline orders a
    # PyDataset; the recorded losses say it.
    return [call for call, loss in enumerate(recorder.losses) if not math.isfinite(loss)]


@pytest.mark.torch_compile
@pytest.mark.parametrize("jit_compile", [False, True])
def test_recovers_from_a_nan_batch_with_the_last_good_state(digits_split, jit_compile):
    x, y, _, _ = digits_split
    model = _model(1e-3, jit_compile)
    recorder = Recorder()
    guard = NaNGuard(backoff=0.5, verbose=0)
    model.fit(Batches(x, y, bad={3}), epochs=1, verbose=0, callbacks=[recorder, guard])

    (bad,) = _bad_calls(recorder)
    assert 1 <= bad < len(recorder.end) - 1
    # The state at the next batch begin is the state after the last good batch, bit for bit.
    for index, (good, restored) in enumerate(zip(recorder.end[bad - 1], recorder.begin[bad + 1], strict=True)):
        np.testing.assert_array_equal(good, restored, err_msg=f"variable {index}")
    assert recorder.rates[bad] == pytest.approx(1e-3)
    assert recorder.rates[bad + 1] == pytest.approx(0.5e-3)
    # The epoch's running loss is finite again after the recovery: the metric state was restored too.
    assert all(math.isfinite(loss) for loss in recorder.losses[bad + 1:])
    assert guard.recoveries == 1 and not guard.stopped
    assert all(np.all(np.isfinite(w)) for w in _numpy(model.weights))


def test_callbacks_after_the_guard_see_the_restored_logs(digits_split):
    x, y, _, _ = digits_split
    model = _model(1e-3)
    before, after = Recorder(), Recorder()
    terminate = keras.callbacks.TerminateOnNaN()
    history = model.fit(Batches(x, y, bad={3}), epochs=2, verbose=0,
                        callbacks=[before, NaNGuard(verbose=0), terminate, after])
    assert len(_bad_calls(before)) == 2  # the bad batch, once per epoch
    # Everything after the guard saw finite values: TerminateOnNaN did not stop, both epochs ran in full.
    assert len(after.losses) == 16 and all(math.isfinite(loss) for loss in after.losses)
    assert not model.stop_training and len(history.history["loss"]) == 2
    # The rewritten batch loss is the epoch's running loss of the last good batch.
    for call in _bad_calls(before):
        assert after.losses[call] == pytest.approx(before.losses[call - 1], rel=1e-6)


def test_schedule_learning_rate_is_scaled(digits_split):
    x, y, _, _ = digits_split
    schedule = WarmupCosineDecay(1e-3, total_steps=32, warmup_steps=4)
    model = _model(schedule)
    recorder = Recorder()
    model.fit(Batches(x, y, bad={2, 5}), epochs=1, verbose=0, callbacks=[recorder, NaNGuard(0.5, verbose=0)])
    assert len(_bad_calls(recorder)) == 2
    # The iteration count is restored with the rest, so the step after a bad batch reuses its index.
    factor, step = 1.0, 0
    for call, loss in enumerate(recorder.losses):
        assert recorder.rates[call] == pytest.approx(factor * float(schedule(step)), rel=1e-6), call
        if math.isfinite(loss):
            step += 1
        else:
            factor *= 0.5


# jit_compile=True: on JAX the jitted step donates the buffers it is handed, so restoring the same snapshot
# three times checks that the snapshot is copied, not handed over.
@pytest.mark.parametrize("jit_compile", [False, True])
def test_stops_after_max_retries_bad_batches_in_a_row_on_the_initial_state(digits_split, jit_compile):
    x, y, _, _ = digits_split
    model = _model(1e-3, jit_compile)
    model.optimizer.build(model.trainable_variables)
    recorder = Recorder()
    recorder.set_model(model)
    initial = recorder._state()
    guard = NaNGuard(backoff=0.5, max_retries=2, verbose=0)
    with pytest.warns(RuntimeWarning, match="3 batches in a row"):
        model.fit(Batches(x, y, bad=set(range(8))), epochs=3, verbose=0, callbacks=[recorder, guard])
    assert guard.stopped and guard.recoveries == 2
    assert _bad_calls(recorder) == [0, 1, 2]
    # Bad from the first batch: the model is back on its state from before training...
    for before, held in zip(initial, recorder._state(), strict=True):
        np.testing.assert_array_equal(before, held)
    # ... and the two recoveries compounded their backoff.
    assert recorder.rates == pytest.approx([1e-3, 0.5e-3, 0.25e-3])
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.25e-3)


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [({"backoff": 1.0}, "backoff", ValueError), ({"backoff": 0.0}, "backoff", ValueError),
     ({"max_retries": -1}, "max_retries", ValueError), ({"max_retries": 1.5}, "max_retries", TypeError)],
)
def test_bad_arguments(kwargs, match, error):
    with pytest.raises(error, match=match):
        NaNGuard(**kwargs)


def test_config_round_trip():
    guard = NaNGuard(backoff=0.25, max_retries=5, verbose=0)
    assert NaNGuard.from_config(guard.get_config()).get_config() == guard.get_config()
