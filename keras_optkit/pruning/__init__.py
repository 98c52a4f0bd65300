"""Magnitude pruning for Keras 3 on every backend: sparsity schedules, one-shot `prune`, `strip_pruning`,
`shrink` and `sparsity_report`. Gradual pruning during `fit` is the `keras_optkit.callbacks.MagnitudePruning`
callback."""

from __future__ import annotations

from keras_optkit._registry import RegistryEntry, list_entries
from keras_optkit.pruning.constant_sparsity import ConstantSparsity
from keras_optkit.pruning.polynomial_decay_sparsity import PolynomialDecaySparsity
from keras_optkit.pruning.prune import prune
from keras_optkit.pruning.pruning_mask import PruningMask
from keras_optkit.pruning.shrink import shrink
from keras_optkit.pruning.sparsity_report import SparsityReport, sparsity_report
from keras_optkit.pruning.sparsity_schedule import SparsitySchedule
from keras_optkit.pruning.strip_pruning import strip_pruning

__all__ = [
    "ConstantSparsity",
    "PolynomialDecaySparsity",
    "PruningMask",
    "SparsityReport",
    "SparsitySchedule",
    "list_sparsity_schedules",
    "prune",
    "shrink",
    "sparsity_report",
    "strip_pruning",
]


def list_sparsity_schedules() -> list[RegistryEntry]:
    """Every registered sparsity schedule with its one-line description, sorted by name."""
    return list_entries("sparsity_schedule")
