"""The step-by-step driver shared by the per-optimizer reference tests, and a backend-proof class check."""

import keras
import numpy as np
from keras import ops

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12


def make_problem(seed, dtype="float32"):
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(dtype).astype(np.float64) for shape in SHAPES]
    grads = [
        [rng.normal(size=shape).astype(dtype).astype(np.float64) for shape in SHAPES]
        for _ in range(STEPS)
    ]
    return initial, grads


def run_apply(optimizer, initial, grads, dtype="float32"):
    """Drives ``optimizer.apply`` on one variable per shape; returns trajectories[variable][step]."""
    variables = [keras.Variable(value, dtype=dtype) for value in initial]
    trajectories = [[] for _ in variables]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype=dtype) for g in step_grads], variables)
        for trajectory, variable in zip(trajectories, variables, strict=True):
            trajectory.append(ops.convert_to_numpy(variable).astype(np.float64))
    return trajectories


def is_exactly(obj, cls) -> bool:
    """``type(obj) is cls``, allowing for the backend subclass Keras swaps in: on PyTorch ``keras.optimizers.Adam()``
    is a ``keras.src.backend.torch.optimizers.torch_adam.Adam``. The name check keeps a real subclass (``Ranger`` of
    ``Lookahead``, ``AdamW`` of ``Adam``) from passing for its parent."""
    return isinstance(obj, cls) and type(obj).__name__ == cls.__name__
