"""L1 with a strength that can change during training."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit._registry import register
from keras_optkit.regularizers._tunable import TunableRegularizer


@register("regularizer", "L1 penalty l1 * sum(|w|) whose strength is a variable: anneal or tune it.",
          example={"l1": 0.01})
class L1(TunableRegularizer):
    r"""L1 penalty :math:`\lambda_1 \sum_i |w_i|` (lasso; Tibshirani 1996), as ``keras.regularizers.L1``.

    The same penalty as Keras's, but ``l1`` is a variable the model tracks (see
    :class:`~keras_optkit.regularizers._tunable.TunableRegularizer`): assign it and the next step uses it.

    Args:
        l1: Strength (>= 0).

    Example:
        >>> import keras
        >>> regularizer = L1(0.01)
        >>> layer = keras.layers.Dense(4, kernel_regularizer=regularizer)
        >>> regularizer.set_strength(l1=0.001)
    """

    strength_names = ("l1",)

    def __init__(self, l1: float = 0.01, name: str | None = None) -> None:
        super().__init__(name=name, l1=l1)

    def penalty(self, x: Any) -> Any:
        return self.l1 * ops.sum(ops.abs(x))
