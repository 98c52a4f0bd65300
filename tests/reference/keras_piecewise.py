"""Reference for ``keras.optimizers.schedules.PiecewiseConstantDecay``, written from its documentation: the rate is
``values[0]`` while ``step <= boundaries[0]``, ``values[i + 1]`` while ``boundaries[i] < step <= boundaries[i + 1]``,
and ``values[-1]`` after the last boundary."""

from __future__ import annotations

import numpy as np


def piecewise_constant(steps, boundaries, values) -> np.ndarray:
    steps = np.asarray(steps, dtype=np.int64)
    rates = np.empty(steps.shape, dtype=np.float64)
    for index, step in enumerate(steps):
        passed = sum(1 for boundary in boundaries if step > boundary)
        rates[index] = values[passed]
    return rates
