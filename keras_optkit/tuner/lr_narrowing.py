"""Range tests before a search: each optimizer family's learning-rate range narrowed to what
``LRFinderResult.suggest`` reads, and the suggested rates as a search's first trials."""

from __future__ import annotations

import math
from typing import Any

import keras
import keras_tuner

from keras_optkit.tuner.hypermodel import OptimizationHyperModel
from keras_optkit.tuner.search_space import LogRange, SearchSpace

#: Under a budget, the range tests together take at most this share of it (fewer steps each when needed).
FINDER_BUDGET_SHARE = 0.2
#: ... and a range test is skipped (the ranges stay as given) when it would get fewer steps than this.
FINDER_MIN_STEPS = 20
#: Schedule families whose peak ``LRFinderResult.suggest`` knows, in the order the first trials use them.
_SUGGESTED_SCHEDULES = {"one_cycle": "one_cycle", "warmup_cosine": "cosine", "constant": "constant"}

def narrow_learning_rates(
    hypermodel: OptimizationHyperModel,
    x: Any,
    y: Any,
    *,
    batch_size: int,
    span: float,
    num_steps: int,
    verbose: int = 0,
) -> dict[str, Any]:
    """Runs one learning-rate range test per optimizer family of ``hypermodel``'s space (constant rate, no
    regularization) and narrows each family's range to the rates ``LRFinderResult.suggest`` gives for the
    searched schedules, widened by ``sqrt(span)`` on each side; a range that leaves the original one slides back
    inside it (keeping its width when it can).

    The tests' batches are counted in ``hypermodel.budget``; under a limit they take at most
    :data:`FINDER_BUDGET_SHARE` of it (fewer steps each), and none run when a test would get fewer than
    :data:`FINDER_MIN_STEPS` steps. Returns ``{family: LRFinderResult}``; the hypermodel's space is replaced in
    place.
    """
    from keras_optkit.callbacks import find_lr

    space = hypermodel.search_space
    budget = hypermodel.budget
    steps_per_epoch = hypermodel.steps_for({"batch_size": batch_size})
    if budget.limit is not None:
        share = FINDER_BUDGET_SHARE * budget.remaining() * steps_per_epoch / len(space.optimizers)
        num_steps = min(num_steps, int(share))
        if num_steps < FINDER_MIN_STEPS:
            return {}
    schedules = [_SUGGESTED_SCHEDULES.get(family, "constant") for family in space.schedules]
    half = math.sqrt(span)
    results, ranges = {}, {}
    for family in space.optimizers:
        bounds = space.learning_rate_ranges[family]
        hp = keras_tuner.HyperParameters()
        hp.Fixed("optimizer", family)
        hp.Fixed("schedule", "constant")
        for name in ("weight_decay/on", "l1/on", "l2/on"):
            hp.Fixed(name, False)
        model = hypermodel.build(hp)
        result = find_lr(
            model, x, y, batch_size=batch_size,
            start_lr=bounds.low / 100.0, end_lr=bounds.high * 100.0, num_steps=num_steps,
        )
        cost = len(result.learning_rates) / steps_per_epoch
        budget.spend(cost)
        results[family] = result
        suggested = {schedule: _suggestion(result, schedule) for schedule in dict.fromkeys(schedules)}
        suggestions = [rate for rate in suggested.values() if rate is not None]
        if verbose:
            shown = ", ".join(f"{name} {rate:.3g}" for name, rate in suggested.items() if rate is not None)
            print(
                f"range test {family}: {len(result.learning_rates)} steps ({cost:.3g} epochs), suggested "
                f"{shown or 'nothing (no usable loss curve)'}; {budget.used:.3g} epochs used",
                flush=True,
            )
        if not suggestions:
            continue
        low, high = min(suggestions) / half, max(suggestions) * half
        # A range that falls outside the searched one slides back in at the end it left, keeping its width.
        if high > bounds.high:
            low, high = low * bounds.high / high, bounds.high
        if low < bounds.low:
            low, high = bounds.low, min(high * bounds.low / low, bounds.high)
        ranges[family] = LogRange(low, high, bounds.include_zero)
    hypermodel.search_space = space.with_learning_rates(ranges)
    keras.backend.clear_session()
    return results


def _suggestion(result: Any, schedule: str) -> float | None:
    try:
        rate = float(result.suggest(schedule))
    except ValueError:  # a flat curve: nothing to read
        return None
    return rate if math.isfinite(rate) and rate > 0 else None


def suggested_trials(space: SearchSpace, finder_results: dict[str, Any]) -> list[dict[str, Any]]:
    """The hyperparameter values of the first trials of a search: for each optimizer family with a range test,
    its suggested rate (inside the family's range) for the first searched schedule ``suggest`` knows, in the
    order of :data:`_SUGGESTED_SCHEDULES`, with default momentum, warmup and decay and regularization off."""
    known = [family for family in _SUGGESTED_SCHEDULES if family in space.schedules]
    if not known:
        return []
    schedule = known[0]
    trials = []
    for family, result in finder_results.items():
        rate = _suggestion(result, _SUGGESTED_SCHEDULES[schedule])
        if rate is None:
            continue
        bounds = space.learning_rate_ranges[family]
        values: dict[str, Any] = {
            "optimizer": family,
            f"{family}/learning_rate": min(max(rate, bounds.low), bounds.high),
            "schedule": schedule,
        }
        if family == "sgd":
            values["sgd/momentum"] = 0.9
        if schedule == "one_cycle":
            values["one_cycle/pct_start"] = 0.3
        if schedule == "warmup_cosine":
            values["warmup_cosine/warmup_fraction"] = 0.1
        if family == "adamw":
            decay = space.weight_decay_range or LogRange(1e-5, 1e-2)
            values["adamw/weight_decay"] = min(max(0.004, decay.low), decay.high)
        elif space.weight_decay_range is not None:
            values["weight_decay/on"] = False
        for name, bounds_of in (("l1", space.l1_range), ("l2", space.l2_range)):
            if bounds_of is not None:
                values[f"{name}/on"] = False
        trials.append(values)
    return trials
