"""Regularizers whose strength can change during training, and adding regularizers to a built model.

The strengths live in variables the model tracks, so a callback (`HyperparameterScheduler`) or a keras-tuner
trial can change them without recompiling, on every backend.
"""

from __future__ import annotations

from keras_optkit._registry import RegistryEntry, list_entries
from keras_optkit.regularizers.apply_regularization import apply_regularization
from keras_optkit.regularizers.group_lasso import GroupLasso
from keras_optkit.regularizers.l1 import L1
from keras_optkit.regularizers.l1l2 import L1L2
from keras_optkit.regularizers.l2 import L2
from keras_optkit.regularizers.l2sp import L2SP

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "L2SP",
    "GroupLasso",
    "apply_regularization",
    "list_regularizers",
]


def list_regularizers() -> list[RegistryEntry]:
    """Every registered regularizer with its one-line description, sorted by name."""
    return list_entries("regularizer")
