"""Natural exponential decay."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, floor_divide


@register(
    "schedule",
    "Natural exponential decay lr0 * exp(-k * t / decay_steps), optionally in stairs.",
    example={"initial_learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 100},
)
class NaturalExpDecay(Schedule):
    r"""Exponential decay with a natural base: :math:`\eta_t = \eta_0 \, e^{-k\,p}`.

    :math:`p = t / \text{decay\_steps}`, floored to an integer when ``staircase=True``. This is the exponential
    decay :math:`\eta_0 e^{-kt}` of classic SGD analyses with time measured in units of ``decay_steps``. (Keras's
    ``ExponentialDecay`` is the same family written with a base, :math:`\eta_0 r^{t/s}`, with
    :math:`r = e^{-k}`; both work everywhere in this package.)

    Args:
        initial_learning_rate: :math:`\eta_0` (> 0).
        decay_rate: :math:`k` (>= 0; 0 keeps the rate constant).
        decay_steps: Steps per unit of decay time (> 0).
        staircase: Decay in discrete jumps every ``decay_steps`` steps.

    Example:
        >>> schedule = NaturalExpDecay(0.1, decay_rate=1.0, decay_steps=10)
        >>> round(float(schedule(10)), 6)  # 0.1 / e
        0.036788

    References:
        The "exponential decay" schedule of TF 1.x ``tf.train.natural_exp_decay``; see also Bottou, Curtis &
        Nocedal, "Optimization Methods for Large-Scale Machine Learning", arXiv:1606.04838, section 4.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_rate: float,
        decay_steps: float = 1,
        staircase: bool = False,
    ) -> None:
        self.initial_learning_rate = check.check_positive("initial_learning_rate", initial_learning_rate)
        self.decay_rate = check.check_non_negative("decay_rate", decay_rate)
        self.decay_steps = check.check_positive("decay_steps", decay_steps)
        self.staircase = check.check_bool("staircase", staircase)

    def compute(self, step: Any) -> Any:
        if self.staircase:
            progress = floor_divide(step, self.decay_steps)
        else:
            progress = step / self.decay_steps
        return self.initial_learning_rate * ops.exp(-self.decay_rate * progress)
