"""The Transformer's inverse-square-root schedule."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule


@register(
    "schedule",
    "Transformer schedule: linear warmup, then decay as 1/sqrt(step) (Vaswani et al. 2017).",
    example={"peak_learning_rate": 1e-2, "warmup_steps": 100},
)
class InverseSqrtDecay(Schedule):
    r"""Linear warmup then inverse-square-root decay, peaking at ``peak_learning_rate``.

    The schedule of "Attention Is All You Need",
    :math:`d^{-0.5} \min(n^{-0.5}, n \cdot w^{-1.5})`, rescaled so that its peak is a rate you choose:

    .. math::
        \eta_t = \eta_{peak} \min\!\left(\frac{n}{w}, \sqrt{\frac{w}{n}}\right), \qquad n = t + 1

    The paper counts steps from 1, so the step ``t`` that Keras passes (0 for the first batch) is the paper's
    ``n = t + 1``: the first batch trains at :math:`\eta_{peak}/w` rather than at zero, and the peak is reached at
    the ``w``-th batch (``t = w - 1``). To reproduce the paper's constant, use
    ``peak_learning_rate = d_model ** -0.5 * warmup_steps ** -0.5``.

    Args:
        peak_learning_rate: The maximum rate (> 0).
        warmup_steps: :math:`w`, batches of linear warmup (integer >= 1).

    Example:
        >>> schedule = InverseSqrtDecay(1e-3, warmup_steps=100)
        >>> round(float(schedule(99)), 6), round(float(schedule(399)), 6)
        (0.001, 0.0005)

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762, section 5.3.
    """

    def __init__(self, peak_learning_rate: float, warmup_steps: int) -> None:
        self.peak_learning_rate = check.check_positive("peak_learning_rate", peak_learning_rate)
        self.warmup_steps = check.check_int("warmup_steps", warmup_steps, minimum=1)

    def compute(self, step: Any) -> Any:
        batches = step + 1.0
        warmup = float(self.warmup_steps)
        return self.peak_learning_rate * ops.minimum(batches / warmup, ops.sqrt(warmup / batches))
