"""Warmup-stable-decay (WSD)."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.schedules._base import Schedule, cosine_mix, elapsed_and_remaining, linear_mix


@register(
    "schedule",
    "Warmup-stable-decay: linear warmup, a long constant plateau, then a short decay (modern LLM training).",
    example={"peak_learning_rate": 0.05, "total_steps": 1000, "warmup_steps": 100, "decay_steps": 200},
)
class WarmupStableDecay(Schedule):
    r"""Warmup-stable-decay: warm up, hold the peak, and decay only over the last ``decay_steps``.

    With warmup :math:`W`, total :math:`T`, decay length :math:`D` and, in the decay phase,
    :math:`q = (t - (T - D)) / D`:

    .. math::
        \eta_t = \begin{cases}
            \eta_{peak}\, t / W & t < W \\
            \eta_{peak} & W \le t < T - D \\
            \eta_{final} + (\eta_{peak} - \eta_{final})\, f(q) & T - D \le t < T \\
            \eta_{final} & t \ge T
        \end{cases}

    where :math:`f(q) = 1 - q` (``"linear"``), :math:`(1 + \cos \pi q)/2` (``"cosine"``) or
    :math:`1 - \sqrt{q}` (``"sqrt"``, the "1-sqrt" cooldown of Hägele et al.). Because the plateau does not depend on
    the run's length, a run can be continued and a decay branched off at any point.

    Args:
        peak_learning_rate: Plateau rate (> 0).
        total_steps: Step at which the final rate is reached (integer >= 1).
        warmup_steps: Linear warmup from 0 (integer >= 0).
        decay_steps: Length of the final decay (integer >= 1); ``warmup_steps + decay_steps <= total_steps``.
        final_learning_rate: Rate at the end (>= 0).
        decay_shape: ``"linear"``, ``"cosine"`` or ``"sqrt"``.

    Example:
        >>> schedule = WarmupStableDecay(0.1, total_steps=100, warmup_steps=10, decay_steps=20)
        >>> round(float(schedule(50)), 6), round(float(schedule(90)), 6)
        (0.1, 0.05)

    References:
        Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models with Scalable Training Strategies",
        arXiv:2404.06395; Hägele et al., "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
        Durations", arXiv:2405.18392.
    """

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int,
        warmup_steps: int,
        decay_steps: int,
        final_learning_rate: float = 0.0,
        decay_shape: str = "linear",
    ) -> None:
        self.peak_learning_rate = check.check_positive("peak_learning_rate", peak_learning_rate)
        self.total_steps = check.check_int("total_steps", total_steps, minimum=1)
        self.warmup_steps = check.check_int("warmup_steps", warmup_steps, minimum=0)
        self.decay_steps = check.check_int("decay_steps", decay_steps, minimum=1)
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(
                "`warmup_steps` + `decay_steps` must be <= `total_steps`. "
                f"Received: warmup_steps={warmup_steps!r}, decay_steps={decay_steps!r}, total_steps={total_steps!r}"
            )
        self.final_learning_rate = check.check_non_negative("final_learning_rate", final_learning_rate)
        self.decay_shape = check.check_choice("decay_shape", decay_shape, ("linear", "cosine", "sqrt"))

    def compute(self, step: Any) -> Any:
        peak, final = self.peak_learning_rate, self.final_learning_rate
        total, length = float(self.total_steps), float(self.decay_steps)
        decay_start = total - length
        elapsed, remaining = elapsed_and_remaining(step, decay_start, total)
        if self.decay_shape == "linear":
            rate = linear_mix(peak, final, elapsed, remaining, length)
        elif self.decay_shape == "cosine":
            rate = cosine_mix(peak, final, elapsed, remaining, length)
        else:
            # 1 - sqrt(q) = (1 - q) / (1 + sqrt(q)): no cancellation as q -> 1.
            root = ops.sqrt(elapsed / length)
            rate = peak * (remaining / length) / (1.0 + root) + final * root
        if self.warmup_steps:
            warmup = float(self.warmup_steps)
            warm_elapsed, warm_remaining = elapsed_and_remaining(step, 0.0, warmup)
            warm = linear_mix(0.0, peak, warm_elapsed, warm_remaining, warmup)
            rate = ops.where(step < warmup, warm, rate)
        return rate
