"""What every schedule of the package shares: step handling, config, and well-conditioned interpolation.

Schedules compute in float32 on every backend. Interpolations are written as weighted sums whose weights come from
*exact* step differences (``step - phase_start`` and ``phase_end - step`` are integers, exact in float32 below
2**24), never as ``1 - fraction`` or ``1 + cos(x)`` near ``x = pi``: those forms cancel catastrophically where the
rate approaches its minimum, and a schedule ending near zero would lose most of its significant digits there.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule
HALF_PI = math.pi / 2.0


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base class of the package's schedules.

    Subclasses validate and store every ``__init__`` argument under the same attribute name and implement
    ``compute(step)`` on a float32 step tensor (any shape: the schedules are elementwise, so a vector of steps
    gives a vector of rates). ``get_config`` is derived from the ``__init__`` signature, so it cannot miss an
    argument; arguments listed in ``_nested`` hold schedules (or floats, or lists of them) and are serialized as
    nested Keras objects.
    """

    _nested: tuple[str, ...] = ()

    def __call__(self, step: Any) -> Any:
        return self.compute(ops.cast(step, "float32"))

    def compute(self, step: Any) -> Any:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name == "self":
                continue
            value = getattr(self, name)
            if name in self._nested:
                value = _serialize_nested(value)
            config[name] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        config = dict(config)
        for name in cls._nested:
            if name in config:
                config[name] = _deserialize_nested(config[name])
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def _serialize_nested(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_serialize_nested(item) for item in value]
    if isinstance(value, LearningRateSchedule):
        return keras.saving.serialize_keras_object(value)
    return value


def _deserialize_nested(value: Any) -> Any:
    if isinstance(value, list):
        return [_deserialize_nested(item) for item in value]
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


def as_callable(schedule_or_rate: Any) -> Callable[[Any], Any]:
    """A function of a float32 step tensor: the schedule itself, or a constant for a float."""
    if isinstance(schedule_or_rate, LearningRateSchedule):
        return lambda step: ops.cast(schedule_or_rate(step), "float32")
    rate = float(schedule_or_rate)
    return lambda step: ops.full_like(step, rate)


def floor_divide(step: Any, divisor: float) -> Any:
    """``floor(step / divisor)`` for integral ``step`` and ``divisor``, exact on every backend.

    XLA may divide by multiplying with a rounded reciprocal, so ``107 / 107`` can come out as ``0.99999994`` and floor
    to 0. The quotient is therefore corrected by one either way using products, which are exact for integers.
    """
    quotient = ops.floor(step / divisor)
    quotient = ops.where(quotient * divisor > step, quotient - 1.0, quotient)
    return ops.where((quotient + 1.0) * divisor <= step, quotient + 1.0, quotient)


def elapsed_and_remaining(step: Any, start: float, end: float) -> tuple[Any, Any]:
    """``(step - start, end - step)`` clipped to ``[0, end - start]``: a phase's progress, both ways."""
    length = end - start
    elapsed = ops.clip(step - start, 0.0, length)
    remaining = ops.clip(end - step, 0.0, length)
    return elapsed, remaining


def linear_mix(start_value: Any, end_value: Any, elapsed: Any, remaining: Any, length: float) -> Any:
    """Linear interpolation, ``start_value`` when ``elapsed = 0``, ``end_value`` when ``remaining = 0``."""
    return (start_value * remaining + end_value * elapsed) / length


def cosine_mix(start_value: Any, end_value: Any, elapsed: Any, remaining: Any, length: float) -> Any:
    """Half-cosine interpolation ``end + (start - end) * (1 + cos(pi * elapsed / length)) / 2``.

    Written as ``start * sin^2(pi/2 * remaining/length) + end * sin^2(pi/2 * elapsed/length)``, which is the same
    function (``(1 + cos x) / 2 = cos^2(x/2)``) but keeps full relative precision at both ends.
    """
    start_weight = ops.square(ops.sin(HALF_PI * remaining / length))
    end_weight = ops.square(ops.sin(HALF_PI * elapsed / length))
    return start_value * start_weight + end_value * end_weight
