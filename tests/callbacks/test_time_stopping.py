"""TimeStopping, driven by a fake clock that advances one second per training batch."""

import keras
import pytest

from keras_optkit.callbacks import TimeStopping
from tests._models import small_digits_model

BATCH, SAMPLES = 32, 128  # 4 batches per epoch


class FakeClock(keras.callbacks.Callback):
    """A clock that advances one second at the end of each batch (it must come before TimeStopping)."""

    def __init__(self):
        super().__init__()
        self.now = 1000.0
        self.batches = 0

    def __call__(self):
        return self.now

    def on_train_batch_end(self, batch, logs=None):
        self.now += 1.0
        self.batches += 1


def train(digits_split, callback, epochs=10, clock=None):
    x_train, y_train, x_val, y_val = digits_split
    clock = clock or FakeClock()
    callback._clock = clock
    model = small_digits_model(hidden=8)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(x_train[:SAMPLES], y_train[:SAMPLES], batch_size=BATCH, epochs=epochs, verbose=0,
                        validation_data=(x_val[:64], y_val[:64]), callbacks=[clock, callback])
    return history, clock


def test_stops_after_the_epoch_that_crosses_the_budget(digits_split, capsys):
    callback = TimeStopping(seconds=10, verbose=1)
    history, clock = train(digits_split, callback)
    # 4 s per epoch: 4 and 8 s are within the budget, 12 s at the end of the third epoch is not.
    assert history.epoch == [0, 1, 2] and callback.stopped_epoch == 2 and clock.batches == 12
    assert "Timed stopping at epoch 3 after training for 0:00:12 (budget 0:00:10)." in capsys.readouterr().out


def test_batch_check_stops_within_the_epoch(digits_split):
    callback = TimeStopping(seconds=10, check_every="batch")
    history, clock = train(digits_split, callback)
    # The tenth batch (second of the third epoch) reaches 10 s; that epoch still ends and is validated.
    assert clock.batches == 10 and callback.stopped_epoch == 2
    assert history.epoch == [0, 1, 2] and "val_loss" in history.history and len(history.history["val_loss"]) == 3


def test_budget_not_reached_and_a_new_budget_per_fit(digits_split, capsys):
    callback = TimeStopping(seconds=10, verbose=1)
    history, clock = train(digits_split, callback, epochs=2)
    assert history.epoch == [0, 1] and callback.stopped_epoch is None
    assert capsys.readouterr().out == ""
    # Each fit has its own budget: 16 s after the first fit started, the second has used only 8.
    history, clock = train(digits_split, callback, epochs=2, clock=clock)
    assert clock.now == 1016.0 and callback.stopped_epoch is None


def test_serialization_round_trip():
    callback = TimeStopping(seconds=90, verbose=1, check_every="batch")
    config = callback.get_config()
    assert config == {"seconds": 90.0, "verbose": 1, "check_every": "batch"}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, TimeStopping) and restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs,error,text",
    [
        ({"seconds": 0}, ValueError, "`seconds` must be > 0. Received: seconds=0"),
        ({"seconds": "1h"}, TypeError, "Received: seconds='1h'"),
        ({"verbose": -1}, ValueError, "Received: verbose=-1"),
        ({"check_every": "step"}, ValueError, "`check_every` must be one of 'epoch', 'batch'"),
    ],
)
def test_invalid_arguments(kwargs, error, text):
    with pytest.raises(error) as raised:
        TimeStopping(**kwargs)
    assert text in str(raised.value)
