"""Small models shared by the tests."""

import keras


def small_digits_model(seed: int = 0, hidden: int = 32) -> keras.Model:
    """A functional MLP for the 64-pixel digits with a BatchNormalization layer (so callbacks that touch
    non-trainable state are exercised)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(64,))
    hidden_out = keras.layers.Dense(hidden, activation="relu", name="hidden")(inputs)
    hidden_out = keras.layers.BatchNormalization(name="norm")(hidden_out)
    outputs = keras.layers.Dense(10, activation="softmax", name="classifier")(hidden_out)
    return keras.Model(inputs, outputs)
