"""StochasticWeightAveraging: the average equals the NumPy mean of the snapshots; BatchNorm re-estimation equals
the mean of per-batch statistics computed by hand."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.callbacks import StochasticWeightAveraging
from tests._models import small_digits_model


def _numpy(values):
    return [np.array(ops.convert_to_numpy(v), dtype=np.float64) for v in values]


class Snapshots(keras.callbacks.Callback):
    """Records the trainable weights at every epoch end (placed before the SWA callback)."""

    def __init__(self):
        super().__init__()
        self.by_epoch = {}

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch] = _numpy(self.model.trainable_variables)


def _fit(digits_split, swa, epochs, jit_compile=False):
    x, y, _, _ = digits_split
    model = small_digits_model(seed=0, hidden=16)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    snapshots = Snapshots()
    model.fit(x[:256], y[:256], batch_size=64, epochs=epochs, verbose=0, callbacks=[snapshots, swa])
    return model, snapshots


@pytest.mark.torch_compile
@pytest.mark.parametrize(("start_epoch", "frequency", "expected_epochs", "jit_compile"),
                         [(2, 1, [2, 3, 4, 5], False), (1, 2, [1, 3, 5], True), (0, 1, [0, 1, 2, 3, 4, 5], False)])
def test_average_is_the_mean_of_the_chosen_epochs(digits_split, start_epoch, frequency, expected_epochs,
                                                   jit_compile):
    swa = StochasticWeightAveraging(start_epoch=start_epoch, frequency=frequency)
    model, snapshots = _fit(digits_split, swa, epochs=6, jit_compile=jit_compile)
    assert swa.averaged_epochs == expected_epochs
    expected = [np.mean([snapshots.by_epoch[e][i] for e in expected_epochs], axis=0)
                for i in range(len(model.trainable_variables))]
    for got, want in zip(_numpy(model.trainable_variables), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # The last epoch's weights differ from the average, so the check above could fail.
    assert not np.allclose(snapshots.by_epoch[5][0], expected[0])


def test_start_epoch_after_the_last_epoch_leaves_the_weights(digits_split):
    swa = StochasticWeightAveraging(start_epoch=10)
    with pytest.warns(RuntimeWarning, match="start_epoch=10"):
        model, snapshots = _fit(digits_split, swa, epochs=2)
    for got, last in zip(_numpy(model.trainable_variables), snapshots.by_epoch[1], strict=True):
        np.testing.assert_array_equal(got, last)


@pytest.mark.parametrize("form", ["array", "tuple", "pydataset"])
def test_batchnorm_statistics_are_re_estimated_as_the_mean_of_batch_statistics(digits_split, form):
    x, y, _, _ = digits_split
    data = x[:200]
    batch_size = 64
    if form == "tuple":
        update_with = (data, y[:200])
    elif form == "pydataset":
        class Inputs(keras.utils.PyDataset):
            def __len__(self):
                return 4

            def __getitem__(self, index):
                return data[index * batch_size:(index + 1) * batch_size], y[:1]

        update_with = Inputs()
    else:
        update_with = data
    swa = StochasticWeightAveraging(start_epoch=0, update_batchnorm_with=update_with, batch_size=batch_size)
    model, _ = _fit(digits_split, swa, epochs=2)

    # By hand: the input of the BatchNormalization layer under the averaged weights, batch by batch.
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    means, variances = [], []
    for start in range(0, 200, batch_size):
        activations = ops.convert_to_numpy(hidden(data[start:start + batch_size])).astype(np.float64)
        means.append(activations.mean(axis=0))
        variances.append(activations.var(axis=0))  # biased, as Keras's BatchNormalization
    norm = model.get_layer("norm")
    np.testing.assert_allclose(_numpy([norm.moving_mean])[0], np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy([norm.moving_variance])[0], np.mean(variances, axis=0), rtol=1e-4,
                               atol=1e-6)
    assert norm.momentum == 0.99  # restored


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [({"start_epoch": -1}, "start_epoch", ValueError), ({"start_epoch": 1, "frequency": 0}, "frequency", ValueError),
     ({"start_epoch": 1.5}, "start_epoch", TypeError), ({"start_epoch": 0, "batch_size": 0}, "batch_size",
                                                        ValueError)],
)
def test_bad_arguments(kwargs, match, error):
    with pytest.raises(error, match=match):
        StochasticWeightAveraging(**kwargs)
