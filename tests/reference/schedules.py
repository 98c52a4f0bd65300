"""Independent float64 reference implementations of the keras_optkit schedules.

Every function here computes the learning rate at ONE integer step
(``step == 0`` is the first training batch) with plain Python ``math`` in
float64, written as literally as possible from the formulas of the
specification (and the PyTorch / TensorFlow-Addons / Keras documentation they
cite).  Nothing here imports keras_optkit; the code is meant to be read and
checked by eye.

Public API
----------
* one ``<snake_name>(step, **config) -> float`` function per schedule,
* :func:`reference_value` ``(name, config, step) -> float`` which dispatches on
  the class name (``"OneCycle"``, ..., ``"keras.CosineDecay"``,
  ``"keras.ExponentialDecay"``),
* :data:`CASES`: ``(class_name, config, steps)`` triples to test against,
* :data:`SCALE_FN_CASES`: the same shape, for ``CyclicalLearningRate`` with a
  Python ``scale_fn`` (not serialisable, so kept out of :data:`CASES`).

Nested schedules (the ``schedule`` of ``Warmup`` and the ``schedules`` of
``SequentialSchedule``) are given as a ``(ClassName, config_dict)`` tuple or a
plain number (a constant learning rate).  A one-argument Python callable
``f(step) -> float`` is also accepted by the reference functions.

Precision notes for whoever compares a float32 implementation with these
values: the configurations in :data:`CASES` keep exponent arguments small and
use exactly-representable bases where a power is raised to a large exponent,
but a cosine that anneals all the way to (nearly) zero cannot be matched to
1e-6 *relative* near its end in float32 (``1 + cos(x)`` for ``x`` close to
``pi`` loses all relative precision); compare with an absolute tolerance
proportional to the peak learning rate as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "CASES",
    "SCALE_FN_CASES",
    "cosine_annealing_warm_restarts",
    "cyclical_learning_rate",
    "evaluate_nested",
    "inverse_sqrt_decay",
    "keras_cosine_decay",
    "keras_exponential_decay",
    "linear_schedule",
    "multi_step_decay",
    "natural_exp_decay",
    "one_cycle",
    "reference_value",
    "scaled_schedule",
    "sequential_schedule",
    "step_decay",
    "warmup",
    "warmup_cosine_decay",
    "warmup_stable_decay",
]


def _check_step(step) -> int:
    """Return ``step`` as a Python int, refusing negative or fractional steps."""
    as_int = int(step)
    if as_int != step:
        raise ValueError(f"step must be an integer, got {step!r}")
    if as_int < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    return as_int


# ---------------------------------------------------------------------------
# 1. OneCycle
# ---------------------------------------------------------------------------


def _anneal_cos(start: float, end: float, pct: float) -> float:
    """PyTorch OneCycleLR cosine anneal: ``end + (start - end) / 2 * (cos(pi * pct) + 1)``."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    """PyTorch OneCycleLR linear anneal: ``(end - start) * pct + start``."""
    return (end - start) * pct + start


def one_cycle(
    step: int,
    max_learning_rate: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal_strategy: str = "cos",
    three_phase: bool = False,
) -> float:
    """1cycle policy (Smith & Topin 2017), exactly as ``torch.optim.lr_scheduler.OneCycleLR``.

    ``initial = max / div_factor``, ``min = initial / final_div_factor``.

    Phases (``end`` values are floats, as in PyTorch):

    * two-phase: ``initial -> max`` over ``[0, pct_start * total - 1]``, then
      ``max -> min`` over ``[pct_start * total - 1, total - 1]``;
    * three-phase: ``initial -> max`` until ``pct_start * total - 1``,
      ``max -> initial`` until ``2 * pct_start * total - 2``,
      ``initial -> min`` until ``total - 1``.

    A step belongs to the first phase whose end it does not exceed
    (``step <= end``); within a phase starting at ``s0`` and ending at ``s1``,
    ``pct = (step - s0) / (s1 - s0)``.  PyTorch raises past ``total_steps``;
    here the value holds at ``min`` for every ``step >= total_steps - 1``.
    """
    step = _check_step(step)
    initial_lr = max_learning_rate / div_factor
    min_lr = initial_lr / final_div_factor

    if anneal_strategy == "cos":
        anneal = _anneal_cos
    elif anneal_strategy == "linear":
        anneal = _anneal_linear
    else:
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")

    if three_phase:
        # (end_step, start_lr, end_lr)
        phases = [
            (float(pct_start * total_steps) - 1.0, initial_lr, max_learning_rate),
            (float(2 * pct_start * total_steps) - 2.0, max_learning_rate, initial_lr),
            (float(total_steps) - 1.0, initial_lr, min_lr),
        ]
    else:
        phases = [
            (float(pct_start * total_steps) - 1.0, initial_lr, max_learning_rate),
            (float(total_steps) - 1.0, max_learning_rate, min_lr),
        ]

    if step >= total_steps - 1:
        return float(min_lr)

    phase_start = 0.0
    for index, (phase_end, start_lr, end_lr) in enumerate(phases):
        is_last = index == len(phases) - 1
        if step <= phase_end or is_last:
            pct = (step - phase_start) / (phase_end - phase_start)
            return float(anneal(start_lr, end_lr, pct))
        phase_start = phase_end
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------
# 2. CyclicalLearningRate
# ---------------------------------------------------------------------------


def cyclical_learning_rate(
    step: int,
    initial_learning_rate: float,
    maximal_learning_rate: float,
    step_size: int,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[float], float] | None = None,
    scale_mode: str = "cycle",
) -> float:
    """Cyclical learning rate (Smith 2017), TF-Addons ``CyclicalLearningRate`` / PyTorch ``CyclicLR``.

    ``cycle = floor(1 + step / (2 * step_size))``,
    ``x = |step / step_size - 2 * cycle + 1|``,
    ``lr = initial + (max - initial) * max(0, 1 - x) * scale``.

    Built-in modes (PyTorch: the mode fixes the scale function *and* its
    argument, ``scale_mode`` is only used together with ``scale_fn``):

    * ``"triangular"``: ``scale = 1``;
    * ``"triangular2"``: ``scale = 1 / 2 ** (cycle - 1)``;
    * ``"exp_range"``: ``scale = gamma ** step`` (always the iteration count).

    A ``scale_fn`` replaces the mode's scale function; it is then evaluated at
    ``cycle`` if ``scale_mode == "cycle"`` else at ``step``.
    """
    step = _check_step(step)
    cycle = math.floor(1.0 + step / (2.0 * step_size))
    x = abs(step / step_size - 2.0 * cycle + 1.0)
    triangle = max(0.0, 1.0 - x)

    if scale_fn is not None:
        if scale_mode == "cycle":
            scale = scale_fn(cycle)
        elif scale_mode == "iterations":
            scale = scale_fn(step)
        else:
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
    elif mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1.0 / (2.0 ** (cycle - 1))
    elif mode == "exp_range":
        scale = gamma**step
    else:
        raise ValueError(f"unknown mode {mode!r}")

    amplitude = maximal_learning_rate - initial_learning_rate
    return float(initial_learning_rate + amplitude * triangle * float(scale))


# ---------------------------------------------------------------------------
# 3. CosineAnnealingWarmRestarts
# ---------------------------------------------------------------------------


def _locate_cycle(step: int, first_cycle_steps: float, cycle_mult: float):
    """Walk cycle by cycle; return ``(index, position_in_cycle, cycle_length)``.

    Cycle ``i`` has length ``first_cycle_steps * cycle_mult ** i`` and starts
    where cycle ``i - 1`` ends.
    """
    index = 0
    cycle_start = 0.0
    length = float(first_cycle_steps)
    while step >= cycle_start + length:
        cycle_start = cycle_start + length
        index += 1
        length = first_cycle_steps * cycle_mult**index
        if index > 1_000_000:
            raise ValueError("step lies beyond the end of all cycles (cycle_mult < 1?)")
    return index, step - cycle_start, length


def cosine_annealing_warm_restarts(
    step: int,
    initial_learning_rate: float,
    first_cycle_steps: int,
    cycle_mult: float = 1.0,
    min_learning_rate: float = 0.0,
    peak_decay: float = 1.0,
    warmup_steps: int = 0,
) -> float:
    """SGDR (Loshchilov & Hutter 2017) with optional per-cycle linear warmup and peak decay.

    Cycle ``i`` has length ``L_i = first_cycle_steps * cycle_mult ** i`` and
    peak ``peak_i = initial_learning_rate * peak_decay ** i``.  At position
    ``p`` in cycle ``i`` (``0 <= p < L_i``):

    * ``p < warmup_steps``: ``min + (peak_i - min) * p / warmup_steps``;
    * otherwise: ``min + (peak_i - min) * (1 + cos(pi * (p - w) / (L_i - w))) / 2``.

    With the defaults this is ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``
    (``T_0 = first_cycle_steps``, ``T_mult = cycle_mult``, ``eta_min = min_learning_rate``).
    """
    step = _check_step(step)
    index, position, length = _locate_cycle(step, first_cycle_steps, cycle_mult)
    peak = initial_learning_rate * peak_decay**index
    low = min_learning_rate
    if position < warmup_steps:
        return float(low + (peak - low) * position / warmup_steps)
    progress = (position - warmup_steps) / (length - warmup_steps)
    return float(low + (peak - low) * (1.0 + math.cos(math.pi * progress)) / 2.0)


# ---------------------------------------------------------------------------
# 4. WarmupCosineDecay
# ---------------------------------------------------------------------------


def warmup_cosine_decay(
    step: int,
    peak_learning_rate: float,
    total_steps: int,
    warmup_steps: int = 0,
    initial_learning_rate: float = 0.0,
    final_learning_rate: float = 0.0,
) -> float:
    """Linear warmup (Goyal et al. 2017) then cosine decay (Loshchilov & Hutter 2017).

    * ``step < warmup``: ``initial + (peak - initial) * step / warmup``;
    * ``warmup <= step < total``:
      ``final + (peak - final) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2``;
    * ``step >= total``: ``final``.
    """
    step = _check_step(step)
    if step < warmup_steps:
        return float(
            initial_learning_rate
            + (peak_learning_rate - initial_learning_rate) * step / warmup_steps
        )
    if step < total_steps:
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return float(
            final_learning_rate
            + (peak_learning_rate - final_learning_rate) * (1.0 + math.cos(math.pi * progress)) / 2.0
        )
    return float(final_learning_rate)


# ---------------------------------------------------------------------------
# 5. NaturalExpDecay
# ---------------------------------------------------------------------------


def natural_exp_decay(
    step: int,
    initial_learning_rate: float,
    decay_rate: float,
    decay_steps: int = 1,
    staircase: bool = False,
) -> float:
    """TF1 ``tf.compat.v1.train.natural_exp_decay``: ``initial * exp(-decay_rate * p)``.

    ``p = step / decay_steps``, floored when ``staircase``.
    """
    step = _check_step(step)
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return float(initial_learning_rate * math.exp(-decay_rate * p))


# ---------------------------------------------------------------------------
# 6. StepDecay / 7. MultiStepDecay
# ---------------------------------------------------------------------------


def step_decay(
    step: int,
    initial_learning_rate: float,
    step_size: int,
    gamma: float = 0.1,
) -> float:
    """PyTorch ``StepLR``: ``initial * gamma ** (step // step_size)``."""
    step = _check_step(step)
    return float(initial_learning_rate * gamma ** (step // step_size))


def multi_step_decay(
    step: int,
    initial_learning_rate: float,
    milestones,
    gamma: float = 0.1,
) -> float:
    """PyTorch ``MultiStepLR``: ``initial * gamma ** #{m in milestones : m <= step}``.

    Repeated milestones count once per occurrence (as PyTorch's ``Counter``).
    """
    step = _check_step(step)
    count = 0
    for milestone in milestones:
        if milestone <= step:
            count += 1
    return float(initial_learning_rate * gamma**count)


# ---------------------------------------------------------------------------
# 8. LinearSchedule
# ---------------------------------------------------------------------------


def linear_schedule(
    step: int,
    initial_learning_rate: float,
    final_learning_rate: float,
    total_steps: int,
) -> float:
    """Linear interpolation from ``initial`` (step 0) to ``final`` (step ``total_steps``), then ``final``.

    Same as Keras ``PolynomialDecay(power=1)`` / PyTorch ``LinearLR``.
    """
    step = _check_step(step)
    if step >= total_steps:
        return float(final_learning_rate)
    fraction = step / total_steps
    return float(initial_learning_rate + (final_learning_rate - initial_learning_rate) * fraction)


# ---------------------------------------------------------------------------
# 9. InverseSqrtDecay
# ---------------------------------------------------------------------------


def inverse_sqrt_decay(step: int, peak_learning_rate: float, warmup_steps: int) -> float:
    """Transformer schedule (Vaswani et al. 2017, eq. 3) rescaled to peak at ``peak_learning_rate``.

    Paper: ``d_model ** -0.5 * min(n ** -0.5, n * warmup ** -1.5)`` with the
    1-based step number ``n = step + 1``; its maximum (at ``n = warmup``) is
    ``d_model ** -0.5 * warmup ** -0.5``.  Dividing by it and multiplying by
    the peak gives ``peak * min(n / warmup, sqrt(warmup / n))``.
    """
    step = _check_step(step)
    n = step + 1
    return float(peak_learning_rate * min(n / warmup_steps, math.sqrt(warmup_steps / n)))


# ---------------------------------------------------------------------------
# 10. WarmupStableDecay
# ---------------------------------------------------------------------------


def warmup_stable_decay(
    step: int,
    peak_learning_rate: float,
    total_steps: int,
    warmup_steps: int,
    decay_steps: int,
    final_learning_rate: float = 0.0,
    decay_shape: str = "linear",
) -> float:
    """Warmup-Stable-Decay ("trapezoidal") schedule (Hu et al. 2024, MiniCPM; Hägele et al. 2024).

    * ``step < warmup``: ``peak * step / warmup``;
    * ``warmup <= step < decay_start = total - decay_steps``: ``peak``;
    * ``decay_start <= step < total``, ``q = (step - decay_start) / decay_steps``:
      linear ``final + (peak - final) * (1 - q)``,
      cosine ``final + (peak - final) * (1 + cos(pi * q)) / 2``,
      sqrt ``final + (peak - final) * (1 - sqrt(q))``;
    * ``step >= total``: ``final``.
    """
    step = _check_step(step)
    if decay_shape not in ("linear", "cosine", "sqrt"):
        raise ValueError(f"unknown decay_shape {decay_shape!r}")
    peak = peak_learning_rate
    final = final_learning_rate
    decay_start = total_steps - decay_steps
    if step < warmup_steps:
        return float(peak * step / warmup_steps)
    if step < decay_start:
        return float(peak)
    if step < total_steps:
        q = (step - decay_start) / decay_steps
        if decay_shape == "linear":
            factor = 1.0 - q
        elif decay_shape == "cosine":
            factor = (1.0 + math.cos(math.pi * q)) / 2.0
        else:
            factor = 1.0 - math.sqrt(q)
        return float(final + (peak - final) * factor)
    return float(final)


# ---------------------------------------------------------------------------
# Nested schedules
# ---------------------------------------------------------------------------


def evaluate_nested(spec, step: int) -> float:
    """Value of a nested schedule ``spec`` at ``step``.

    ``spec`` is a number (constant), a ``(ClassName, config)`` tuple (or
    2-list), or a one-argument callable.
    """
    step = _check_step(step)
    if isinstance(spec, bool):
        raise TypeError("a bool is not a schedule")
    if isinstance(spec, (int, float)):
        return float(spec)
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        return reference_value(spec[0], spec[1], step)
    if callable(spec):
        return float(spec(step))
    raise TypeError(f"cannot interpret nested schedule {spec!r}")


# ---------------------------------------------------------------------------
# 11. Warmup
# ---------------------------------------------------------------------------


def warmup(
    step: int,
    schedule,
    warmup_steps: int,
    initial_learning_rate: float = 0.0,
    shape: str = "linear",
) -> float:
    """Warmup wrapper (linear: Goyal et al. 2017) in front of another schedule.

    ``target = schedule(0)``.  For ``step < warmup_steps`` with
    ``r = step / warmup_steps``:

    * linear: ``initial + (target - initial) * r``;
    * cosine: ``initial + (target - initial) * (1 - cos(pi * r)) / 2``;
    * exponential: ``initial * (target / initial) ** r`` (needs ``initial > 0``).

    For ``step >= warmup_steps``: ``schedule(step - warmup_steps)`` (the
    wrapped schedule starts at its own step 0 when warmup ends).
    """
    step = _check_step(step)
    if shape not in ("linear", "cosine", "exponential"):
        raise ValueError(f"unknown shape {shape!r}")
    if step >= warmup_steps:
        return evaluate_nested(schedule, step - warmup_steps)
    target = evaluate_nested(schedule, 0)
    initial = initial_learning_rate
    r = step / warmup_steps
    if shape == "linear":
        return float(initial + (target - initial) * r)
    if shape == "cosine":
        return float(initial + (target - initial) * (1.0 - math.cos(math.pi * r)) / 2.0)
    if initial <= 0.0:
        raise ValueError("exponential warmup needs initial_learning_rate > 0")
    return float(initial * (target / initial) ** r)


# ---------------------------------------------------------------------------
# 12. SequentialSchedule
# ---------------------------------------------------------------------------


def sequential_schedule(step: int, schedules, boundaries) -> float:
    """Schedules joined at ``boundaries`` (PyTorch ``SequentialLR`` / optax ``join_schedules``).

    ``i = #{b in boundaries : b <= step}``; the value is
    ``schedules[i](step - start_i)`` with ``start_0 = 0`` and
    ``start_i = boundaries[i - 1]``: each schedule restarts from its own step 0.
    """
    step = _check_step(step)
    if len(boundaries) != len(schedules) - 1:
        raise ValueError("need len(boundaries) == len(schedules) - 1")
    for left, right in zip(boundaries[:-1], boundaries[1:], strict=True):
        if not left < right:
            raise ValueError("boundaries must be strictly increasing")
    index = 0
    for boundary in boundaries:
        if boundary <= step:
            index += 1
    start = 0 if index == 0 else boundaries[index - 1]
    return evaluate_nested(schedules[index], step - start)


# ---------------------------------------------------------------------------
# Keras built-ins (so that wrapped Keras schedules can be checked)
# ---------------------------------------------------------------------------


def keras_cosine_decay(
    step: int,
    initial_learning_rate: float,
    decay_steps: int,
    alpha: float = 0.0,
    name=None,
    warmup_target: float | None = None,
    warmup_steps: int = 0,
) -> float:
    """``keras.optimizers.schedules.CosineDecay`` (formula from its docstring).

    Without ``warmup_target``: no warmup, decay from ``initial_learning_rate``
    starting at step 0.  With it: linear warmup from ``initial_learning_rate``
    to ``warmup_target`` over ``warmup_steps`` steps, then the decay from
    ``warmup_target`` on ``step - warmup_steps``.  The decay is
    ``s = min(s, decay_steps)``, ``decayed = (1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha``,
    ``lr = initial_decay_lr * decayed``.  (The docstring's warmup snippet
    omits the ``+ initial_learning_rate`` term; the prose, "from
    initial_learning_rate to warmup_target", and the class itself include it.)
    """
    del name
    step = _check_step(step)

    def decayed(decay_from: float, s: float) -> float:
        s = min(s, decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / decay_steps))
        return decay_from * ((1.0 - alpha) * cosine + alpha)

    if warmup_target is None:
        return float(decayed(initial_learning_rate, step))
    if step < warmup_steps:
        fraction = step / warmup_steps
        return float(initial_learning_rate + fraction * (warmup_target - initial_learning_rate))
    return float(decayed(warmup_target, step - warmup_steps))


def keras_exponential_decay(
    step: int,
    initial_learning_rate: float,
    decay_steps: int,
    decay_rate: float,
    staircase: bool = False,
    name=None,
) -> float:
    """``keras.optimizers.schedules.ExponentialDecay``: ``initial * decay_rate ** (step / decay_steps)``.

    The exponent is floored when ``staircase``.
    """
    del name
    step = _check_step(step)
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return float(initial_learning_rate * decay_rate**p)


# ---------------------------------------------------------------------------
# 13. ScaledSchedule
# ---------------------------------------------------------------------------


def scaled_schedule(step: int, schedule, factor: float) -> float:
    """``factor * schedule(step)``."""
    return float(factor) * evaluate_nested(schedule, _check_step(step))


# ---------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------

_REFERENCES = {
    "OneCycle": one_cycle,
    "CyclicalLearningRate": cyclical_learning_rate,
    "CosineAnnealingWarmRestarts": cosine_annealing_warm_restarts,
    "WarmupCosineDecay": warmup_cosine_decay,
    "NaturalExpDecay": natural_exp_decay,
    "StepDecay": step_decay,
    "MultiStepDecay": multi_step_decay,
    "LinearSchedule": linear_schedule,
    "InverseSqrtDecay": inverse_sqrt_decay,
    "WarmupStableDecay": warmup_stable_decay,
    "Warmup": warmup,
    "SequentialSchedule": sequential_schedule,
    "ScaledSchedule": scaled_schedule,
    "keras.CosineDecay": keras_cosine_decay,
    "keras.ExponentialDecay": keras_exponential_decay,
}


def reference_value(name: str, config: dict, step: int) -> float:
    """Reference learning rate of schedule class ``name`` with ``config`` at ``step``.

    A ``"name"`` key in ``config`` (the Keras object name) is ignored.
    """
    try:
        function = _REFERENCES[name]
    except KeyError:
        raise KeyError(f"no reference for schedule {name!r}") from None
    kwargs = {key: value for key, value in config.items() if key != "name"}
    return function(step, **kwargs)


# ---------------------------------------------------------------------------
# Test cases
# ---------------------------------------------------------------------------


def _around(points, extra=(), past=()):
    """Sorted distinct non-negative ints: 0, each point with its neighbours, ``extra`` and ``past``.

    A fractional point contributes floor - 1 .. ceil + 1.
    """
    steps = {0}
    for point in points:
        low = math.floor(point)
        high = math.ceil(point)
        for candidate in range(low - 1, high + 2):
            if candidate >= 0:
                steps.add(candidate)
    steps.update(int(s) for s in extra)
    steps.update(int(s) for s in past)
    return sorted(steps)


CASES = [
    # ---- OneCycle -------------------------------------------------------
    # defaults: two-phase cos; phase ends 29 (0.3*100-1) and 99.
    ("OneCycle", {"max_learning_rate": 0.1, "total_steps": 100},
     _around([29, 99], extra=[10, 15, 50, 75, 97], past=[150, 1000])),
    # two-phase linear, custom factors; ends 249 and 999.
    ("OneCycle", {"max_learning_rate": 1.0, "total_steps": 1000, "pct_start": 0.25,
                  "div_factor": 10.0, "final_div_factor": 100.0, "anneal_strategy": "linear"},
     _around([249, 999], extra=[100, 500, 750], past=[1500, 5000])),
    # three-phase cos; ends 59, 118, 199.
    ("OneCycle", {"max_learning_rate": 0.01, "total_steps": 200, "three_phase": True},
     _around([59, 118, 199], extra=[30, 90, 150, 190], past=[250, 400])),
    # three-phase linear with fractional phase ends 16.1, 32.2 and 56.
    ("OneCycle", {"max_learning_rate": 0.5, "total_steps": 57, "anneal_strategy": "linear",
                  "three_phase": True, "div_factor": 5.0, "final_div_factor": 50.0},
     _around([16.1, 32.2, 56], extra=[8, 24, 45], past=[70, 200])),
    # short two-phase cos, pct_start 0.4: ends 3 and 9.
    ("OneCycle", {"max_learning_rate": 0.3, "total_steps": 10, "pct_start": 0.4,
                  "div_factor": 3.0, "final_div_factor": 10.0},
     _around([3, 9], extra=[5, 6, 7], past=[20, 100])),
    # ---- CyclicalLearningRate -------------------------------------------
    # triangular (defaults): half-cycle boundaries at multiples of 10.
    ("CyclicalLearningRate", {"initial_learning_rate": 1e-4, "maximal_learning_rate": 1e-2,
                              "step_size": 10},
     _around([10, 20, 30, 40], extra=[5, 15, 25, 55], past=[101, 1000, 1005])),
    # triangular2: amplitude halves every cycle (cycle length 10).
    ("CyclicalLearningRate", {"initial_learning_rate": 0.01, "maximal_learning_rate": 0.1,
                              "step_size": 5, "mode": "triangular2"},
     _around([5, 10, 15, 20, 25, 30], extra=[2, 12, 33, 45], past=[60, 95, 100])),
    # exp_range with an exactly representable gamma (1 - 2**-8).
    ("CyclicalLearningRate", {"initial_learning_rate": 0.001, "maximal_learning_rate": 0.006,
                              "step_size": 8, "mode": "exp_range", "gamma": 0.99609375},
     _around([8, 16, 24, 32], extra=[4, 12, 100, 140], past=[400, 1000])),
    # exp_range, scale_mode="iterations" said explicitly (same semantics).
    ("CyclicalLearningRate", {"initial_learning_rate": 0.002, "maximal_learning_rate": 0.02,
                              "step_size": 20, "mode": "exp_range", "gamma": 0.998046875,
                              "scale_mode": "iterations"},
     _around([20, 40, 60, 80], extra=[10, 30, 70, 150], past=[500, 1000])),
    # triangular with scale_mode="iterations" (scale is 1 either way).
    ("CyclicalLearningRate", {"initial_learning_rate": 0.05, "maximal_learning_rate": 0.5,
                              "step_size": 3, "scale_mode": "iterations"},
     _around([3, 6, 9, 12], extra=[1, 5, 8], past=[31, 100])),
    # triangular2 with scale_mode="iterations": as in PyTorch, the built-in
    # mode keeps using the cycle number (scale_mode only matters with scale_fn).
    ("CyclicalLearningRate", {"initial_learning_rate": 0.0, "maximal_learning_rate": 1.0,
                              "step_size": 4, "mode": "triangular2", "scale_mode": "iterations"},
     _around([4, 8, 12, 16], extra=[2, 6, 10, 14, 18], past=[30, 41])),
    # ---- CosineAnnealingWarmRestarts ------------------------------------
    # defaults: restarts every 10 steps.
    ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     _around([10, 20, 30], extra=[5, 15, 35, 99], past=[100, 101, 1000])),
    # cycle_mult 2, min lr: cycles start at 0, 8, 24, 56, 120, 248.
    ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.05, "first_cycle_steps": 8,
                                     "cycle_mult": 2.0, "min_learning_rate": 1e-3},
     _around([8, 24, 56, 120, 248], extra=[4, 16, 40, 88, 200], past=[500, 1000])),
    # fractional cycle lengths 10, 15, 22.5, 33.75, 50.625, 75.9375 and peak decay;
    # cycles start at 0, 10, 25, 47.5, 81.25, 131.875, 207.8125.
    ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.2, "first_cycle_steps": 10,
                                     "cycle_mult": 1.5, "peak_decay": 0.5},
     _around([10, 25, 47.5, 81.25, 131.875, 207.8125], extra=[5, 17, 36, 60, 100],
             past=[250, 300])),
    # per-cycle warmup of 3 steps, peak decay 0.8, min lr; cycles of 20.
    ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 0.01, "first_cycle_steps": 20,
                                     "min_learning_rate": 1e-4, "peak_decay": 0.8,
                                     "warmup_steps": 3},
     _around([3, 20, 23, 40, 43, 60, 63], extra=[1, 12, 30, 50], past=[200, 203, 250])),
    # warmup with fractional cycles (cycle_mult 1.5): cycles start at 0, 10, 25, 47.5, 81.25.
    ("CosineAnnealingWarmRestarts", {"initial_learning_rate": 1.0, "first_cycle_steps": 10,
                                     "cycle_mult": 1.5, "min_learning_rate": 0.1,
                                     "warmup_steps": 2},
     _around([2, 10, 12, 25, 27, 47.5, 49.5, 81.25, 83.25], extra=[6, 18, 35, 65],
             past=[131, 132, 200])),
    # ---- WarmupCosineDecay ----------------------------------------------
    # no warmup (defaults).
    ("WarmupCosineDecay", {"peak_learning_rate": 0.1, "total_steps": 100},
     _around([100], extra=[1, 25, 50, 75], past=[150, 10000])),
    # warmup 10 from 0 to peak, decay to 0 at 100.
    ("WarmupCosineDecay", {"peak_learning_rate": 0.05, "total_steps": 100, "warmup_steps": 10},
     _around([10, 100], extra=[5, 40, 55, 80], past=[200, 1000])),
    # warmup from a non-zero initial, decay to a non-zero final.
    ("WarmupCosineDecay", {"peak_learning_rate": 1e-2, "total_steps": 50, "warmup_steps": 5,
                           "initial_learning_rate": 1e-3, "final_learning_rate": 1e-4},
     _around([5, 50], extra=[2, 20, 27, 40], past=[80, 500])),
    # the shortest decay: warmup_steps = total_steps - 1 (warmup_steps must be < total_steps).
    ("WarmupCosineDecay", {"peak_learning_rate": 0.3, "total_steps": 21, "warmup_steps": 20,
                           "final_learning_rate": 0.01},
     _around([20, 21], extra=[5, 10], past=[40, 100])),
    # ---- NaturalExpDecay ------------------------------------------------
    # defaults (decay_steps 1); exponent reaches -8.
    ("NaturalExpDecay", {"initial_learning_rate": 0.1, "decay_rate": 0.5},
     _around([], extra=[1, 2, 3, 5, 8, 11], past=[14, 16])),
    # continuous, decay_steps 100; exponent reaches -8.
    ("NaturalExpDecay", {"initial_learning_rate": 1.0, "decay_rate": 1.0, "decay_steps": 100},
     _around([100, 200], extra=[1, 50, 150, 333], past=[500, 800])),
    # staircase, decay_steps 10; exponent reaches -7.5.
    ("NaturalExpDecay", {"initial_learning_rate": 0.01, "decay_rate": 0.3, "decay_steps": 10,
                         "staircase": True},
     _around([10, 20, 30], extra=[5, 15, 99, 125], past=[200, 250])),
    # ---- StepDecay ------------------------------------------------------
    # default gamma 0.1.
    ("StepDecay", {"initial_learning_rate": 0.1, "step_size": 30},
     _around([30, 60, 90], extra=[15, 45, 75], past=[120, 149])),
    # gamma 0.5, step_size 7.
    ("StepDecay", {"initial_learning_rate": 1.0, "step_size": 7, "gamma": 0.5},
     _around([7, 14, 21], extra=[3, 10, 50], past=[70, 100])),
    # step_size 1 (decays every step), exactly representable gamma 0.75.
    ("StepDecay", {"initial_learning_rate": 0.2, "step_size": 1, "gamma": 0.75},
     _around([1, 2], extra=[5, 10, 20], past=[30, 40])),
    # ---- MultiStepDecay -------------------------------------------------
    # default gamma 0.1.
    ("MultiStepDecay", {"initial_learning_rate": 0.1, "milestones": [30, 80]},
     _around([30, 80], extra=[10, 50, 70], past=[200, 1000])),
    # four milestones, gamma 0.5.
    ("MultiStepDecay", {"initial_learning_rate": 1.0, "milestones": [5, 10, 15, 20],
                        "gamma": 0.5},
     _around([5, 10, 15, 20], extra=[2, 12, 18], past=[50, 100])),
    # milestones 1 (the first step after step 0) and 3 adjacent to each other, gamma 0.3.
    ("MultiStepDecay", {"initial_learning_rate": 0.03, "milestones": [1, 3, 4],
                        "gamma": 0.3},
     _around([1, 3, 4], extra=[2], past=[10, 1000])),
    # ---- LinearSchedule -------------------------------------------------
    # decreasing to 0.
    ("LinearSchedule", {"initial_learning_rate": 0.1, "final_learning_rate": 0.0,
                        "total_steps": 100},
     _around([100], extra=[1, 25, 50, 75], past=[150, 1000])),
    # increasing.
    ("LinearSchedule", {"initial_learning_rate": 1e-3, "final_learning_rate": 1e-2,
                        "total_steps": 50},
     _around([50], extra=[10, 25, 37], past=[60, 500])),
    # a single step.
    ("LinearSchedule", {"initial_learning_rate": 0.5, "final_learning_rate": 0.25,
                        "total_steps": 1},
     _around([1], past=[5, 100])),
    # ---- InverseSqrtDecay -----------------------------------------------
    # the paper's warmup 4000; peak at step 3999 (n = 4000).
    ("InverseSqrtDecay", {"peak_learning_rate": 1e-3, "warmup_steps": 4000},
     _around([3999], extra=[1, 1000, 2000, 10000], past=[50000, 99999])),
    # warmup 1: peak at step 0, then peak / sqrt(n).
    ("InverseSqrtDecay", {"peak_learning_rate": 0.5, "warmup_steps": 1},
     _around([0], extra=[3, 8, 99], past=[1000, 10000])),
    # small warmup 10: peak at step 9.
    ("InverseSqrtDecay", {"peak_learning_rate": 0.01, "warmup_steps": 10},
     _around([9], extra=[4, 20, 39], past=[1000, 100000])),
    # ---- WarmupStableDecay ----------------------------------------------
    # linear decay (default shape, final 0): warmup 10, stable to 80, decay to 100.
    ("WarmupStableDecay", {"peak_learning_rate": 0.1, "total_steps": 100, "warmup_steps": 10,
                           "decay_steps": 20},
     _around([10, 80, 100], extra=[5, 40, 90], past=[150, 1000])),
    # cosine decay to a non-zero final.
    ("WarmupStableDecay", {"peak_learning_rate": 3e-3, "total_steps": 200, "warmup_steps": 20,
                           "decay_steps": 50, "final_learning_rate": 3e-4,
                           "decay_shape": "cosine"},
     _around([20, 150, 200], extra=[10, 100, 175], past=[300, 2000])),
    # sqrt decay to 0.
    ("WarmupStableDecay", {"peak_learning_rate": 1.0, "total_steps": 60, "warmup_steps": 6,
                           "decay_steps": 24, "decay_shape": "sqrt"},
     _around([6, 36, 60], extra=[3, 20, 42, 48], past=[100, 600])),
    # no warmup, no stable phase (decay over everything), linear to a non-zero final.
    ("WarmupStableDecay", {"peak_learning_rate": 0.02, "total_steps": 40, "warmup_steps": 0,
                           "decay_steps": 40, "final_learning_rate": 0.002},
     _around([40], extra=[10, 20, 30], past=[41, 80])),
    # warmup straight into decay (no stable phase), sqrt shape, non-zero final.
    ("WarmupStableDecay", {"peak_learning_rate": 0.4, "total_steps": 30, "warmup_steps": 10,
                           "decay_steps": 20, "final_learning_rate": 0.04,
                           "decay_shape": "sqrt"},
     _around([10, 30], extra=[5, 15, 20, 25], past=[60])),
    # ---- Warmup ---------------------------------------------------------
    # linear warmup (defaults) to a constant.
    ("Warmup", {"schedule": 0.1, "warmup_steps": 10},
     _around([10], extra=[3, 5, 7], past=[20, 1000])),
    # cosine warmup in front of WarmupCosineDecay, from a non-zero initial.
    ("Warmup", {"schedule": ("WarmupCosineDecay", {"peak_learning_rate": 0.05,
                                                   "total_steps": 80,
                                                   "final_learning_rate": 0.005}),
                "warmup_steps": 20, "initial_learning_rate": 1e-4, "shape": "cosine"},
     _around([20, 100], extra=[5, 10, 15, 60], past=[150, 1000])),
    # exponential warmup in front of StepDecay.
    ("Warmup", {"schedule": ("StepDecay", {"initial_learning_rate": 0.1, "step_size": 10,
                                           "gamma": 0.5}),
                "warmup_steps": 8, "initial_learning_rate": 1e-5, "shape": "exponential"},
     _around([8, 18, 28], extra=[2, 4, 6, 13], past=[60, 100])),
    # linear warmup from non-zero initial in front of a Keras CosineDecay.
    ("Warmup", {"schedule": ("keras.CosineDecay", {"initial_learning_rate": 0.02,
                                                   "decay_steps": 100, "alpha": 0.1}),
                "warmup_steps": 5, "initial_learning_rate": 0.002},
     _around([5, 105], extra=[2, 30, 55, 80], past=[200, 1000])),
    # exponential warmup in front of a Keras ExponentialDecay.
    ("Warmup", {"schedule": ("keras.ExponentialDecay", {"initial_learning_rate": 0.01,
                                                        "decay_steps": 20,
                                                        "decay_rate": 0.5}),
                "warmup_steps": 12, "initial_learning_rate": 1e-4, "shape": "exponential"},
     _around([12], extra=[3, 6, 9, 32, 52], past=[100, 150])),
    # ---- SequentialSchedule ---------------------------------------------
    # constant then StepDecay (restarting from its own step 0 at the boundary).
    ("SequentialSchedule", {"schedules": [0.01, ("StepDecay", {"initial_learning_rate": 0.1,
                                                              "step_size": 5,
                                                              "gamma": 0.5})],
                            "boundaries": [10]},
     _around([10, 15, 20], extra=[5, 30], past=[50, 60])),
    # three pieces: linear warmup, cosine decay, constant tail.
    ("SequentialSchedule", {"schedules": [("LinearSchedule", {"initial_learning_rate": 0.0,
                                                              "final_learning_rate": 0.1,
                                                              "total_steps": 10}),
                                          ("WarmupCosineDecay", {"peak_learning_rate": 0.1,
                                                                 "total_steps": 50,
                                                                 "final_learning_rate": 1e-3}),
                                          1e-3],
                            "boundaries": [10, 60]},
     _around([10, 60], extra=[5, 30, 35, 45], past=[100, 1000])),
    # Keras ExponentialDecay then MultiStepDecay.
    ("SequentialSchedule", {"schedules": [("keras.ExponentialDecay", {"initial_learning_rate": 0.1,
                                                                      "decay_steps": 10,
                                                                      "decay_rate": 0.5,
                                                                      "staircase": True}),
                                          ("MultiStepDecay", {"initial_learning_rate": 0.02,
                                                              "milestones": [5, 15]})],
                            "boundaries": [25]},
     _around([10, 20, 25, 30, 40], extra=[5, 35], past=[100, 500])),
    # a Warmup inside, then a Keras CosineDecay with its own warmup.
    ("SequentialSchedule", {"schedules": [("Warmup", {"schedule": 0.05, "warmup_steps": 4,
                                                      "shape": "cosine"}),
                                          ("keras.CosineDecay", {"initial_learning_rate": 0.0,
                                                                 "decay_steps": 30,
                                                                 "warmup_target": 0.05,
                                                                 "warmup_steps": 5})],
                            "boundaries": [8]},
     _around([4, 8, 13, 43], extra=[2, 20, 30], past=[60, 100])),
    # ---- ScaledSchedule -------------------------------------------------
    ("ScaledSchedule", {"schedule": 0.1, "factor": 0.25}, _around([0], extra=[5], past=[100])),
    ("ScaledSchedule", {"schedule": ("OneCycle", {"max_learning_rate": 0.1, "total_steps": 40}),
                        "factor": 0.1},
     _around([12, 40], extra=[1, 20, 30], past=[60])),
    ("ScaledSchedule", {"schedule": ("keras.ExponentialDecay", {"initial_learning_rate": 0.1,
                                                                "decay_steps": 10,
                                                                "decay_rate": 0.5,
                                                                "staircase": True}),
                        "factor": 0.3},
     _around([10, 20], extra=[5], past=[45])),
    # ---- keras.CosineDecay ----------------------------------------------
    # defaults (no warmup, alpha 0).
    ("keras.CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 100},
     _around([100], extra=[1, 25, 50, 75], past=[150, 1000])),
    # alpha floor.
    ("keras.CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 40, "alpha": 0.1},
     _around([40], extra=[10, 20, 30], past=[100, 400])),
    # warmup from 0 to the target, then decay.
    ("keras.CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 90,
                           "warmup_target": 0.1, "warmup_steps": 10},
     _around([10, 100], extra=[5, 40, 55, 80], past=[150, 1000])),
    # warmup from a non-zero initial, with alpha.
    ("keras.CosineDecay", {"initial_learning_rate": 1e-3, "decay_steps": 50, "alpha": 0.05,
                           "warmup_target": 1e-2, "warmup_steps": 20},
     _around([20, 70], extra=[10, 30, 45, 60], past=[100, 300])),
    # ---- keras.ExponentialDecay -----------------------------------------
    # decay_rate 15/16 is exact in float32 (0.96 would drift by ~1e-6 relative by step 1000).
    ("keras.ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10,
                                "decay_rate": 0.9375},
     _around([10, 20], extra=[5, 55, 100], past=[500, 1000])),
    ("keras.ExponentialDecay", {"initial_learning_rate": 1.0, "decay_steps": 7,
                                "decay_rate": 0.5, "staircase": True},
     _around([7, 14, 21], extra=[3, 30, 45], past=[60, 69])),
    ("keras.ExponentialDecay", {"initial_learning_rate": 0.01, "decay_steps": 10000,
                                "decay_rate": 0.5},
     _around([10000], extra=[1, 2500, 5000, 25000], past=[50000, 80000])),
]


# ---------------------------------------------------------------------------
# CyclicalLearningRate with a Python scale_fn (not serialisable, so not in CASES)
# ---------------------------------------------------------------------------


def half_per_cycle(x: float) -> float:
    """Example ``scale_fn``: ``0.5 ** (x - 1)`` (equals triangular2 when given the cycle)."""
    return 0.5 ** (x - 1)


def hyperbolic(x: float) -> float:
    """Example ``scale_fn``: ``1 / (1 + 0.01 * x)``."""
    return 1.0 / (1.0 + 0.01 * x)


SCALE_FN_CASES = [
    ("CyclicalLearningRate", {"initial_learning_rate": 0.01, "maximal_learning_rate": 0.1,
                              "step_size": 5, "scale_fn": half_per_cycle,
                              "scale_mode": "cycle"},
     _around([5, 10, 15, 20], extra=[2, 12, 33], past=[60, 100])),
    ("CyclicalLearningRate", {"initial_learning_rate": 0.01, "maximal_learning_rate": 0.1,
                              "step_size": 5, "scale_fn": hyperbolic,
                              "scale_mode": "iterations"},
     _around([5, 10, 15, 20], extra=[2, 12, 33], past=[60, 100, 1000])),
    # scale_fn overrides mode="exp_range" (its gamma is then unused).
    ("CyclicalLearningRate", {"initial_learning_rate": 0.001, "maximal_learning_rate": 0.01,
                              "step_size": 4, "mode": "exp_range", "gamma": 0.5,
                              "scale_fn": hyperbolic, "scale_mode": "cycle"},
     _around([4, 8, 12], extra=[2, 6, 10], past=[40, 400])),
]
