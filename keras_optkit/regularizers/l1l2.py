"""L1 + L2 with strengths that can change during training."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit._registry import register
from keras_optkit.regularizers._tunable import TunableRegularizer


@register("regularizer", "Elastic-net penalty l1 * sum(|w|) + l2 * sum(w^2) with both strengths variables.",
          example={"l1": 0.001, "l2": 0.01})
class L1L2(TunableRegularizer):
    r"""Elastic-net penalty :math:`\lambda_1 \sum_i |w_i| + \lambda_2 \sum_i w_i^2` (Zou & Hastie 2005), as
    ``keras.regularizers.L1L2``, with ``l1`` and ``l2`` variables the model tracks.

    Args:
        l1: L1 strength (>= 0).
        l2: L2 strength (>= 0).

    Example:
        >>> regularizer = L1L2(l1=1e-5, l2=1e-4)
        >>> regularizer.set_strength(l2=0.0)
    """

    strength_names = ("l1", "l2")

    def __init__(self, l1: float = 0.0, l2: float = 0.0, name: str | None = None) -> None:
        super().__init__(name=name, l1=l1, l2=l2)

    def penalty(self, x: Any) -> Any:
        return self.l1 * ops.sum(ops.abs(x)) + self.l2 * ops.sum(ops.square(x))
