"""AdaBelief: Adam whose second moment tracks the gradient's deviation from its own moving average."""

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
    "AdaBelief: Adam with the second moment of (g - m) instead of g, i.e. the belief in the gradient.",
    example={"learning_rate": 0.01},
    slots=2,
    float16_variables=False,
)
class AdaBelief(Optimizer):
    r"""AdaBelief: adapts the step size by the "belief" in the observed gradient.

    Adam divides by the moving average of :math:`g_t^2`; AdaBelief divides by the moving average of
    :math:`(g_t - m_t)^2`, the squared deviation of the gradient from its prediction :math:`m_t`. Where gradients
    agree with their average the step is large; where they scatter it is small (Algorithm 2 of the paper):

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon

        \hat m_t = \frac{m_t}{1-\beta_1^t}, \qquad \hat s_t = \frac{s_t}{1-\beta_2^t}, \qquad
        \theta_t = \theta_{t-1} - \eta_t \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon}

    Note that :math:`\epsilon` enters twice, as in the paper: inside :math:`s_t` (so it accumulates; after bias
    correction it contributes about :math:`\epsilon / (1-\beta_2)` to :math:`\hat s_t`) and in the denominator.
    That is why its default, 1e-14, is far smaller than Adam's. With ``amsgrad=True``, :math:`\hat s_t` uses
    :math:`\max_{k\le t} s_k` (the paper's AMSGrad variant of Algorithm 2).

    With ``rectify=True`` the step is rectified as in RAdam (Liu et al., arXiv:1908.03265), as the authors'
    implementations and TF-Addons offer: bias-corrected momentum SGD steps :math:`\eta_t \hat m_t` while
    :math:`\rho_t <` ``sma_threshold``, then :math:`r_t` times the step above (see :class:`RAdam`).

    Choices and differences, stated plainly:

    * Argument names follow TF-Addons ``AdaBelief``. ``rectify`` defaults to False here (the paper's algorithm);
      TF-Addons and the authors' packages default to True. TF-Addons' built-in warmup (``total_steps``,
      ``warmup_proportion``, ``min_lr``) is not offered: pass a warmup ``LearningRateSchedule`` instead.
    * Weight decay is the Keras base ``weight_decay``: decoupled, :math:`\theta \leftarrow \theta -
      \eta\lambda\theta` before the step, which is the same as TF-Addons' and the authors' default
      ``weight_decouple=True`` (their non-decoupled L2 option is not offered).

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate of the belief (second) moment, in [0, 1). Defaults to 0.999.
        epsilon: Added inside :math:`s_t` and to :math:`\sqrt{\hat s_t}` (> 0). Defaults to 1e-14.
        amsgrad: Whether to use the running maximum of :math:`s_t`. Defaults to False.
        rectify: Whether to apply RAdam's rectification. Defaults to False.
        sma_threshold: With ``rectify``, rectify once :math:`\rho_t \ge` this value (>= 4). Defaults to 5.0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    ``float16_variables=False`` in the registry: 1e-14 is zero in float16, and a gradient that equals its
    average (e.g. exactly zero, as for dead ReLU units) then gives 0/0. Use mixed precision instead.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import AdaBelief
        >>> optimizer = AdaBelief(learning_rate=0.1)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([0.5])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # the first step has size lr / 0.9 (|g - m_1| = 0.9 |g|)
        0.8889

    References:
        J. Zhuang, T. Tang, Y. Ding, S. Tatikonda, N. Dvornek, X. Papademetris, J. S. Duncan, "AdaBelief
        Optimizer: Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020, arXiv:2010.07468.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-14,
        amsgrad: bool = False,
        rectify: bool = False,
        sma_threshold: float = 5.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adabelief",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        amsgrad = check.check_bool("amsgrad", amsgrad)
        rectify = check.check_bool("rectify", rectify)
        sma_threshold = check.check_in_range("sma_threshold", sma_threshold, 4.0, math.inf)
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
        self.rectify = rectify
        self.sma_threshold = sma_threshold

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._beliefs = self.add_optimizer_variables(
            var_list, ["momentum", "belief"]
        )
        if self.amsgrad:
            self._belief_maxima = self.add_optimizer_variables(var_list, "belief_max")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        # Step-dependent scalars in float32 whatever the variable dtype; cast once at the end.
        step = ops.cast(self.iterations + 1, "float32")
        momentum_step = ops.cast(learning_rate, "float32") / one_minus_power(self.beta_1, step)
        sqrt_correction_2 = ops.sqrt(one_minus_power(self.beta_2, step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        s = self._beliefs[index]
        new_m = ops.add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        deviation = ops.square(ops.subtract(gradient, new_m))
        # beta_2 s + (1 - beta_2) (d + eps / (1 - beta_2)) is the paper's beta_2 s + (1 - beta_2) d + eps. Adding eps
        # inside keeps XLA:CPU from splitting the step into separate loops (2.6x slower; benchmarks/README.md).
        new_s = ops.add(
            ops.multiply(s, self.beta_2),
            ops.multiply(ops.add(deviation, self.epsilon / (1.0 - self.beta_2)), 1.0 - self.beta_2),
        )
        self.assign(m, new_m)
        self.assign(s, new_s)
        if self.amsgrad:
            s_max = self._belief_maxima[index]
            new_s = ops.maximum(s_max, new_s)
            self.assign(s_max, new_s)

        # sqrt(s_hat) + eps == (sqrt(s_t) + eps * sqrt(1 - beta_2^t)) / sqrt(1 - beta_2^t)
        denominator = ops.add(ops.sqrt(new_s), ops.cast(self.epsilon * sqrt_correction_2, dtype))
        if not self.rectify:
            scale = momentum_step * sqrt_correction_2
            self.assign_sub(
                variable, ops.divide(ops.multiply(new_m, ops.cast(scale, dtype)), denominator)
            )
            return
        sgd_update = ops.multiply(new_m, ops.cast(momentum_step, dtype))
        # A per-step scheduled beta_2 (a tensor) always takes the rectifier's path, which also handles this case.
        if numerics.is_number(self.beta_2) and 2.0 / (1.0 - self.beta_2) - 1.0 <= self.sma_threshold:
            # rho_t < rho_inf for every t: the rectified step can never switch on.
            self.assign_sub(variable, sgd_update)
            return
        rectified, r_t = rectifier(step, self.beta_2, self.sma_threshold)
        scale = momentum_step * r_t * sqrt_correction_2
        adaptive_update = ops.divide(ops.multiply(new_m, ops.cast(scale, dtype)), denominator)
        self.assign_sub(variable, ops.where(rectified, adaptive_update, sgd_update))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
                "rectify": self.rectify,
                "sma_threshold": self.sma_threshold,
            }
        )
        return config
