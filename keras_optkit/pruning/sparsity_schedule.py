"""What every sparsity schedule shares: step -> fraction of weights pruned, and the steps that recompute masks."""

from __future__ import annotations

import inspect
from typing import Any

import keras
from keras import ops


class SparsitySchedule:
    r"""Base class of the sparsity schedules: training step -> fraction of the chosen weights that are pruned.

    A sparsity schedule is not a learning-rate schedule: it drives :class:`~keras_optkit.callbacks.MagnitudePruning`,
    which recomputes its masks only at the schedule's *update steps*,

    .. math::
        t \ge t_0, \quad (t - t_0) \bmod \Delta t = 0, \quad t \le t_1 \text{ (when the schedule ends)},

    with :math:`t_0` = ``begin_step``, :math:`\Delta t` = ``frequency`` and :math:`t_1` = ``end_step``, and holds
    the masks in between. Steps count optimizer updates from 0 (the optimizer's ``iterations`` before the step,
    as learning-rate schedules see them). Before ``begin_step`` nothing is pruned: the schedule is 0 there.

    Subclasses validate and store every ``__init__`` argument under the same attribute name, set
    ``begin_step``, ``frequency`` and ``end_step`` (None for a schedule that never ends), and implement
    ``compute(step)`` on a float32 step tensor of any shape (elementwise), with ``keras.ops``. ``get_config`` is
    derived from the ``__init__`` signature, so it cannot miss an argument.
    """

    begin_step: int
    frequency: int
    end_step: int | None

    def __call__(self, step: Any) -> Any:
        return self.compute(ops.cast(step, "float32"))

    def compute(self, step: Any) -> Any:
        raise NotImplementedError

    @property
    def target_sparsity(self) -> float:
        """The sparsity the schedule ends at (and holds afterwards)."""
        raise NotImplementedError

    def sparsity_at(self, step: int) -> float:
        """The schedule at one step, as a Python float (the float32 value the masks are computed from)."""
        return float(ops.convert_to_numpy(self(ops.convert_to_tensor(float(step), "float32"))))

    def is_update_step(self, step: int) -> bool:
        """Whether the masks are recomputed at ``step``."""
        if step < self.begin_step or (self.end_step is not None and step > self.end_step):
            return False
        return (step - self.begin_step) % self.frequency == 0

    def last_update_step(self, step: int) -> int | None:
        """The latest update step at or before ``step``; None before ``begin_step``."""
        step = int(step)
        if step < self.begin_step:
            return None
        if self.end_step is not None:
            step = min(step, self.end_step)
        return step - (step - self.begin_step) % self.frequency

    def get_config(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in inspect.signature(type(self).__init__).parameters
            if name != "self"
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SparsitySchedule:
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def deserialize_sparsity_schedule(value: Any) -> SparsitySchedule:
    """A schedule given as an instance or as a ``keras.saving.serialize_keras_object`` dict; TypeError otherwise."""
    if isinstance(value, dict):
        value = keras.saving.deserialize_keras_object(value)
    if not isinstance(value, SparsitySchedule):
        raise TypeError(
            "`schedule` must be a sparsity schedule (PolynomialDecaySparsity, ConstantSparsity or another "
            f"keras_optkit.pruning.SparsitySchedule). Received: schedule={value!r}"
        )
    return value
