"""Keras Tuner wrappers that search the optimization recipe of a model: learning rate, schedule, optimizer,
weight decay, L1 / L2 strength and batch size.

`tune()` is the one-call entry point; `OptimizationHyperModel` plugs the same search into any keras-tuner tuner.
"""

from __future__ import annotations

from keras_optkit.tuner.hypermodel import DivergenceGuard, OptimizationHyperModel
from keras_optkit.tuner.result import Recipe, TuningResult
from keras_optkit.tuner.search_space import SCHEDULE_FAMILIES, LogRange, SearchSpace
from keras_optkit.tuner.tune import narrow_learning_rates, tune

__all__ = [
    "SCHEDULE_FAMILIES",
    "DivergenceGuard",
    "LogRange",
    "OptimizationHyperModel",
    "Recipe",
    "SearchSpace",
    "TuningResult",
    "narrow_learning_rates",
    "tune",
]
