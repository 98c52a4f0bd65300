"""Stochastic weight averaging as a callback: any optimizer, any schedule."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import training_optimizer


@register(
    "callback",
    "Stochastic weight averaging: equal-weight mean of the weights over epochs, BatchNorm re-estimated at the end.",
    example={"start_epoch": 5},
)
class StochasticWeightAveraging(keras.callbacks.Callback):
    r"""Average the weights of the last epochs and train-end with the average (SWA).

    At the end of epoch ``start_epoch`` (0-based, as Keras numbers epochs in callbacks) and of every
    ``frequency``-th epoch after it, the trainable weights :math:`w` join an equal-weight running mean kept on the
    device, :math:`\bar w \leftarrow \bar w + (w - \bar w) / (n + 1)`. When training ends the mean is assigned to
    the model. BatchNormalization statistics of averaged weights are not the average of the statistics, so with
    ``update_batchnorm_with`` every BatchNormalization layer (nested models included) is reset and re-estimated
    on that data as the equal-weight mean over batches of the batch mean and (biased, as Keras's layer uses)
    batch variance, by one forward pass in training mode.

    Differences from the counterparts: TensorFlow Addons' ``SWA`` is an optimizer wrapper, averaging every
    ``average_period`` steps and needing a manual ``assign_average_vars``; ``torch.optim.swa_utils`` has the user
    call ``update_parameters`` and ``update_bn``. Here one callback does both, with any optimizer and any schedule
    (pair it with a constant or cyclical rate over the averaging epochs, as the paper does).

    Args:
        start_epoch: First epoch whose weights are averaged (integer >= 0, 0-based).
        frequency: Average every ``frequency`` epochs from ``start_epoch`` (integer >= 1).
        update_batchnorm_with: Data to re-estimate BatchNormalization statistics with: a NumPy array of inputs,
            an ``(x, y)`` tuple, a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``; None to keep them.
        batch_size: Batch size for array data in the re-estimation.
        verbose: 0: quiet; 1: print when the average is applied.

    Example:
        >>> import keras, numpy as np
        >>> from keras_optkit.callbacks import StochasticWeightAveraging
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        >>> y = x.sum(axis=1, keepdims=True)
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
        ...                           keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.05), loss="mse")
        >>> swa = StochasticWeightAveraging(start_epoch=2, update_batchnorm_with=x)
        >>> _ = model.fit(x, y, epochs=5, batch_size=16, callbacks=[swa], verbose=0)
        >>> swa.averaged_epochs  # the model now holds the mean of these epochs' weights, BatchNorm re-estimated
        [2, 3, 4]

    References:
        Izmailov, Podoprikhin, Garipov, Vetrov & Wilson, "Averaging Weights Leads to Wider Optima and Better
        Generalization", UAI 2018, arXiv:1803.05407.
    """

    def __init__(
        self,
        start_epoch: int,
        frequency: int = 1,
        update_batchnorm_with: Any = None,
        batch_size: int = 32,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.start_epoch = check.check_int("start_epoch", start_epoch, minimum=0)
        self.frequency = check.check_int("frequency", frequency, minimum=1)
        self.update_batchnorm_with = update_batchnorm_with
        self.batch_size = check.check_int("batch_size", batch_size, minimum=1)
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        self.averaged_epochs: list[int] = []
        self._means: list | None = None
        self._first_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        training_optimizer(self.model, type(self).__name__)  # refuses what Keras would train wrongly
        self.averaged_epochs = []
        self._means = None
        self._first_epoch = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._first_epoch is not None:
            return
        self._first_epoch = epoch
        # A fit resumed past start_epoch (keras.callbacks.BackupAndRestore, or initial_epoch) would average only
        # the epochs it runs: the running mean of the earlier ones lives in this callback and is not saved.
        if epoch > self.start_epoch:
            raise ValueError(
                f"StochasticWeightAveraging averages from start_epoch={self.start_epoch}, but this fit starts at "
                f"epoch {epoch} (resumed by BackupAndRestore, or initial_epoch={epoch}): the average of epochs "
                f"{self.start_epoch}-{epoch - 1} was not saved, and averaging the rest alone would silently give "
                f"another result. Pass start_epoch >= {epoch} for this fit, or train the averaging epochs in one "
                "uninterrupted fit."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch < self.start_epoch or (epoch - self.start_epoch) % self.frequency:
            return
        variables = self.model.trainable_variables
        count = len(self.averaged_epochs)
        if self._means is None:
            self._means = [ops.copy(v.value) for v in variables]
        else:
            self._means = [mean + (v.value - mean) / (count + 1) for mean, v in zip(self._means, variables,
                                                                                     strict=True)]
        self.averaged_epochs.append(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        model = self.model
        if self._means is None:
            warnings.warn(
                f"StochasticWeightAveraging: no epoch reached start_epoch={self.start_epoch}; the weights are "
                "left as they are.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        for variable, mean in zip(model.trainable_variables, self._means, strict=True):
            variable.assign(mean)
        if self.update_batchnorm_with is not None:
            update_batchnorm(model, self.update_batchnorm_with, batch_size=self.batch_size)
        self._means = None
        if self.verbose:
            print(f"StochasticWeightAveraging: weights averaged over epochs {self.averaged_epochs}.")

    def get_config(self) -> dict[str, Any]:
        return {"start_epoch": self.start_epoch, "frequency": self.frequency, "update_batchnorm_with": None,
                "batch_size": self.batch_size, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StochasticWeightAveraging:
        return cls(**config)


def _batchnorm_layers(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    found = []
    if isinstance(layer, keras.layers.BatchNormalization):
        found.append(layer)
    for child in getattr(layer, "layers", None) or []:
        found.extend(_batchnorm_layers(child))
    return found


def _input_batches(data: Any, batch_size: int) -> Iterator[Any]:
    """Yields input batches of arrays, (x, y) tuples, a PyDataset or a dataset's (x, ...) elements."""
    if isinstance(data, tuple) and data and hasattr(data[0], "shape"):
        data = data[0]
    if hasattr(data, "shape"):
        for start in range(0, int(data.shape[0]), batch_size):
            yield data[start:start + batch_size]
        return
    if isinstance(data, keras.utils.PyDataset):
        for index in range(len(data)):
            element = data[index]
            yield element[0] if isinstance(element, tuple) else element
        return
    for element in data:
        yield element[0] if isinstance(element, tuple) else element


def update_batchnorm(model: keras.Model, data: Any, batch_size: int = 32) -> int:
    """Re-estimates every BatchNormalization layer's moving mean and variance of ``model`` on ``data`` as the
    equal-weight mean over batches of the batch statistics; returns the number of batches used."""
    layers = _batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    batches = 0
    try:
        for batch in _input_batches(data, batch_size):
            # moving <- moving * m + batch * (1 - m) with m = k / (k + 1) keeps the mean of the first k + 1 batches.
            for layer in layers:
                layer.momentum = batches / (batches + 1)
            model(batch, training=True)
            batches += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    if batches == 0:
        raise ValueError("`update_batchnorm_with` yielded no batch.")
    return batches

