"""The sparsity part of a tuning recipe: the searched range, and the pruning callback of a trial."""

from __future__ import annotations

from typing import Any

import keras

from keras_optkit import _validation as check

__all__ = ["build_pruning", "sparsity_range"]


def sparsity_range(value: Any) -> tuple[float, float] | None:
    """``SearchSpace.sparsity`` checked: None, or a ``(low, high)`` pair in [0, 1] with low <= high."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"`sparsity` must be None or a (low, high) pair. Received: sparsity={value!r}")
    low = check.check_in_range("sparsity", value[0], 0.0, 1.0)
    high = check.check_in_range("sparsity", value[1], 0.0, 1.0)
    if low > high:
        raise ValueError(f"`sparsity` must have low <= high. Received: sparsity={tuple(value)!r}")
    return low, high


def build_pruning(values: dict[str, Any], total_steps: int) -> keras.callbacks.Callback | None:
    """The pruning callback of a trial's ``values`` for a run of ``total_steps``, or None without ``sparsity``.

    The sparsity rises from 0 to the trial's along Zhu & Gupta's cubic curve over the first two thirds of the
    run (ten mask updates), and holds for the last third, where the network recovers. The weights of all Dense and
    Conv kernels are ranked together (``scope="global"``), which spares small layers such as the output.
    """
    sparsity = float(values.get("sparsity") or 0.0)
    if sparsity == 0.0:
        return None
    from keras_optkit.callbacks import MagnitudePruning
    from keras_optkit.pruning import PolynomialDecaySparsity

    total_steps = check.check_int("total_steps", total_steps, minimum=1)
    end = max(2 * total_steps // 3, 1)
    schedule = PolynomialDecaySparsity(0.0, sparsity, begin_step=0, end_step=end, frequency=max(end // 10, 1))
    return MagnitudePruning(schedule, scope="global")
