"""Training callbacks: each a `keras.callbacks.Callback` for `model.fit(callbacks=[...])`.

They work whether the learning rate is a float or a schedule (this package's or Keras's), on every backend.
"""

from __future__ import annotations

from keras_optkit._registry import RegistryEntry, list_entries
from keras_optkit.callbacks.hyperparameter_scheduler import HyperparameterScheduler
from keras_optkit.callbacks.lr_finder import LRFinder, LRFinderResult, find_lr
from keras_optkit.callbacks.lr_refine import RefinedRate, refine_lr
from keras_optkit.callbacks.magnitude_pruning import MagnitudePruning
from keras_optkit.callbacks.nan_guard import NaNGuard
from keras_optkit.callbacks.optimizer_monitor import OptimizerMonitor
from keras_optkit.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from keras_optkit.callbacks.stochastic_weight_averaging import StochasticWeightAveraging
from keras_optkit.callbacks.time_stopping import TimeStopping

__all__ = [
    "HyperparameterScheduler",
    "LRFinder",
    "LRFinderResult",
    "MagnitudePruning",
    "NaNGuard",
    "OptimizerMonitor",
    "ReduceLROnPlateau",
    "RefinedRate",
    "StochasticWeightAveraging",
    "TimeStopping",
    "find_lr",
    "refine_lr",
    "list_callbacks",
]


def list_callbacks() -> list[RegistryEntry]:
    """Every registered callback with its one-line description, sorted by name."""
    return list_entries("callback")
