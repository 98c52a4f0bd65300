"""Linear interpolation between two rates."""

from __future__ import annotations

from typing import Any

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, elapsed_and_remaining, linear_mix


@register(
    "schedule",
    "Straight line from an initial to a final rate over total_steps, then constant.",
    example={"initial_learning_rate": 0.1, "final_learning_rate": 0.001, "total_steps": 1000},
)
class LinearSchedule(Schedule):
    r"""A straight line: :math:`\eta_t = \eta_0 + (\eta_T - \eta_0)\,\min(t, T)/T`.

    Decays when ``final_learning_rate < initial_learning_rate`` and rises otherwise (a linear warmup on its own).
    Holds ``final_learning_rate`` after ``total_steps``. PyTorch's ``LinearLR`` is the same shape expressed with
    start/end factors of one base rate.

    Args:
        initial_learning_rate: Rate at step 0 (>= 0).
        final_learning_rate: Rate at step ``total_steps`` and after (>= 0).
        total_steps: Length of the line (integer >= 1).

    Example:
        >>> schedule = LinearSchedule(0.1, 0.0, total_steps=100)
        >>> round(float(schedule(25)), 6)
        0.075

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", arXiv:1706.02677 (linear
        warmup); PyTorch ``torch.optim.lr_scheduler.LinearLR``.
    """

    def __init__(self, initial_learning_rate: float, final_learning_rate: float, total_steps: int) -> None:
        self.initial_learning_rate = check.check_non_negative("initial_learning_rate", initial_learning_rate)
        self.final_learning_rate = check.check_non_negative("final_learning_rate", final_learning_rate)
        self.total_steps = check.check_int("total_steps", total_steps, minimum=1)

    def compute(self, step: Any) -> Any:
        length = float(self.total_steps)
        elapsed, remaining = elapsed_and_remaining(step, 0.0, length)
        return linear_mix(self.initial_learning_rate, self.final_learning_rate, elapsed, remaining, length)
