"""Schedules joined end to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, as_callable


@register(
    "schedule",
    "Run schedules one after another, each from its own step 0 (PyTorch SequentialLR, optax join_schedules).",
    example={"schedules": [0.01, 0.05, 0.005], "boundaries": [100, 600]},
    wrapper=True,
)
class SequentialSchedule(Schedule):
    r"""Switch schedule at each boundary; every schedule counts its own steps from 0.

    With boundaries :math:`b_1 < \ldots < b_{n-1}` and :math:`b_0 = 0`, at step :math:`t` with
    :math:`b_i \le t < b_{i+1}`:

    .. math:: \eta_t = \text{schedules}[i](t - b_i)

    Args:
        schedules: Two or more ``LearningRateSchedule`` objects (this package's or Keras's) or constant rates.
        boundaries: Strictly increasing steps (integers >= 1), one fewer than ``schedules``.

    Example:
        >>> import keras
        >>> decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=900)
        >>> schedule = SequentialSchedule([0.01, decay], boundaries=[100])
        >>> round(float(schedule(99)), 6), round(float(schedule(100)), 6)
        (0.01, 0.1)

    References:
        PyTorch ``torch.optim.lr_scheduler.SequentialLR``; optax ``join_schedules``.
    """

    _nested = ("schedules",)

    def __init__(
        self,
        schedules: Sequence[keras.optimizers.schedules.LearningRateSchedule | float],
        boundaries: Sequence[int],
    ) -> None:
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
            raise TypeError(f"`schedules` must be a list. Received: schedules={schedules!r}")
        if len(schedules) < 2:
            raise ValueError(f"`schedules` must hold at least 2 schedules. Received: schedules={schedules!r}")
        self.schedules = [
            check.check_schedule_or_rate(f"schedules[{index}]", item) for index, item in enumerate(schedules)
        ]
        self.boundaries = check.check_increasing_ints("boundaries", boundaries, minimum=1)
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                "`boundaries` must have one entry fewer than `schedules`. "
                f"Received: boundaries={boundaries!r} for {len(self.schedules)} schedules"
            )
        self._parts = [as_callable(item) for item in self.schedules]

    def compute(self, step: Any) -> Any:
        starts = [0.0] + [float(boundary) for boundary in self.boundaries]
        rate = self._parts[-1](ops.maximum(step - starts[-1], 0.0))
        for index in range(len(self._parts) - 2, -1, -1):
            part = self._parts[index](ops.maximum(step - starts[index], 0.0))
            rate = ops.where(step < starts[index + 1], part, rate)
        return rate
