"""The base class of this package's optimizers that define their update on dense gradients."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def is_indexed_slices(gradient: Any) -> bool:
    """A TensorFlow ``tf.IndexedSlices`` (the gradient of a gather, e.g. of ``keras.layers.Embedding``), recognised
    without importing TensorFlow."""
    return type(gradient).__name__ == "IndexedSlices" and hasattr(gradient, "indices")


def overwrite_with_average(optimizer: keras.optimizers.Optimizer, var_list: list) -> None:
    """What Keras's ``use_ema`` does when training ends (the weights take their moving average), with a copy of
    the average. Keras 3.15 assigns the average's array itself: on JAX the weight and the average then share one
    buffer, and the next ``fit`` fails at its first step (the train step donates both buffers)."""
    averages = optimizer._model_variables_moving_average
    if len(var_list) != len(averages):
        raise ValueError(
            f"{type(optimizer).__name__} holds moving averages of {len(averages)} variables; it was asked to "
            f"finalize {len(var_list)}. Received: var_list of length {len(var_list)}"
        )
    for variable, average in zip(var_list, averages, strict=True):
        if average is not None:
            variable.assign(ops.copy(average))


class Optimizer(keras.optimizers.Optimizer):
    """``keras.optimizers.Optimizer`` that hands its update dense gradients.

    On TensorFlow an ``Embedding`` gets a ``tf.IndexedSlices`` gradient, whose rows repeat when a token occurs
    twice in a batch. Elementwise Keras ops on it act slice by slice, so a nonlinear update (a square, a sign, a
    norm) computed before the repeats are summed is wrong: Keras's own Adam squares each repeat apart, and its
    second moment is then the sum of squares instead of the square of the sum. The update rules of this package
    are written for the dense gradient (the rows absent from the batch have a zero gradient, and their moments
    decay), so ``apply`` sums the repeats into a dense gradient first, with the variable's static shape (compiles
    under XLA). :class:`LazyAdam` is the optimizer for sparse updates.
    """

    def _overwrite_model_variables_with_average_value(self, trainable_variables: list) -> None:
        overwrite_with_average(self, trainable_variables)

    def build(self, var_list: list) -> None:
        if not self.built:
            from keras_optkit.optimizers._distribute import refuse_per_replica_arguments

            refuse_per_replica_arguments(self)
        super().build(var_list)

    def apply(self, grads: Any, trainable_variables: Any = None) -> Any:
        variables = self._trainable_variables if trainable_variables is None else trainable_variables
        grads = [
            ops.reshape(ops.convert_to_tensor(g), v.shape) if is_indexed_slices(g) else g
            for g, v in zip(grads, variables, strict=True)
        ]
        return super().apply(grads, trainable_variables)
