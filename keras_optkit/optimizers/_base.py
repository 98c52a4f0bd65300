"""The base class of this package's optimizers that define their update on dense gradients."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def is_indexed_slices(gradient: Any) -> bool:
    """A TensorFlow ``tf.IndexedSlices`` (the gradient of a gather, e.g. of ``keras.layers.Embedding``), recognised
    without importing TensorFlow."""
    return type(gradient).__name__ == "IndexedSlices" and hasattr(gradient, "indices")


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
