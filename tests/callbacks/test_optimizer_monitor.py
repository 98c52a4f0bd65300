"""OptimizerMonitor: gradient norm and update ratio against values recovered independently from the weights."""

import csv

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.callbacks import OptimizerMonitor
from keras_optkit.schedules import LinearSchedule

RNG = np.random.default_rng(0)
X = RNG.normal(size=(48, 5)).astype("float32")
Y = RNG.normal(size=(48, 2)).astype("float32")


def _weights(model):
    return [np.array(ops.convert_to_numpy(v), dtype=np.float64) for v in model.trainable_variables]


class Record(keras.callbacks.Callback):
    """Weights at every batch begin and end, and the batch logs as the monitor left them (placed after it)."""

    def __init__(self):
        super().__init__()
        self.begin, self.end, self.logs = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.begin.append(_weights(self.model))

    def on_train_batch_end(self, batch, logs=None):
        self.end.append(_weights(self.model))
        self.logs.append(dict(logs))


def _model(optimizer, jit_compile=False):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
    model.compile(optimizer, "mse", jit_compile=jit_compile)
    return model


@pytest.mark.torch_compile
@pytest.mark.parametrize("jit_compile", [False, True])
def test_grad_norm_and_update_ratio_match_the_weight_changes(jit_compile):
    rate = LinearSchedule(0.05, 0.01, total_steps=10)
    model = _model(keras.optimizers.SGD(rate), jit_compile)
    record = Record()
    history = model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                        callbacks=[OptimizerMonitor(log_every=4), record])
    measured = [step for step, logs in enumerate(record.logs) if "grad_norm" in logs]
    assert measured == [0, 4, 8]
    for step, logs in enumerate(record.logs):
        if step not in measured:
            assert not {"grad_norm", "update_ratio", "learning_rate"} & set(logs)
            continue
        lr = float(rate(step))
        before, after = record.begin[step], record.end[step]
        # Plain SGD: w_after = w_before - lr * g, so g is recovered from the weights alone.
        gradient_norm = np.sqrt(sum((((b - a) / lr) ** 2).sum() for b, a in zip(before, after, strict=True)))
        update_norm = np.sqrt(sum(((a - b) ** 2).sum() for b, a in zip(before, after, strict=True)))
        weight_norm = np.sqrt(sum((b**2).sum() for b in before))
        assert logs["learning_rate"] == pytest.approx(lr, rel=1e-6)
        assert logs["grad_norm"] == pytest.approx(gradient_norm, rel=1e-4)
        assert logs["update_ratio"] == pytest.approx(update_norm / weight_norm, rel=1e-4)
    # Epoch logs: the last values measured in that epoch (steps 4 and 8; 6 steps per epoch).
    assert history.history["grad_norm"] == pytest.approx([record.logs[4]["grad_norm"], record.logs[8]["grad_norm"]])
    assert "weight_decay" not in history.history


def test_values_reach_csv_logger_and_the_optimizer_is_left_untouched(tmp_path):
    optimizer = keras.optimizers.AdamW(1e-3, weight_decay=0.01)
    model = _model(optimizer)
    path = tmp_path / "log.csv"
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0,
              callbacks=[OptimizerMonitor(log_every=1), keras.callbacks.CSVLogger(str(path))])
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for row in rows:
        assert float(row["weight_decay"]) == pytest.approx(0.01)
        assert float(row["learning_rate"]) == pytest.approx(1e-3)
        assert float(row["grad_norm"]) > 0 and float(row["update_ratio"]) > 0
    assert "apply" not in vars(optimizer)  # the shadowed apply is gone after fit


def test_loss_scale_optimizer_reports_unscaled_gradients():
    results = {}
    for wrapped in (False, True):
        optimizer = keras.optimizers.SGD(0.05)
        if wrapped:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=1024.0, dynamic_growth_steps=100)
        model = _model(optimizer)
        record = Record()
        model.fit(X, Y, batch_size=48, epochs=1, shuffle=False, verbose=0,
                  callbacks=[OptimizerMonitor(log_every=1), record])
        results[wrapped] = record.logs[0]["grad_norm"]
    assert results[True] == pytest.approx(results[False], rel=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="log_every"):
        OptimizerMonitor(log_every=0)
    with pytest.raises(TypeError, match="log_every"):
        OptimizerMonitor(log_every=2.5)
    assert OptimizerMonitor.from_config(OptimizerMonitor(7).get_config()).log_every == 7


@pytest.mark.parametrize("monitor_first", [False, True])
def test_with_a_hyperparameter_scheduler_nothing_is_left_on_the_optimizer(monitor_first):
    from keras_optkit.callbacks import HyperparameterScheduler

    optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
    model = _model(optimizer)
    callbacks = [HyperparameterScheduler("momentum", LinearSchedule(0.9, 0.5, total_steps=6)),
                 OptimizerMonitor(log_every=2)]
    if monitor_first:
        callbacks.reverse()
    history = model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    assert "grad_norm" in history.history
    assert "apply" not in vars(optimizer)
    assert optimizer.momentum == pytest.approx(0.9 - 0.4 * 5 / 6)  # the last step's value


def test_with_gradient_accumulation_every_batch_is_measured():
    """Every batch hands its own gradient to the optimizer; the weights move only every second batch."""
    model = _model(keras.optimizers.SGD(0.05, gradient_accumulation_steps=2))
    record = Record()
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[OptimizerMonitor(log_every=1), record])
    assert len(record.logs) == 6
    for step, logs in enumerate(record.logs):
        assert np.isfinite(logs["grad_norm"]) and logs["grad_norm"] > 0, (step, logs)
        moved = any(not np.array_equal(b, a) for b, a in zip(record.begin[step], record.end[step], strict=True))
        assert moved == (step % 2 == 1), step
        assert (logs["update_ratio"] > 0) == moved


def test_a_multi_optimizer_logs_each_sub_optimizer_rate():
    sgd, adam = keras.optimizers.SGD(0.05), keras.optimizers.Adam(0.002)
    multi = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(sgd, {".*head.*": adam}))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="tanh", name="body"),
                              keras.layers.Dense(2, name="head")])
    model.compile(multi, "mse")
    record = Record()
    model.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0,
              callbacks=[OptimizerMonitor(log_every=1), record])
    rates = {key: value for key, value in record.logs[0].items() if key.startswith("learning_rate")}
    assert sorted(rates) == ["learning_rate_0", "learning_rate_1"]
    assert sorted(rates.values()) == pytest.approx([0.002, 0.05])
    assert np.isfinite(record.logs[0]["grad_norm"])
    assert sgd.built and adam.built  # each sub-optimizer got variables to step
