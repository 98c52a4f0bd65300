"""Linear warmup followed by cosine decay."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, cosine_mix, elapsed_and_remaining, linear_mix


@register(
    "schedule",
    "Optional linear warmup, then half-cosine decay from the peak to a final rate.",
    example={"peak_learning_rate": 0.05, "total_steps": 1000, "warmup_steps": 100},
)
class WarmupCosineDecay(Schedule):
    r"""Linear warmup to a peak, then cosine annealing to a final rate.

    With warmup length :math:`W` and total length :math:`T`:

    .. math::
        \eta_t = \begin{cases}
            \eta_{init} + (\eta_{peak} - \eta_{init})\, t / W & t < W \\
            \eta_{final} + \tfrac{1}{2}(\eta_{peak} - \eta_{final})
                \left(1 + \cos \frac{\pi (t - W)}{T - W}\right) & W \le t < T \\
            \eta_{final} & t \ge T
        \end{cases}

    With ``warmup_steps=0`` and ``final_learning_rate=0`` this is the cosine annealing
    :math:`\eta_0 (1 + \cos(\pi t / T)) / 2` of SGDR without restarts (PyTorch ``CosineAnnealingLR``).

    Args:
        peak_learning_rate: Rate at the end of warmup (> 0).
        total_steps: Step at which the final rate is reached (integer >= 1).
        warmup_steps: Steps of linear warmup (integer, 0 <= warmup_steps < total_steps).
        initial_learning_rate: Rate at step 0 when there is a warmup (>= 0).
        final_learning_rate: Rate at ``total_steps`` and after (>= 0).

    Example:
        >>> schedule = WarmupCosineDecay(0.1, total_steps=100)
        >>> round(float(schedule(50)), 6)
        0.05

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", arXiv:1608.03983;
        Goyal et al., "Accurate, Large Minibatch SGD", arXiv:1706.02677 (linear warmup).
    """

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        initial_learning_rate: float = 0.0,
        final_learning_rate: float = 0.0,
    ) -> None:
        self.peak_learning_rate = check.check_positive("peak_learning_rate", peak_learning_rate)
        self.total_steps = check.check_int("total_steps", total_steps, minimum=1)
        self.warmup_steps = check.check_int("warmup_steps", warmup_steps, minimum=0)
        if self.warmup_steps >= self.total_steps:
            raise ValueError(
                "`warmup_steps` must be less than `total_steps`. "
                f"Received: warmup_steps={warmup_steps!r}, total_steps={total_steps!r}"
            )
        self.initial_learning_rate = check.check_non_negative("initial_learning_rate", initial_learning_rate)
        self.final_learning_rate = check.check_non_negative("final_learning_rate", final_learning_rate)

    def compute(self, step: Any) -> Any:
        warmup, total = float(self.warmup_steps), float(self.total_steps)
        elapsed, remaining = elapsed_and_remaining(step, warmup, total)
        rate = cosine_mix(self.peak_learning_rate, self.final_learning_rate, elapsed, remaining, total - warmup)
        if self.warmup_steps:
            warm_elapsed, warm_remaining = elapsed_and_remaining(step, 0.0, warmup)
            warm = linear_mix(
                self.initial_learning_rate, self.peak_learning_rate, warm_elapsed, warm_remaining, warmup
            )
            rate = ops.where(step < warmup, warm, rate)
        return rate
