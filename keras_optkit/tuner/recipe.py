"""A trial's optimizer and learning-rate schedule, built from its keras-tuner values."""

from __future__ import annotations

from typing import Any

import keras

from keras_optkit._registry import get_entry
from keras_optkit.schedules import CosineAnnealingWarmRestarts, OneCycle, WarmupCosineDecay
from keras_optkit.tuner.search_space import KERAS_OPTIMIZER_CLASSES, ONE_CYCLE_MIN_STEPS


def build_schedule(values: dict[str, Any], total_steps: int, steps_per_epoch: int) -> Any:
    """The learning rate (a float or a schedule) of a trial's ``values`` for a run of ``total_steps``.

    ``one_cycle`` needs a run of :data:`keras_optkit.tuner.search_space.ONE_CYCLE_MIN_STEPS` steps or more (:meth:`keras_optkit.tuner.SearchSpace.fitted_to` leaves
    it out of shorter runs); on a short run its warmup fraction is lengthened to ``2 / total_steps`` when the
    searched one is shorter, so the rise lasts two steps and the peak is reached.
    """
    rate = float(values["learning_rate"])
    family = values["schedule"]
    if family == "constant":
        return rate
    if family == "warmup_cosine":
        warmup = min(int(values["warmup_fraction"] * total_steps), total_steps - 1)
        return WarmupCosineDecay(rate, total_steps=total_steps, warmup_steps=warmup)
    if family == "one_cycle":
        if total_steps < ONE_CYCLE_MIN_STEPS:
            raise ValueError(
                f"The one_cycle schedule needs a run of at least {ONE_CYCLE_MIN_STEPS} steps (a rise to the peak "
                f"and a fall after it). Received: total_steps={total_steps!r}"
            )
        # OneCycle refuses a rise of one step or less (pct_start * total_steps <= 1), which a warmup fraction
        # searched for long runs gives on short ones.
        pct_start = max(float(values["pct_start"]), 2.0 / total_steps)
        return OneCycle(rate, total_steps=total_steps, pct_start=pct_start)
    if family == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=max(steps_per_epoch, 1), decay_rate=values["decay_rate"]
        )
    if family == "cosine_restarts":
        cycle = max(total_steps // int(values["cycles"]), 1)
        return CosineAnnealingWarmRestarts(rate, first_cycle_steps=cycle)
    raise ValueError(f"Unknown schedule family. Received: schedule={family!r}")


def build_optimizer(values: dict[str, Any], learning_rate: Any) -> keras.optimizers.Optimizer:
    """The optimizer of a trial's ``values`` with ``learning_rate`` (a float or a schedule)."""
    family = values["optimizer"]
    decay = values.get("weight_decay") or None
    if family == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=decay)
    if family == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=values["weight_decay"])
    if family == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=values["momentum"], weight_decay=decay)
    if family == "muon":
        # Muon decays its AdamW-stepped variables (biases, norms, embeddings) by `adam_weight_decay`, 0.004 by
        # default: with the searched decay "off", nothing is decayed.
        return keras.optimizers.Muon(learning_rate, weight_decay=decay, adam_weight_decay=decay)
    if family in KERAS_OPTIMIZER_CLASSES:
        cls = getattr(keras.optimizers, KERAS_OPTIMIZER_CLASSES[family])
        return cls(learning_rate=learning_rate, weight_decay=decay)
    entry = get_entry("optimizer", family)
    return entry.cls(learning_rate=learning_rate, weight_decay=decay)

