"""What each wrapper of the registry can go around: refused early where it cannot, with the order that works."""

import keras
import numpy as np
import pytest

from keras_optkit import list_entries

WRAPPERS = [entry for entry in list_entries("optimizer") if entry.flags.get("wrapper") and "optimizer" in entry.example]


@pytest.mark.parametrize("entry", WRAPPERS, ids=[entry.name for entry in WRAPPERS])
def test_a_wrapped_loss_scale_optimizer_is_refused_with_the_order_that_works(entry):
    inner = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01))
    with pytest.raises(ValueError, match=rf"LossScaleOptimizer\({entry.name}\(\.\.\.\)\)"):
        entry.build(optimizer=inner)


@pytest.mark.parametrize("entry", WRAPPERS, ids=[entry.name for entry in WRAPPERS])
def test_a_wrapped_multi_optimizer_is_refused(entry):
    inner = keras.optimizers.MultiOptimizer(lambda variable: keras.optimizers.SGD(0.01))
    with pytest.raises(ValueError, match="cannot wrap a MultiOptimizer"):
        entry.build(optimizer=inner)


@pytest.mark.parametrize("entry", WRAPPERS, ids=[entry.name for entry in WRAPPERS])
def test_loss_scaling_outside_the_wrapper_trains_like_no_scaling(entry):
    """LossScaleOptimizer(wrapper(Adam)): the scale cancels, the weights equal those of wrapper(Adam)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")

    def train(scaled):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
        optimizer = entry.build(optimizer=keras.optimizers.Adam(0.01))
        if scaled:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**10)
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    for scaled, plain in zip(train(True), train(False), strict=True):
        np.testing.assert_allclose(scaled, plain, rtol=1e-5, atol=1e-6)


KERAS_OPTIMIZERS = ["Adam", "AdamW", "SGD", "Lamb", "Lion", "Adafactor", "Muon", "ScheduleFreeAdamW", "Nadam", "RMSprop"]


@pytest.mark.parametrize("entry", WRAPPERS, ids=[entry.name for entry in WRAPPERS])
@pytest.mark.parametrize("inner_name", KERAS_OPTIMIZERS)
def test_every_keras_optimizer_survives_a_wrapper_round_trip(entry, inner_name):
    """A wrapper's config names its inner optimizer by module and class: Keras 3.15's optimizer lookup table lacks
    some of its own optimizers (Lamb), which a .keras file must still load."""
    inner = getattr(keras.optimizers, inner_name)(learning_rate=0.02)
    config = keras.saving.serialize_keras_object(entry.build(optimizer=inner))
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored.inner_optimizer, getattr(keras.optimizers, inner_name))
    np.testing.assert_allclose(float(restored.inner_optimizer.learning_rate), 0.02, rtol=1e-6)
