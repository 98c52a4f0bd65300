"""Decay at chosen milestones."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule


@register(
    "schedule",
    "Multiply the rate by gamma at each milestone step (PyTorch MultiStepLR).",
    example={"initial_learning_rate": 0.1, "milestones": [300, 600, 800], "gamma": 0.1},
)
class MultiStepDecay(Schedule):
    r"""Decay at milestones: :math:`\eta_t = \eta_0 \, \gamma^{|\{m \in \text{milestones} : m \le t\}|}`.

    The same values as PyTorch's ``MultiStepLR`` stepped once per batch: the rate drops at step ``m`` itself.

    Args:
        initial_learning_rate: :math:`\eta_0` (> 0).
        milestones: Non-empty, strictly increasing list of steps (integers >= 1).
        gamma: Multiplicative factor per milestone (> 0).

    Example:
        >>> schedule = MultiStepDecay(0.1, milestones=[10, 20], gamma=0.1)
        >>> [round(float(schedule(t)), 6) for t in (9, 10, 20)]
        [0.1, 0.01, 0.001]

    References:
        Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS
        2012 (rate divided by 10 at chosen points); PyTorch ``torch.optim.lr_scheduler.MultiStepLR``.
    """

    def __init__(self, initial_learning_rate: float, milestones: list[int], gamma: float = 0.1) -> None:
        self.initial_learning_rate = check.check_positive("initial_learning_rate", initial_learning_rate)
        self.milestones = check.check_increasing_ints("milestones", milestones, minimum=1)
        self.gamma = check.check_positive("gamma", gamma)

    def compute(self, step: Any) -> Any:
        # The few possible rates are known in advance: exact float64 products, selected by the milestones passed.
        rate = ops.full_like(step, self.initial_learning_rate)
        for passed, milestone in enumerate(self.milestones, start=1):
            rate = ops.where(step >= float(milestone), self.initial_learning_rate * self.gamma**passed, rate)
        return rate
