"""ReduceLROnPlateau: Keras's decisions on float rates, and the same rules on schedules."""

import math
import warnings

import keras
import numpy as np
import pytest

from keras_optkit.callbacks import ReduceLROnPlateau
from keras_optkit.callbacks._control import learning_rate_source
from keras_optkit.optimizers import Lookahead
from keras_optkit.schedules import ScaledSchedule, WarmupCosineDecay
from tests._models import small_digits_model

PEAK, TOTAL, WARMUP = 0.1, 40, 8
_rng = np.random.default_rng(0)
X = _rng.normal(size=(8, 3)).astype("float32")
Y = _rng.normal(size=(8, 1)).astype("float32")


def linear_model(learning_rate, jit_compile="auto", metrics=None):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse", metrics=metrics,
                  jit_compile=jit_compile)
    return model


def warmup_cosine(step, peak, total, warmup):
    """WarmupCosineDecay from its formula (initial and final rates 0)."""
    if step < warmup:
        return peak * step / warmup
    progress = min(step - warmup, total - warmup) / (total - warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * progress))


def drive(callback, model, monitor, values):
    """The learning rate after each epoch end fed with ``values``, and the logged learning rates."""
    callback.set_model(model)
    callback.on_train_begin()
    rates, logged = [], []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return rates, logged


PLATEAU = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.79]
SEQUENCES = {
    "patience": ("val_loss", PLATEAU, {"patience": 2, "factor": 0.5}),
    "patience_zero": ("val_loss", PLATEAU, {"patience": 0, "factor": 0.5}),
    "cooldown": ("val_loss", PLATEAU + PLATEAU[1:], {"patience": 1, "cooldown": 2, "factor": 0.5}),
    "min_delta": ("val_loss", [1.0, 0.97, 0.94, 0.91, 0.85, 0.84, 0.839, 0.7, 0.69], {"patience": 1, "min_delta": 0.05}),
    # 1 - 1e-4 - 1e-9 improves on 1.0 by more than min_delta in float64, not in float32 (Keras's arithmetic).
    "float32_rounding": ("val_loss", [1.0, 1.0 - 1e-4 - 1e-9, 1.0, 1.0], {"patience": 1, "factor": 0.5}),
    "max": ("val_accuracy", [0.5, 0.505, 0.52, 0.52, 0.53, 0.531, 0.531, 0.6, 0.6, 0.6],
            {"patience": 1, "mode": "max", "min_delta": 0.01, "factor": 0.2}),
    "auto_accuracy": ("val_accuracy", [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7], {"patience": 1, "factor": 0.5}),
    "auto_loss": ("loss", [3.0, 2.0, 2.5, 2.5, 2.5, 1.0], {"patience": 2, "factor": 0.5}),
    "min_on_accuracy": ("val_accuracy", [0.5, 0.6, 0.7, 0.4, 0.4], {"patience": 1, "mode": "min", "factor": 0.5}),
    "min_lr": ("val_loss", [1.0] * 8, {"patience": 1, "factor": 0.5, "min_lr": 0.0012}),
    "min_lr_exact": ("val_loss", [1.0] * 8, {"patience": 1, "factor": 0.5, "min_lr": 0.0025}),
}


@pytest.mark.parametrize("case", sorted(SEQUENCES))
def test_same_learning_rates_as_keras_with_a_float_rate(case):
    monitor, values, kwargs = SEQUENCES[case]
    models = []
    for _ in range(2):
        model = linear_model(0.01, metrics=["accuracy"])
        model.evaluate(X, Y, verbose=0)  # builds the compiled metrics, which mode="auto" looks up
        models.append(model)
    ours = drive(ReduceLROnPlateau(monitor, **kwargs), models[0], monitor, values)
    theirs = drive(keras.callbacks.ReduceLROnPlateau(monitor, **kwargs), models[1], monitor, values)
    assert ours == theirs
    assert len(set(ours[0])) > 1, "the sequence must trigger at least one reduction"


@pytest.mark.parametrize("wrapper", ["loss_scale", "lookahead"])
@pytest.mark.parametrize("schedule", [False, True])
def test_wrapped_optimizer(wrapper, schedule):
    rate = WarmupCosineDecay(PEAK, TOTAL, warmup_steps=WARMUP) if schedule else 0.01
    inner = keras.optimizers.SGD(rate)
    optimizer = keras.optimizers.LossScaleOptimizer(inner) if wrapper == "loss_scale" else Lookahead(inner)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, batch_size=8, epochs=3, verbose=0)
    before = float(inner.learning_rate)
    drive(ReduceLROnPlateau(patience=1, factor=0.5), model, "val_loss", [1.0, 1.0])
    assert float(inner.learning_rate) == pytest.approx(0.5 * before, rel=1e-6)
    assert isinstance(learning_rate_source(inner), ScaledSchedule if schedule else keras.Variable)


def test_unknown_direction_and_missing_metric():
    model = linear_model(0.01)
    callback = ReduceLROnPlateau(monitor="val_foo")
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        callback.on_epoch_end(0, {"val_foo": 1.0})
    callback = ReduceLROnPlateau(monitor="val_loss")
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        callback.on_epoch_end(0, {"loss": 1.0})


@pytest.mark.torch_compile
@pytest.mark.parametrize("jit_compile", [False, True])
def test_schedule_is_scaled_inside_the_compiled_step(jit_compile):
    model = linear_model(WarmupCosineDecay(PEAK, TOTAL, warmup_steps=WARMUP), jit_compile)
    model.fit(X, Y, batch_size=8, epochs=6, shuffle=False, verbose=0)  # steps 0..5: warmup
    callback = ReduceLROnPlateau(patience=1, factor=0.1)
    drive(callback, model, "val_loss", [1.0, 1.0])
    source = learning_rate_source(model.optimizer)
    assert isinstance(source, ScaledSchedule) and source.factor == pytest.approx(0.1)
    expected = 0.1 * warmup_cosine(6, PEAK, TOTAL, WARMUP)
    assert float(model.optimizer.learning_rate) == pytest.approx(expected, rel=1e-6)

    # Plain SGD, full batch: every later step moves the weights by exactly lr_t * gradient.
    before = [np.array(w, dtype=np.float64) for w in model.get_weights()]
    model.fit(X, Y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    weights = before
    for step in range(6, 10):
        kernel, bias = weights
        residual = X.astype(np.float64) @ kernel + bias - Y
        gradients = [2.0 / 8 * X.T.astype(np.float64) @ residual, 2.0 / 8 * residual.sum(axis=0)]
        rate = 0.1 * warmup_cosine(step, PEAK, TOTAL, WARMUP)
        weights = [w - rate * g for w, g in zip(weights, gradients, strict=True)]
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_min_lr_with_a_schedule():
    model = linear_model(WarmupCosineDecay(PEAK, TOTAL, warmup_steps=WARMUP))
    model.fit(X, Y, batch_size=8, epochs=8, shuffle=False, verbose=0)  # at the peak
    callback = ReduceLROnPlateau(patience=1, factor=0.1, min_lr=0.05)
    drive(callback, model, "val_loss", [1.0, 1.0])
    # 0.1 * peak would be below min_lr: the factor is chosen so the current rate lands on min_lr.
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05, rel=1e-6)
    assert learning_rate_source(model.optimizer).factor == pytest.approx(0.5, rel=1e-6)
    # Already at min_lr: no further reduction.
    callback.on_epoch_end(2, {"val_loss": 1.0})
    callback.on_epoch_end(3, {"val_loss": 1.0})
    assert learning_rate_source(model.optimizer).factor == pytest.approx(0.5, rel=1e-6)


def test_training_on_digits_with_a_schedule_then_saving(digits_split, tmp_path):
    x_train, y_train, x_val, y_val = digits_split
    x_train, y_train = x_train[:1024], y_train[:1024]
    steps_per_epoch, epochs = 1024 // 32, 4
    total = steps_per_epoch * (epochs + 1)  # the rate stays above 0, so every plateau reduces it
    model = small_digits_model()
    schedule = WarmupCosineDecay(0.05, total_steps=total, warmup_steps=steps_per_epoch)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  # torch.compile of the train and test steps costs ~100 s on 2 cores: PyTorch's compiled case is
                  # test_schedule_is_scaled_inside_the_compiled_step.
                  jit_compile=keras.backend.backend() != "torch")
    # min_delta larger than any change: every epoch after the first is a plateau.
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                        verbose=0, callbacks=[callback])
    expected = [
        0.5 ** max(epoch - 1, 0) * warmup_cosine((epoch + 1) * steps_per_epoch, 0.05, total, steps_per_epoch)
        for epoch in range(epochs)
    ]
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-5, atol=1e-9)
    source = learning_rate_source(model.optimizer)
    assert isinstance(source, ScaledSchedule) and source.factor == pytest.approx(0.5 ** (epochs - 1))
    # Training goes on at the reduced rates: the loss keeps falling, and the model learns the digits.
    assert np.all(np.diff(history.history["loss"]) < 0)
    assert history.history["val_accuracy"][-1] > 0.85

    path = tmp_path / "reduced.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = learning_rate_source(loaded.optimizer)
    assert isinstance(restored, ScaledSchedule) and restored.factor == pytest.approx(0.5 ** (epochs - 1))
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(model.optimizer.learning_rate))


def test_float_rate_on_digits_matches_keras(digits_split):
    x_train, y_train, x_val, y_val = digits_split
    logged = []
    for callback in (ReduceLROnPlateau, keras.callbacks.ReduceLROnPlateau):
        model = small_digits_model()
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
        history = model.fit(x_train[:256], y_train[:256], batch_size=64, epochs=4, verbose=0,
                            callbacks=[callback(monitor="loss", factor=0.5, patience=0, min_delta=10.0)])
        logged.append(history.history["learning_rate"])
    assert logged[0] == logged[1] == pytest.approx([0.05, 0.05, 0.025, 0.0125])


def test_serialization_round_trip():
    callback = ReduceLROnPlateau(monitor="val_accuracy", factor=0.3, patience=4, verbose=1, mode="max",
                                 min_delta=0.01, cooldown=2, min_lr=1e-5)
    config = callback.get_config()
    assert config == {"monitor": "val_accuracy", "factor": 0.3, "patience": 4, "verbose": 1, "mode": "max",
                      "min_delta": 0.01, "cooldown": 2, "min_lr": 1e-5}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, ReduceLROnPlateau) and restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs,error,text",
    [
        ({"factor": 1.0}, ValueError, "`factor` must be in (0, 1). Received: factor=1.0"),
        ({"factor": 0.0}, ValueError, "Received: factor=0.0"),
        ({"factor": "0.5"}, TypeError, "Received: factor='0.5'"),
        ({"patience": -1}, ValueError, "Received: patience=-1"),
        ({"cooldown": 1.5}, TypeError, "Received: cooldown=1.5"),
        ({"mode": "up"}, ValueError, "Received: mode='up'"),
        ({"min_delta": -0.1}, ValueError, "Received: min_delta=-0.1"),
        ({"min_lr": -1.0}, ValueError, "Received: min_lr=-1.0"),
        ({"monitor": 3}, TypeError, "Received: monitor=3"),
        ({"verbose": -1}, ValueError, "Received: verbose=-1"),
    ],
)
def test_invalid_arguments(kwargs, error, text):
    with pytest.raises(error) as raised:
        ReduceLROnPlateau(**kwargs)
    assert text in str(raised.value)


def test_unsupported_learning_rate_and_uncompiled_model():
    optimizer = keras.optimizers.SGD(learning_rate=lambda: 0.01)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    callback = ReduceLROnPlateau()
    callback.set_model(model)
    with pytest.raises(TypeError, match="float or a LearningRateSchedule"):
        callback.on_train_begin()
    callback.set_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="compiled with an optimizer"):
        callback.on_train_begin()


def test_verbose_message(capsys):
    model = linear_model(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        drive(ReduceLROnPlateau(patience=0, verbose=1, factor=0.5), model, "val_loss", [1.0, 1.0])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.005" in capsys.readouterr().out
