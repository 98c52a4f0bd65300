"""Learning-rate schedules: each a `keras.optimizers.schedules.LearningRateSchedule`.

Pass any of them as `learning_rate=` to any Keras optimizer. They compute with `keras.ops` only, so they run inside
compiled train steps on every backend (XLA included) without retracing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
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

    The package's schedules are evaluated in one vectorized call. Another schedule is tried the same way, and the
    result is kept only if it has the right shape and agrees (to 1e-4) with step-by-step calls at the first, middle and last
    step (a schedule written for a scalar step may broadcast wrongly); otherwise it is evaluated step by step.
    """
    if isinstance(steps, (int, np.integer)):
        if steps < 0:
            raise ValueError(f"`steps` must be >= 0. Received: steps={steps!r}")
        steps = np.arange(int(steps))
    steps = np.asarray(list(steps), dtype=np.int64)
    if not callable(schedule):
        return np.full(steps.shape, float(schedule))

    def one(step: int) -> float:
        return float(ops.convert_to_numpy(schedule(int(step))))

    ours = isinstance(schedule, tuple(entry.cls for entry in list_schedules()))
    for vectorized in _vectorized_calls(schedule):
        try:
            values = np.asarray(ops.convert_to_numpy(vectorized(steps)), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a failed vectorized call only means: try the next way
            continue  # e.g. a foreign schedule that branches on its step with ops.cond
        if values.shape != steps.shape:
            continue
        if ours or steps.size == 0:
            return values
        probes = sorted({0, steps.size // 2, steps.size - 1})
        # float32 arithmetic compiled differently (fused, vectorized) differs in the last digits.
        if all(np.isclose(values[i], one(steps[i]), rtol=1e-4, atol=0.0) for i in probes):
            return values
    return np.array([one(step) for step in steps], dtype=np.float64)


def _vectorized_calls(schedule: Any) -> list:
    """Ways to evaluate a schedule on a vector of steps, cheapest first: a direct call, then (on JAX) a compiled
    ``vmap`` of the scalar call, which also handles schedules that branch with ``ops.cond`` (Keras's warmup)."""
    calls = [schedule]
    if keras.backend.backend() == "jax":
        import jax

        calls.append(lambda steps: jax.jit(jax.vmap(schedule))(steps))
    return calls
