"""The one-cycle learning-rate policy."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, cosine_mix, elapsed_and_remaining, linear_mix


@register(
    "schedule",
    "One-cycle policy: warm up to a peak, then anneal far below the start (PyTorch OneCycleLR).",
    example={"max_learning_rate": 0.1, "total_steps": 1000},
)
class OneCycle(Schedule):
    r"""The one-cycle policy, with the same value as PyTorch's ``OneCycleLR`` at every step.

    With :math:`\eta_0 = \eta_{max} / \text{div\_factor}` and
    :math:`\eta_{min} = \eta_0 / \text{final\_div\_factor}`, the rate anneals :math:`\eta_0 \to \eta_{max}` over
    steps :math:`0 \ldots p T - 1` (``p = pct_start``, ``T = total_steps``), then
    :math:`\eta_{max} \to \eta_{min}` until step :math:`T - 1`. With ``three_phase=True`` it goes
    :math:`\eta_0 \to \eta_{max}` until :math:`pT - 1`, :math:`\eta_{max} \to \eta_0` until :math:`2pT - 2`, and
    :math:`\eta_0 \to \eta_{min}` until :math:`T - 1`. Within a phase from step :math:`s_0` (value :math:`a`) to
    :math:`s_1` (value :math:`b`), with :math:`x = (t - s_0) / (s_1 - s_0)`:

    .. math::
        \text{cos: } b + \tfrac{a - b}{2}\,(1 + \cos \pi x) \qquad \text{linear: } a + (b - a)\,x

    Step 0 is the first batch. Deliberate difference from PyTorch: after step ``total_steps - 1`` the rate holds at
    :math:`\eta_{min}`, where PyTorch raises an error. Momentum cycling, which PyTorch's scheduler also does, is a
    separate concern here (a hyperparameter schedule on the optimizer's momentum).

    Args:
        max_learning_rate: Peak rate :math:`\eta_{max}` (> 0).
        total_steps: Number of training steps in the cycle (>= 2).
        pct_start: Fraction of the cycle spent increasing the rate, in (0, 1).
        div_factor: :math:`\eta_0 = \eta_{max} / \text{div\_factor}` (> 0).
        final_div_factor: :math:`\eta_{min} = \eta_0 / \text{final\_div\_factor}` (> 0).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        three_phase: Use the three-phase variant described above.

    Example:
        >>> schedule = OneCycle(max_learning_rate=0.1, total_steps=100)
        >>> round(float(schedule(29)), 6)  # the peak, at step pct_start * total_steps - 1
        0.1

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large Learning Rates",
        arXiv:1708.07120 (2017); Smith, "A disciplined approach to neural network hyper-parameters",
        arXiv:1803.09820 (2018).
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
    ) -> None:
        self.max_learning_rate = check.check_positive("max_learning_rate", max_learning_rate)
        self.total_steps = check.check_int("total_steps", total_steps, minimum=2)
        self.pct_start = check.check_in_range("pct_start", pct_start, 0.0, 1.0, low_inclusive=False)
        self.div_factor = check.check_positive("div_factor", div_factor)
        self.final_div_factor = check.check_positive("final_div_factor", final_div_factor)
        self.anneal_strategy = check.check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.three_phase = check.check_bool("three_phase", three_phase)

        initial = self.max_learning_rate / self.div_factor
        minimum = initial / self.final_div_factor
        rise_end = self.pct_start * self.total_steps - 1
        last = float(self.total_steps - 1)
        if three_phase:
            ends = [0.0, rise_end, 2 * self.pct_start * self.total_steps - 2, last]
            values = [initial, self.max_learning_rate, initial, minimum]
        else:
            ends = [0.0, rise_end, last]
            values = [initial, self.max_learning_rate, minimum]
        if any(later <= earlier for earlier, later in zip(ends, ends[1:], strict=False)):
            raise ValueError(
                "Every phase of the cycle must last more than zero steps: `pct_start` * `total_steps` must be "
                "> 1 and leave steps for the later phase(s). "
                f"Received: pct_start={pct_start!r}, total_steps={total_steps!r}, three_phase={three_phase!r}"
            )
        self._phases = [
            (ends[index], ends[index + 1], values[index], values[index + 1]) for index in range(len(ends) - 1)
        ]

    def compute(self, step: Any) -> Any:
        mix = cosine_mix if self.anneal_strategy == "cos" else linear_mix
        rate = None
        for start, end, start_value, end_value in reversed(self._phases):
            elapsed, remaining = elapsed_and_remaining(step, start, end)
            phase_rate = mix(start_value, end_value, elapsed, remaining, end - start)
            rate = phase_rate if rate is None else ops.where(step <= end, phase_rate, rate)
        return rate
