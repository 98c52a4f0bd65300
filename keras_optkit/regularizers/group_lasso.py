"""Group lasso: structured sparsity over units or filters."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.regularizers._tunable import TunableRegularizer


@register("regularizer", "Group lasso: sum of sqrt(group size) * ||w_g|| over units/filters, zeroes whole units.",
          example={"strength": 0.001})
class GroupLasso(TunableRegularizer):
    r"""Group lasso over the slices of a weight along ``axis``:

    .. math::
        \Omega(W) = \lambda \sum_{g} \sqrt{|g|}\, \lVert W_g \rVert_2

    where :math:`W_g` is the ``g``-th slice along ``axis`` and :math:`|g|` its number of entries. With the
    default ``axis=-1`` a group is everything that feeds one output unit of a ``Dense`` kernel
    (``(inputs, units)``) or one filter of a ``Conv`` kernel (``(..., in, filters)``); the penalty drives whole
    units to exactly zero, which can then be pruned. The norm is computed so that its gradient stays finite (0)
    at a zero group.

    Args:
        strength: :math:`\lambda` (>= 0), a variable the model tracks (assign it to anneal or tune it).
        axis: The axis that indexes the groups.

    Example:
        >>> import keras
        >>> layer = keras.layers.Dense(64, kernel_regularizer=GroupLasso(1e-3))

    References:
        Yuan & Lin, "Model selection and estimation in regression with grouped variables", JRSS B 2006.
        Scardapane et al., "Group sparse regularization for deep neural networks", arXiv:1607.00485.
    """

    strength_names = ("strength",)

    def __init__(self, strength: float = 0.01, axis: int = -1, name: str | None = None) -> None:
        axis = check.check_int("axis", axis)
        super().__init__(name=name, strength=strength)
        self.axis = axis

    def penalty(self, x: Any) -> Any:
        rank = len(x.shape)
        if rank == 0:
            raise ValueError(f"GroupLasso needs a weight of rank >= 1. Received: a scalar {x!r}")
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None:
            raise ValueError(
                f"`axis` is out of range for a weight of shape {tuple(x.shape)}. Received: axis={self.axis}"
            )
        others = tuple(i for i in range(rank) if i != axis)
        group_size = math.prod(int(x.shape[i]) for i in others) if others else 1
        squares = ops.sum(ops.square(x), axis=others) if others else ops.square(x)
        positive = squares > 0.0
        # sqrt has an infinite derivative at 0; evaluate it away from 0 and select, so the gradient there is 0.
        norms = ops.where(positive, ops.sqrt(ops.where(positive, squares, 1.0)), 0.0)
        return self.strength * math.sqrt(group_size) * ops.sum(norms)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}

    def __repr__(self) -> str:
        return f"GroupLasso(strength={self.current():g}, axis={self.axis})"
