"""One sparsity from a given step on, with masks re-ranked every `frequency` steps."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.pruning.sparsity_schedule import SparsitySchedule


@register(
    "sparsity_schedule",
    "Constant sparsity from begin_step on; masks re-ranked from |w| every frequency steps.",
    example={"sparsity": 0.5},
)
class ConstantSparsity(SparsitySchedule):
    r"""Prune a fixed fraction of the weights from ``begin_step`` on.

    .. math::
        s_t = \begin{cases} 0 & t < t_0 \\ s & t \ge t_0 \end{cases}

    The masks are recomputed from the current magnitudes at :math:`t_0` and every ``frequency`` steps after it,
    for as long as training lasts: the pruned set can change between updates (a pruned weight is 0, so it
    stays among the smallest unless the fraction changes). This is one-shot pruning followed by fine-tuning,
    in one callback, and the schedule to use with ``structure="n:m"`` (at :math:`s = 1 - n/m`).

    Args:
        sparsity: Fraction of the weights pruned, in [0, 1).
        begin_step: First update step (integer >= 0).
        frequency: Steps between mask updates (integer >= 1).

    Example:
        >>> schedule = ConstantSparsity(0.5, begin_step=10)
        >>> float(schedule(9)), float(schedule(10))
        (0.0, 0.5)

    References:
        Han, Pool, Tran & Dally, "Learning both Weights and Connections for Efficient Neural Networks",
        NeurIPS 2015, arXiv:1506.02626 (prune by magnitude, then retrain).
    """

    end_step = None

    def __init__(self, sparsity: float, begin_step: int = 0, frequency: int = 100) -> None:
        self.sparsity = check.check_in_range("sparsity", sparsity, 0.0, 1.0)
        self.begin_step = check.check_int("begin_step", begin_step, minimum=0)
        self.frequency = check.check_int("frequency", frequency, minimum=1)

    @property
    def target_sparsity(self) -> float:
        return self.sparsity

    def compute(self, step: Any) -> Any:
        return ops.where(step < float(self.begin_step), ops.zeros_like(step), ops.full_like(step, self.sparsity))
