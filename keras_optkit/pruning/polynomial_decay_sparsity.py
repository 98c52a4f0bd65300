"""The gradual pruning schedule of Zhu & Gupta: sparsity rises fast at first, then levels off."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.pruning.sparsity_schedule import SparsitySchedule


@register(
    "sparsity_schedule",
    "Gradual pruning (Zhu & Gupta): sparsity from initial to final along a polynomial (cubic) curve.",
    example={"initial_sparsity": 0.0, "final_sparsity": 0.9, "begin_step": 0, "end_step": 1000},
)
class PolynomialDecaySparsity(SparsitySchedule):
    r"""Sparsity rising from ``initial_sparsity`` to ``final_sparsity`` between ``begin_step`` and ``end_step``.

    With :math:`s_i, s_f` the initial and final sparsity, :math:`t_0, t_1` the begin and end steps and
    :math:`p` the power,

    .. math::
        s_t = s_f + (s_i - s_f) \left(1 - \frac{t - t_0}{t_1 - t_0}\right)^{p}
        \qquad t_0 \le t \le t_1,

    :math:`s_t = s_f` after :math:`t_1` and :math:`s_t = 0` before :math:`t_0` (nothing is pruned yet). With
    :math:`p = 3` (the paper's choice) most weights go early, while the network still has redundancy, and few
    near the end. Masks are recomputed every ``frequency`` steps from ``begin_step`` up to and including
    ``end_step`` (the paper's :math:`\Delta t`), so the last update reaches ``final_sparsity`` exactly when
    ``end_step - begin_step`` is a multiple of ``frequency``; otherwise the last update is the one before.

    Difference from TensorFlow Model Optimization's ``PolynomialDecay``: the same formula and update steps; the
    value before ``begin_step`` is 0 here (tfmot prunes nothing then either, but reports ``initial_sparsity``).

    Args:
        initial_sparsity: Sparsity at ``begin_step``, in [0, 1).
        final_sparsity: Sparsity from ``end_step`` on, in [``initial_sparsity``, 1).
        begin_step: First update step (integer >= 0).
        end_step: Last update step (integer > ``begin_step``).
        power: Exponent :math:`p` of the curve (> 0; 1 is linear).
        frequency: Steps between mask updates (integer >= 1).

    Example:
        >>> schedule = PolynomialDecaySparsity(0.0, 0.8, begin_step=0, end_step=100)
        >>> round(float(schedule(50)), 4)  # 0.8 * (1 - 0.5 ** 3)
        0.7

    References:
        Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model compression",
        ICLR Workshop 2018, arXiv:1710.01878.
    """

    def __init__(
        self,
        initial_sparsity: float,
        final_sparsity: float,
        begin_step: int,
        end_step: int,
        power: float = 3.0,
        frequency: int = 100,
    ) -> None:
        self.initial_sparsity = check.check_in_range("initial_sparsity", initial_sparsity, 0.0, 1.0)
        self.final_sparsity = check.check_in_range("final_sparsity", final_sparsity, 0.0, 1.0)
        if self.final_sparsity < self.initial_sparsity:
            raise ValueError(
                "`final_sparsity` must be >= `initial_sparsity` (pruned weights are not brought back). "
                f"Received: initial_sparsity={initial_sparsity!r}, final_sparsity={final_sparsity!r}"
            )
        self.begin_step = check.check_int("begin_step", begin_step, minimum=0)
        self.end_step = check.check_int("end_step", end_step, minimum=0)
        if self.end_step <= self.begin_step:
            raise ValueError(
                "`end_step` must be > `begin_step`. "
                f"Received: begin_step={begin_step!r}, end_step={end_step!r}"
            )
        self.power = check.check_positive("power", power)
        self.frequency = check.check_int("frequency", frequency, minimum=1)

    @property
    def target_sparsity(self) -> float:
        return self.final_sparsity

    def compute(self, step: Any) -> Any:
        length = float(self.end_step - self.begin_step)
        # 1 - (1 - x)^p as -expm1(p log1p(-x)): the direct form cancels in float32 just after begin_step, where
        # the sparsity is small; `step - begin` is an exact integer there.
        elapsed = ops.clip(step - float(self.begin_step), 0.0, length) / length
        growth = -ops.expm1(self.power * ops.log1p(-ops.minimum(elapsed, 1.0 - 2.0**-24)))
        sparsity = self.initial_sparsity + (self.final_sparsity - self.initial_sparsity) * growth
        sparsity = ops.where(step >= float(self.end_step), ops.full_like(sparsity, self.final_sparsity), sparsity)
        return ops.where(step < float(self.begin_step), ops.zeros_like(sparsity), sparsity)
