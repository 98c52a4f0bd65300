"""Rectified Adam (RAdam) with TF-Addons RectifiedAdam's arguments."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers import _numerics as numerics
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._numerics import one_minus_power, rectifier


@register(
    "optimizer",
    "Rectified Adam: Adam whose adaptive step is switched on and scaled by the variance rectifier.",
    example={"learning_rate": 0.01, "beta_2": 0.99},
    slots=2,
    float16_variables=False,
)
class RAdam(Optimizer):
    r"""Rectified Adam (RAdam), with TF-Addons ``RectifiedAdam``'s arguments and built-in warmup.

    With :math:`\rho_\infty = 2/(1-\beta_2) - 1` and :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
        \qquad \hat m_t = \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t}

        \theta_t = \theta_{t-1} - \eta_t \begin{cases}
            r_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon) & \rho_t \ge \rho_{\text{threshold}} \\
            \hat m_t & \text{otherwise}
        \end{cases}
        \qquad r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}

    For the first few steps (:math:`\rho_t` below the threshold: steps 1-5 with the defaults) the variance of the
    adaptive rate is intractable and RAdam takes bias-corrected momentum SGD steps; from then on it takes
    rectified Adam steps. With ``amsgrad=True``, :math:`\hat v_t` uses :math:`\max_{k \le t} v_k`.

    When ``total_steps > 0``, :math:`\eta_t` is TF-Addons' warmup and linear decay of the learning rate
    :math:`\eta`: with :math:`w` = ``total_steps * warmup_proportion`` and
    :math:`d = \max(\text{total\_steps} - w, 1)`, :math:`\eta_t = \eta\, t / w` for :math:`t \le w`, then
    :math:`\eta + (\text{min\_lr} - \eta) \min(t - w, d) / d`. (A ``LearningRateSchedule`` composes: it
    gives :math:`\eta`.)

    Differences from the paper and from TF-Addons, stated plainly:

    * As in TF-Addons, :math:`\epsilon` is added to :math:`\sqrt{\hat v_t}` (the paper has none) and the
      threshold is ``sma_threshold=5`` (the paper's Algorithm 2 rectifies when :math:`\rho_t > 4`; set
      ``sma_threshold=4.0`` for that). ``amsgrad`` is not in the paper.
    * Weight decay is the Keras base ``weight_decay`` argument: decoupled, applied before the step as
      :math:`\theta \leftarrow \theta - \eta\lambda\theta` with the optimizer's learning rate :math:`\eta`.
      TF-Addons adds :math:`\lambda\theta` to the update and so scales it by the warmup-adjusted
      :math:`\eta_t`; the two agree when ``total_steps=0``.
    * :math:`\rho_t` and the bias corrections are computed in float32 with a cancellation-free form (see
      ``keras_optkit.optimizers._numerics.sma_length``), so the switch-over step and :math:`r_t` match a float64 computation to about 1e-6.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate of the second moment, in [0, 1). Defaults to 0.999.
        epsilon: Added to :math:`\sqrt{\hat v_t}` (> 0). Defaults to 1e-7.
        amsgrad: Whether to use the running maximum of :math:`v_t` (AMSGrad). Defaults to False.
        sma_threshold: Rectify once :math:`\rho_t \ge` this value (>= 4). Defaults to 5.0 (TF-Addons).
        total_steps: Number of steps of the built-in warmup + linear decay; 0 disables it. Defaults to 0.
        warmup_proportion: Fraction of ``total_steps`` spent warming up, in [0, 1]. Defaults to 0.1.
        min_lr: Learning rate reached at ``total_steps`` (>= 0). Defaults to 0.0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    ``float16_variables=False`` in the registry: with float16 slots, :math:`(1-\beta_2) g^2` underflows to zero
    for gradients below about 1e-2 while :math:`m_t` does not, so :math:`\hat m_t / \epsilon` explodes. Use mixed
    precision (float32 variables) instead.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import RAdam
        >>> optimizer = RAdam(learning_rate=0.1)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([0.5])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # step 1 is an SGD step on the bias-corrected momentum
        0.95

    References:
        L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao, J. Han, "On the Variance of the Adaptive Learning Rate
        and Beyond", ICLR 2020, arXiv:1908.03265.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        sma_threshold: float = 5.0,
        total_steps: int = 0,
        warmup_proportion: float = 0.1,
        min_lr: float = 0.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "radam",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        amsgrad = check.check_bool("amsgrad", amsgrad)
        sma_threshold = check.check_in_range("sma_threshold", sma_threshold, 4.0, math.inf)
        total_steps = check.check_int("total_steps", total_steps, minimum=0)
        warmup_proportion = check.check_in_range(
            "warmup_proportion", warmup_proportion, 0.0, 1.0, high_inclusive=True
        )
        min_lr = check.check_non_negative("min_lr", min_lr)
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.sma_threshold = sma_threshold
        self.total_steps = total_steps
        self.warmup_proportion = warmup_proportion
        self.min_lr = min_lr

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        if self.amsgrad:
            self._velocity_maxima = self.add_optimizer_variables(var_list, "velocity_max")

    def _warmup_learning_rate(self, learning_rate: Any, step: Any) -> Any:
        """TF-Addons' built-in schedule on top of ``learning_rate`` (float32 scalars)."""
        if self.total_steps == 0:
            return learning_rate
        warmup_steps = self.total_steps * self.warmup_proportion
        decay_steps = max(self.total_steps - warmup_steps, 1.0)
        decayed = learning_rate + (self.min_lr - learning_rate) * (
            ops.minimum(step - warmup_steps, decay_steps) / decay_steps
        )
        if warmup_steps == 0.0:
            return decayed
        return ops.where(step <= warmup_steps, learning_rate * (step / warmup_steps), decayed)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        # Step-dependent scalars in float32 whatever the variable dtype; cast once at the end.
        step = ops.cast(self.iterations + 1, "float32")
        lr = self._warmup_learning_rate(ops.cast(learning_rate, "float32"), step)
        momentum_step = lr / one_minus_power(self.beta_1, step)
        sqrt_correction_2 = ops.sqrt(one_minus_power(self.beta_2, step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        new_m = ops.add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        new_v = ops.add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - self.beta_2))
        self.assign(m, new_m)
        self.assign(v, new_v)
        if self.amsgrad:
            v_max = self._velocity_maxima[index]
            new_v = ops.maximum(v_max, new_v)
            self.assign(v_max, new_v)

        sgd_update = ops.multiply(new_m, ops.cast(momentum_step, dtype))
        # A per-step scheduled beta_2 (a tensor) always takes the rectifier's path, which also handles this case.
        if numerics.is_number(self.beta_2) and 2.0 / (1.0 - self.beta_2) - 1.0 <= self.sma_threshold:
            # rho_t < rho_inf for every t: the rectified step can never switch on.
            self.assign_sub(variable, sgd_update)
            return
        rectified, r_t = rectifier(step, self.beta_2, self.sma_threshold)
        # sqrt(v_hat) + eps == (sqrt(v_t) + eps * sqrt(1 - beta_2^t)) / sqrt(1 - beta_2^t)
        adaptive_update = ops.divide(
            ops.multiply(new_m, ops.cast(momentum_step * r_t * sqrt_correction_2, dtype)),
            ops.add(ops.sqrt(new_v), ops.cast(self.epsilon * sqrt_correction_2, dtype)),
        )
        self.assign_sub(variable, ops.where(rectified, adaptive_update, sgd_update))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
                "sma_threshold": self.sma_threshold,
                "total_steps": self.total_steps,
                "warmup_proportion": self.warmup_proportion,
                "min_lr": self.min_lr,
            }
        )
        return config
