"""Learning-rate schedules: each a `keras.optimizers.schedules.LearningRateSchedule`.

Pass any of them as `learning_rate=` to any Keras optimizer. They compute with `keras.ops` only, so they run inside
compiled train steps on every backend (XLA included) without retracing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from keras import ops

from keras_optkit._registry import RegistryEntry, list_entries
from keras_optkit.schedules.cosine_annealing_warm_restarts import CosineAnnealingWarmRestarts
from keras_optkit.schedules.cyclical_learning_rate import CyclicalLearningRate
from keras_optkit.schedules.inverse_sqrt_decay import InverseSqrtDecay
from keras_optkit.schedules.linear_schedule import LinearSchedule
from keras_optkit.schedules.multi_step_decay import MultiStepDecay
from keras_optkit.schedules.natural_exp_decay import NaturalExpDecay
from keras_optkit.schedules.one_cycle import OneCycle
from keras_optkit.schedules.scaled_schedule import ScaledSchedule
from keras_optkit.schedules.sequential_schedule import SequentialSchedule
from keras_optkit.schedules.step_decay import StepDecay
from keras_optkit.schedules.warmup import Warmup
from keras_optkit.schedules.warmup_cosine_decay import WarmupCosineDecay
from keras_optkit.schedules.warmup_stable_decay import WarmupStableDecay

__all__ = [
    "CosineAnnealingWarmRestarts",
    "CyclicalLearningRate",
    "InverseSqrtDecay",
    "LinearSchedule",
    "MultiStepDecay",
    "NaturalExpDecay",
    "OneCycle",
    "ScaledSchedule",
    "SequentialSchedule",
    "StepDecay",
    "Warmup",
    "WarmupCosineDecay",
    "WarmupStableDecay",
    "list_schedules",
    "schedule_values",
]


def list_schedules() -> list[RegistryEntry]:
    """Every registered schedule with its one-line description and capability flags, sorted by name."""
    return list_entries("schedule")


def schedule_values(schedule: Any, steps: int | Iterable[int]) -> np.ndarray:
    """The rates of ``schedule`` at ``steps`` as a float64 NumPy array.

    Args:
        schedule: Any ``LearningRateSchedule`` (this package's, Keras's, or your own) or a constant.
        steps: A number of steps ``n`` (for steps ``0 .. n-1``) or an iterable of steps.

    The package's schedules are evaluated in one vectorized call; other schedules, which may only accept a scalar
    step, are evaluated step by step.
    """
    if isinstance(steps, (int, np.integer)):
        if steps < 0:
            raise ValueError(f"`steps` must be >= 0. Received: steps={steps!r}")
        steps = np.arange(int(steps))
    steps = np.asarray(list(steps), dtype=np.int64)
    if not callable(schedule):
        return np.full(steps.shape, float(schedule))
    if isinstance(schedule, tuple(entry.cls for entry in list_schedules())):
        try:
            values = np.asarray(ops.convert_to_numpy(schedule(steps)), dtype=np.float64)
        except (ValueError, TypeError):
            values = None  # a nested foreign schedule branches on its step: fall back to one step at a time
        if values is not None and values.shape == steps.shape:
            return values
    return np.array([float(ops.convert_to_numpy(schedule(int(step)))) for step in steps], dtype=np.float64)
