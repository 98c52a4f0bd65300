"""AdaBound: Adam whose per-parameter step size is clipped into bounds that converge to an SGD step size."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._numerics import one_minus_power


def _initial_rate(learning_rate: Any) -> float:
    """The learning rate at step 0, as a Python float (a schedule is evaluated once, eagerly)."""
    if isinstance(learning_rate, float):
        return learning_rate
    return float(ops.convert_to_numpy(learning_rate(0)))


@register(
    "optimizer",
    "AdaBound: Adam with per-parameter step sizes clipped into bounds that converge to SGD's.",
    example={"learning_rate": 0.01, "final_lr": 0.02},
    slots=2,
    float16_variables=False,
)
class AdaBound(Optimizer):
    r"""AdaBound (and AMSBound): Adam with dynamic bounds on the per-parameter step size.

    With the learning rate :math:`\eta_t`, the base learning rate :math:`\eta_0` and
    :math:`\eta^*_t = \text{final\_lr} \cdot \eta_t / \eta_0`:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2

        \eta_l(t) = \eta^*_t \left(1 - \frac{1}{\gamma t + 1}\right), \qquad
        \eta_u(t) = \eta^*_t \left(1 + \frac{1}{\gamma t}\right)

        \theta_t = \theta_{t-1} - \operatorname{clip}\!\left(
            \frac{\eta_t \sqrt{1-\beta_2^t} / (1-\beta_1^t)}{\sqrt{v_t} + \epsilon},\ \eta_l(t),\ \eta_u(t)\right) m_t

    Early on the bounds are loose (:math:`[0, \infty)` in the limit) and the step is Adam's; as :math:`t` grows
    they close in on :math:`\eta^*_t` and the step becomes SGD with momentum at that rate. With
    ``amsbound=True``, :math:`v_t` is replaced by :math:`\max_{k \le t} v_k`.

    Choices, stated plainly:

    * The bounds follow the authors' reference implementation, not the paper's text: they use ``gamma``
      (the paper writes :math:`1-\beta_2` in their place), bias-corrected Adam steps, and the final rate scaled
      by :math:`\eta_t / \eta_0`, so that a ``LearningRateSchedule`` (or a callback that lowers the learning rate)
      lowers the bounds in proportion. :math:`\eta_0` is ``base_learning_rate``, which defaults to the initial
      learning rate: the float given, or a schedule's value at step 0. It is stored in ``get_config``, so an
      optimizer reloaded after a callback lowered its learning rate keeps the original :math:`\eta_0`
      (PyTorch re-reads it from the current rate). The bias corrections, bounds and ratio use the global step.
    * Weight decay is the Keras base ``weight_decay`` argument: decoupled, applied before the step as
      :math:`\theta \leftarrow \theta - \eta_t\lambda\theta`. The authors' ``AdaBound`` adds :math:`\lambda\theta`
      to the gradient (L2) and their ``AdaBoundW`` subtracts :math:`\lambda\theta` unscaled by the rate.
    * ``epsilon`` defaults to 1e-8, as in the authors' code.

    ``float16_variables=False`` in the registry: with float16 slots, :math:`(1-\beta_2) g^2` underflows to zero
    for gradients below about 1e-2 while :math:`m_t` does not, and the early upper bound (about
    :math:`\eta^*/(\gamma t)`) is too loose to contain the resulting step. Use mixed precision instead.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        final_lr: The SGD learning rate the bounds converge to (> 0), at the base learning rate. Defaults to 0.1.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate of the second moment, in [0, 1). Defaults to 0.999.
        gamma: Convergence speed of the bounds, in (0, 1). Defaults to 1e-3.
        epsilon: Added to :math:`\sqrt{v_t}` (> 0). Defaults to 1e-8.
        amsbound: Use :math:`\max_{k \le t} v_k` (AMSBound). Defaults to False.
        base_learning_rate: :math:`\eta_0` (> 0), or None for the initial learning rate (required when that is 0,
            e.g. for a warmup from 0). Defaults to None.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import AdaBound
        >>> optimizer = AdaBound(learning_rate=0.01, final_lr=0.1)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([0.5])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # step 1 is Adam's: lr * sign(g)
        0.99

    References:
        L. Luo, Y. Xiong, Y. Liu, X. Sun, "Adaptive Gradient Methods with Dynamic Bound of Learning Rate",
        ICLR 2019, arXiv:1902.09843; reference implementation https://github.com/Luolc/AdaBound.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        final_lr: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        gamma: float = 1e-3,
        epsilon: float = 1e-8,
        amsbound: bool = False,
        base_learning_rate: float | None = None,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adabound",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        final_lr = check.check_positive("final_lr", final_lr)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        gamma = check.check_in_range("gamma", gamma, 0.0, 1.0, low_inclusive=False)
        epsilon = check.check_positive("epsilon", epsilon)
        amsbound = check.check_bool("amsbound", amsbound)
        if weight_decay is not None:
            weight_decay = check.check_non_negative("weight_decay", weight_decay)
        if base_learning_rate is None:
            base_learning_rate = _initial_rate(learning_rate)
            if base_learning_rate < check.FLOAT32_TINY:  # 0, or 0 in float32
                raise ValueError(
                    "`base_learning_rate` must be given when the initial `learning_rate` is 0 in float32 (the bounds scale by "
                    "learning_rate / base_learning_rate; pass e.g. the peak rate of a warmup). "
                    f"Received: base_learning_rate=None with an initial learning rate of {base_learning_rate}"
                )
        else:
            base_learning_rate = check.check_positive("base_learning_rate", base_learning_rate)
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
        self.final_lr = final_lr
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.gamma = gamma
        self.epsilon = epsilon
        self.amsbound = amsbound
        self.base_learning_rate = base_learning_rate

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        if self.amsbound:
            self._velocity_maxima = self.add_optimizer_variables(var_list, "velocity_max")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        # Step-dependent scalars in float32 whatever the variable dtype; cast once at the end.
        lr = ops.cast(learning_rate, "float32")
        step = ops.cast(self.iterations + 1, "float32")
        adam_rate = (
            lr * ops.sqrt(one_minus_power(self.beta_2, step)) / one_minus_power(self.beta_1, step)
        )
        final_rate = lr * (self.final_lr / self.base_learning_rate)
        lower = final_rate * (1.0 - 1.0 / (self.gamma * step + 1.0))
        upper = final_rate * (1.0 + 1.0 / (self.gamma * step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        new_m = m + (1.0 - self.beta_1) * (gradient - m)
        new_v = v + (1.0 - self.beta_2) * (ops.square(gradient) - v)
        self.assign(m, new_m)
        self.assign(v, new_v)
        if self.amsbound:
            v_max = self._velocity_maxima[index]
            new_v = ops.maximum(v_max, new_v)
            self.assign(v_max, new_v)

        step_size = ops.clip(
            ops.cast(adam_rate, dtype) / (ops.sqrt(new_v) + self.epsilon),
            ops.cast(lower, dtype),
            ops.cast(upper, dtype),
        )
        self.assign_sub(variable, step_size * new_m)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "final_lr": self.final_lr,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "gamma": self.gamma,
                "epsilon": self.epsilon,
                "amsbound": self.amsbound,
                "base_learning_rate": self.base_learning_rate,
            }
        )
        return config
