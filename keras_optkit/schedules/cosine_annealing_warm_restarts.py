"""Cosine annealing with warm restarts (SGDR)."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, cosine_mix, floor_divide, linear_mix

# Beyond 2**24 a float32 step is no longer an exact integer; cycle boundaries are tabulated up to there.
_STEP_LIMIT = 2.0**24
_MAX_CYCLES = 4096


@register(
    "schedule",
    "SGDR: cosine annealing restarted every cycle, cycles growing by cycle_mult (PyTorch CosineAnnealingWarmRestarts).",
    example={"initial_learning_rate": 0.05, "first_cycle_steps": 200, "cycle_mult": 2.0},
    cyclic=True,
)
class CosineAnnealingWarmRestarts(Schedule):
    r"""Cosine annealing with warm restarts (SGDR), optional peak decay and per-cycle warmup.

    Cycle :math:`i = 0, 1, \ldots` lasts :math:`T_i = T_0 m^i` steps (``first_cycle_steps`` times
    ``cycle_mult`` to the :math:`i`), its peak is :math:`\eta^{(i)} = \eta_0 d^i` (``peak_decay``), and at position
    :math:`p` inside it, with warmup :math:`W`:

    .. math::
        \eta_t = \begin{cases}
            \eta_{min} + (\eta^{(i)} - \eta_{min})\, p / W & p < W \\
            \eta_{min} + \tfrac{1}{2}(\eta^{(i)} - \eta_{min})\left(1 + \cos\frac{\pi (p - W)}{T_i - W}\right)
                & p \ge W
        \end{cases}

    With the defaults (``peak_decay=1``, ``warmup_steps=0``) the values equal PyTorch's
    ``CosineAnnealingWarmRestarts(T_0=first_cycle_steps, T_mult=cycle_mult, eta_min=min_learning_rate)`` stepped
    once per batch. Unlike PyTorch, ``cycle_mult`` may be fractional (e.g. 1.5); cycles then have fractional
    lengths and restarts fall between two integer steps.

    Args:
        initial_learning_rate: Peak of the first cycle (> 0).
        first_cycle_steps: :math:`T_0` (integer >= 1).
        cycle_mult: Growth factor of the cycle length (>= 1).
        min_learning_rate: The floor every cycle anneals to (>= 0).
        peak_decay: Factor applied to the peak at each restart, in (0, 1].
        warmup_steps: Linear warmup from the floor at the start of every cycle (integer,
            0 <= warmup_steps < first_cycle_steps).

    Example:
        >>> schedule = CosineAnnealingWarmRestarts(0.1, first_cycle_steps=10)
        >>> round(float(schedule(10)), 6)  # a restart
        0.1

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017, arXiv:1608.03983.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_cycle_steps: int,
        cycle_mult: float = 1.0,
        min_learning_rate: float = 0.0,
        peak_decay: float = 1.0,
        warmup_steps: int = 0,
    ) -> None:
        self.initial_learning_rate = check.check_positive("initial_learning_rate", initial_learning_rate)
        self.first_cycle_steps = check.check_int("first_cycle_steps", first_cycle_steps, minimum=1)
        self.cycle_mult = check.check_number("cycle_mult", cycle_mult)
        if self.cycle_mult < 1.0:
            raise ValueError(f"`cycle_mult` must be >= 1. Received: cycle_mult={cycle_mult!r}")
        self.min_learning_rate = check.check_non_negative("min_learning_rate", min_learning_rate)
        if self.min_learning_rate > self.initial_learning_rate:
            raise ValueError(
                "`min_learning_rate` must be <= `initial_learning_rate`. "
                f"Received: min_learning_rate={min_learning_rate!r}, initial_learning_rate={initial_learning_rate!r}"
            )
        self.peak_decay = check.check_in_range(
            "peak_decay", peak_decay, 0.0, 1.0, low_inclusive=False, high_inclusive=True
        )
        self.warmup_steps = check.check_int("warmup_steps", warmup_steps, minimum=0)
        if self.warmup_steps >= self.first_cycle_steps:
            raise ValueError(
                "`warmup_steps` must be less than `first_cycle_steps`. "
                f"Received: warmup_steps={warmup_steps!r}, first_cycle_steps={first_cycle_steps!r}"
            )
        self._boundaries = [0.0]
        if self.cycle_mult != 1.0:
            while self._boundaries[-1] < _STEP_LIMIT:
                if len(self._boundaries) > _MAX_CYCLES:
                    raise ValueError(
                        f"`cycle_mult` is so close to 1 that {_MAX_CYCLES} cycles do not reach step 2**24: use "
                        f"cycle_mult=1.0 or a larger value. Received: cycle_mult={cycle_mult!r}, "
                        f"first_cycle_steps={first_cycle_steps!r}"
                    )
                cycle_length = self.first_cycle_steps * self.cycle_mult ** (len(self._boundaries) - 1)
                self._boundaries.append(self._boundaries[-1] + cycle_length)

    def compute(self, step: Any) -> Any:
        first = float(self.first_cycle_steps)
        step = ops.maximum(step, 0.0)
        if self.cycle_mult == 1.0:
            cycle = floor_divide(step, first)
            start = cycle * first
            length = first
        else:
            # Cycle boundaries come from a table summed in float64 at construction: the closed form
            # T0 (m^i - 1) / (m - 1) evaluated in float32 is off by an ulp of a large number, which is a large
            # relative error in the few steps left before a restart.
            ends = ops.convert_to_tensor(self._boundaries[1:], dtype="float32")
            starts = ops.convert_to_tensor(self._boundaries, dtype="float32")
            passed = ops.sum(ops.cast(ops.expand_dims(step, -1) >= ends, "int32"), axis=-1)
            passed = ops.minimum(passed, len(self._boundaries) - 2)
            cycle = ops.cast(passed, "float32")
            start = ops.take(starts, passed)
            length = ops.take(starts, passed + 1) - start
        peak = self.initial_learning_rate * ops.power(self.peak_decay, cycle)
        position = ops.clip(step - start, 0.0, length)
        warmup = float(self.warmup_steps)
        annealed = cosine_mix(
            peak,
            self.min_learning_rate,
            ops.maximum(position - warmup, 0.0),
            ops.minimum(length - position, length - warmup),
            length - warmup,
        )
        if not self.warmup_steps:
            return annealed
        warm_position = ops.minimum(position, warmup)
        warm = linear_mix(self.min_learning_rate, peak, warm_position, warmup - warm_position, warmup)
        return ops.where(position < warmup, warm, annealed)
