"""Step decay."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, floor_divide


@register(
    "schedule",
    "Multiply the rate by gamma every step_size steps (PyTorch StepLR).",
    example={"initial_learning_rate": 0.1, "step_size": 300, "gamma": 0.5},
)
class StepDecay(Schedule):
    r"""Step decay: :math:`\eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}`.

    The same values as PyTorch's ``StepLR`` stepped once per batch.

    Args:
        initial_learning_rate: :math:`\eta_0` (> 0).
        step_size: Steps between two decays (integer >= 1).
        gamma: Multiplicative factor per decay (> 0).

    Example:
        >>> schedule = StepDecay(0.1, step_size=100, gamma=0.5)
        >>> round(float(schedule(250)), 6)
        0.025

    References:
        He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385 (the divide-by-10 steps).
    """

    def __init__(self, initial_learning_rate: float, step_size: int, gamma: float = 0.1) -> None:
        self.initial_learning_rate = check.check_positive("initial_learning_rate", initial_learning_rate)
        self.step_size = check.check_int("step_size", step_size, minimum=1)
        self.gamma = check.check_positive("gamma", gamma)

    def compute(self, step: Any) -> Any:
        decays = floor_divide(step, float(self.step_size))
        return self.initial_learning_rate * ops.power(self.gamma, decays)
