"""Cyclical learning rates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, floor_divide

_MODES = ("triangular", "triangular2", "exp_range")


@register(
    "schedule",
    "Cyclical learning rate: triangular waves between two bounds (PyTorch CyclicLR, TFA CyclicalLearningRate).",
    example={"initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-2, "step_size": 100},
    cyclic=True,
)
class CyclicalLearningRate(Schedule):
    r"""Cyclical learning rate (CLR): the rate sweeps between two bounds in triangular waves.

    With step size :math:`s` (half a cycle), cycle :math:`c = \lfloor 1 + t / 2s \rfloor` and
    :math:`x = |t/s - 2c + 1|`:

    .. math::
        \eta_t = \eta_{low} + (\eta_{high} - \eta_{low}) \max(0, 1 - x)\, \text{scale}(v)

    where ``"triangular"`` has scale 1, ``"triangular2"`` halves the amplitude every cycle
    (:math:`1/2^{c-1}`), and ``"exp_range"`` scales by :math:`\gamma^t`. A custom ``scale_fn`` replaces the mode's
    scale; ``scale_mode`` then says whether it receives the cycle number :math:`c` (``"cycle"``) or the step
    :math:`t` (``"iterations"``). The built-in modes always use their own argument (cycle for the triangular modes,
    step for ``exp_range``), as in PyTorch's ``CyclicLR``; values equal PyTorch's ``CyclicLR`` with
    ``step_size_up = step_size_down = step_size`` and TF-Addons' ``CyclicalLearningRate``.

    Args:
        initial_learning_rate: Lower bound :math:`\eta_{low}` (>= 0).
        maximal_learning_rate: Upper bound :math:`\eta_{high}` (>= ``initial_learning_rate``).
        step_size: Steps in half a cycle (integer >= 1).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: Decay base of ``"exp_range"``, in (0, 1].
        scale_fn: Optional function of a float32 tensor, written with ``keras.ops``, returning the amplitude scale.
            To save a schedule that uses one, register the function with
            ``keras.saving.register_keras_serializable``.
        scale_mode: ``"cycle"`` or ``"iterations"``: the argument given to ``scale_fn``.

    Example:
        >>> schedule = CyclicalLearningRate(1e-3, 1e-2, step_size=100)
        >>> round(float(schedule(100)), 6)  # the top of the first cycle
        0.01

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, arXiv:1506.01186.
    """

    _nested = ("scale_fn",)

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: int,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[Any], Any] | None = None,
        scale_mode: str = "cycle",
    ) -> None:
        self.initial_learning_rate = check.check_non_negative("initial_learning_rate", initial_learning_rate)
        self.maximal_learning_rate = check.check_non_negative("maximal_learning_rate", maximal_learning_rate)
        if self.maximal_learning_rate < self.initial_learning_rate:
            raise ValueError(
                "`maximal_learning_rate` must be >= `initial_learning_rate`. "
                f"Received: maximal_learning_rate={maximal_learning_rate!r}, "
                f"initial_learning_rate={initial_learning_rate!r}"
            )
        self.step_size = check.check_int("step_size", step_size, minimum=1)
        self.mode = check.check_choice("mode", mode, _MODES)
        self.gamma = check.check_in_range("gamma", gamma, 0.0, 1.0, low_inclusive=False, high_inclusive=True)
        if isinstance(scale_fn, dict):
            scale_fn = keras.saving.deserialize_keras_object(scale_fn)
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"`scale_fn` must be callable or None. Received: scale_fn={scale_fn!r}")
        self.scale_fn = scale_fn
        self.scale_mode = check.check_choice("scale_mode", scale_mode, ("cycle", "iterations"))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.scale_fn is not None:
            config["scale_fn"] = keras.saving.serialize_keras_object(self.scale_fn)
        return config

    def compute(self, step: Any) -> Any:
        half = float(self.step_size)
        completed_cycles = floor_divide(step, 2.0 * half)
        position = step - completed_cycles * 2.0 * half
        # The triangle's height, from an exact integer numerator: 0 at the cycle's ends, 1 at its middle.
        height = (half - ops.abs(position - half)) / half
        cycle = completed_cycles + 1.0
        if self.scale_fn is not None:
            scale = self.scale_fn(cycle if self.scale_mode == "cycle" else step)
        elif self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = ops.power(0.5, completed_cycles)
        else:
            scale = ops.power(self.gamma, step)
        amplitude = self.maximal_learning_rate - self.initial_learning_rate
        return self.initial_learning_rate + amplitude * height * ops.cast(scale, "float32")
