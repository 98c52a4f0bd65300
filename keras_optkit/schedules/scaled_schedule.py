"""A schedule multiplied by a constant factor."""

from __future__ import annotations

from typing import Any

import keras

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, as_callable


@register(
    "schedule",
    "Any schedule (Keras's own included) or constant multiplied by a constant factor.",
    example={"schedule": 0.1, "factor": 0.5},
    wrapper=True,
)
class ScaledSchedule(Schedule):
    r"""Multiply a schedule by a constant factor: :math:`\eta_t = c \cdot \text{schedule}(t)`.

    This is how :class:`keras_optkit.callbacks.ReduceLROnPlateau` and :class:`keras_optkit.callbacks.NaNGuard` lower
    a learning rate that is a schedule: the shape of the schedule is kept, its scale is cut. The factor is part of
    the configuration, so a model saved after a reduction resumes with the reduced rate.

    Args:
        schedule: Any ``keras.optimizers.schedules.LearningRateSchedule`` (this package's or Keras's) or a constant
            rate (float >= 0).
        factor: The multiplier (float >= 0).

    Example:
        >>> import keras
        >>> schedule = ScaledSchedule(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), factor=0.1)
        >>> round(float(schedule(10)), 6)
        0.005
    """

    _nested = ("schedule",)

    def __init__(
        self, schedule: keras.optimizers.schedules.LearningRateSchedule | float, factor: float
    ) -> None:
        self.schedule = check.check_schedule_or_rate("schedule", schedule)
        self.factor = check.check_non_negative("factor", factor)
        self._inner = as_callable(self.schedule)

    def compute(self, step: Any) -> Any:
        return self._inner(step) * self.factor
