"""Warmup in front of any schedule."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import (
    Schedule,
    as_callable,
    cosine_mix,
    elapsed_and_remaining,
    linear_mix,
)


@register(
    "schedule",
    "Put a linear, cosine or exponential warmup in front of any schedule (Keras's own included) or constant.",
    example={"schedule": 0.05, "warmup_steps": 100},
    wrapper=True,
)
class Warmup(Schedule):
    r"""Warm up from ``initial_learning_rate`` to the wrapped schedule's first value, then run the schedule.

    With :math:`\eta^* = \text{schedule}(0)`, warmup length :math:`W` and :math:`r = t / W`:

    .. math::
        \eta_t = \begin{cases}
            \eta_{init} + (\eta^* - \eta_{init})\, r & \text{linear},\ t < W \\
            \eta_{init} + (\eta^* - \eta_{init})\, (1 - \cos \pi r) / 2 & \text{cosine},\ t < W \\
            \eta_{init}\, (\eta^* / \eta_{init})^{r} & \text{exponential},\ t < W \\
            \text{schedule}(t - W) & t \ge W
        \end{cases}

    The wrapped schedule starts from its own step 0 when the warmup ends, so ``Warmup(CosineDecay(..., 1000), 100)``
    runs 1100 steps in all.

    Args:
        schedule: Any ``keras.optimizers.schedules.LearningRateSchedule`` (this package's or Keras's) or a constant
            rate (float >= 0).
        warmup_steps: Length of the warmup (integer >= 0; 0 is the wrapped schedule unchanged).
        initial_learning_rate: Rate at step 0 (>= 0; > 0 for the exponential shape).
        shape: ``"linear"``, ``"cosine"`` or ``"exponential"``.

    Example:
        >>> import keras
        >>> schedule = Warmup(keras.optimizers.schedules.CosineDecay(0.1, 1000), warmup_steps=100)
        >>> round(float(schedule(50)), 6), round(float(schedule(100)), 6)
        (0.05, 0.1)

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", arXiv:1706.02677 (gradual
        warmup); He et al., "Bag of Tricks for Image Classification with CNNs", arXiv:1812.01187.
    """

    _nested = ("schedule",)

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule | float,
        warmup_steps: int,
        initial_learning_rate: float = 0.0,
        shape: str = "linear",
    ) -> None:
        self.schedule = check.check_schedule_or_rate("schedule", schedule)
        self.warmup_steps = check.check_int("warmup_steps", warmup_steps, minimum=0)
        self.initial_learning_rate = check.check_non_negative("initial_learning_rate", initial_learning_rate)
        self.shape = check.check_choice("shape", shape, ("linear", "cosine", "exponential"))
        if shape == "exponential":
            if self.initial_learning_rate <= 0:
                raise ValueError(
                    "`initial_learning_rate` must be > 0 for an exponential warmup. "
                    f"Received: initial_learning_rate={initial_learning_rate!r}"
                )
            target = float(ops.convert_to_numpy(as_callable(self.schedule)(ops.zeros(()))))
            if target <= 0:
                raise ValueError(
                    "An exponential warmup needs `schedule` to start above 0. "
                    f"Received: schedule={schedule!r} with schedule(0)={target!r}"
                )
        self._inner = as_callable(self.schedule)

    def compute(self, step: Any) -> Any:
        if not self.warmup_steps:
            return self._inner(step)
        warmup = float(self.warmup_steps)
        after = self._inner(ops.maximum(step - warmup, 0.0))
        target = self._inner(ops.zeros_like(step))
        elapsed, remaining = elapsed_and_remaining(step, 0.0, warmup)
        start = self.initial_learning_rate
        if self.shape == "linear":
            warm = linear_mix(start, target, elapsed, remaining, warmup)
        elif self.shape == "cosine":
            warm = cosine_mix(start, target, elapsed, remaining, warmup)
        else:
            warm = ops.exp((math.log(start) * remaining + ops.log(target) * elapsed) / warmup)
        return ops.where(step < warmup, warm, after)
