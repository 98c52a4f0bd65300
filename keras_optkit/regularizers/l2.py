"""L2 with a strength that can change during training."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit._registry import register
from keras_optkit.regularizers._tunable import TunableRegularizer


@register("regularizer", "L2 penalty l2 * sum(w^2) whose strength is a variable: anneal or tune it.",
          example={"l2": 0.01})
class L2(TunableRegularizer):
    r"""L2 penalty :math:`\lambda_2 \sum_i w_i^2` (weight decay as a loss term), as ``keras.regularizers.L2``.

    The same penalty as Keras's (no factor 1/2), but ``l2`` is a variable the model tracks (see
    :class:`~keras_optkit.regularizers._tunable.TunableRegularizer`): assign it and the next step uses it.

    Args:
        l2: Strength (>= 0).

    Example:
        >>> import keras
        >>> regularizer = L2(1e-4)
        >>> layer = keras.layers.Dense(4, kernel_regularizer=regularizer)
        >>> _ = regularizer.l2.assign(1e-3)  # e.g. from a callback, or a keras-tuner trial
        >>> round(float(regularizer(keras.ops.ones((2, 2)))), 6)  # 1e-3 * the sum of four squared ones
        0.004
    """

    strength_names = ("l2",)

    def __init__(self, l2: float = 0.01, name: str | None = None) -> None:
        super().__init__(name=name, l2=l2)

    def penalty(self, x: Any) -> Any:
        return self.l2 * ops.sum(ops.square(x))
