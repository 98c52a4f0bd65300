"""MADGRAD: momentumized, adaptive, dual-averaged gradient method."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer


@register(
    "optimizer",
    "MADGRAD: dual averaging with momentum and a cube-root adaptive denominator (Defazio & Jelassi).",
    example={"learning_rate": 0.01},
    slots=3,
    float16_variables=False,
)
class MADGRAD(Optimizer):
    r"""MADGRAD: a momentumized, adaptive, dual-averaged gradient method.

    With :math:`\lambda_k = \eta_k \sqrt{k + 1}` at step :math:`k = 0, 1, \ldots`, the initial point :math:`x_0`
    and :math:`c = 1 - \text{momentum}`:

    .. math::

        s_{k+1} = s_k + \lambda_k g_k, \qquad \nu_{k+1} = \nu_k + \lambda_k g_k^2, \qquad
        z_{k+1} = x_0 - \frac{s_{k+1}}{\sqrt[3]{\nu_{k+1}} + \epsilon}

        x_{k+1} = (1 - c)\, x_k + c\, z_{k+1}

    :math:`x_0` is kept as a slot, filled with the variable's value at the first step (a reloaded optimizer
    restores it). The slot starts at zero and is rewritten with itself at every later step: that costs one write
    per step, but unlike a slot initialized from the variable it can be created inside an XLA-compiled function,
    where Keras builds optimizers on TensorFlow. With ``momentum=0`` it is not stored: as in the
    authors' code it is recovered from :math:`x_k` each step (:math:`x_0 = x_k + s_k / (\sqrt[3]{\nu_k} +
    \epsilon)`), and :math:`x_{k+1} = z_{k+1}`.

    Weight decay :math:`w` is the Keras base ``weight_decay`` argument, applied as in the authors' code:

    * ``decouple_decay=True`` (the default here): :math:`x_{k+1} \leftarrow x_{k+1} - \eta_k w\, x_k` after the
      step (AdamW-style, with the weights before the step);
    * ``decouple_decay=False`` (the authors' default): an L2 penalty, :math:`g_k \leftarrow g_k + w x_k`, so the
      decay goes through the dual average and the adaptive denominator.

    ``exclude_from_weight_decay`` applies to both.

    Differences from the authors' code, stated plainly:

    * ``decouple_decay`` defaults to True because ``weight_decay`` means decoupled decay for every Keras optimizer
      (and every optimizer in this package); pass ``decouple_decay=False`` for the authors' default.
    * The authors' code adds :math:`\epsilon` to the learning rate (:math:`\lambda_k = (\eta + \epsilon)\sqrt{k+1}`,
      also in the decoupled decay); this class uses :math:`\eta` as in the paper.
    * The step count :math:`k` is the optimizer's global step, and a ``LearningRateSchedule`` gives :math:`\eta_k`
      (the paper's :math:`\lambda_k` with a constant rate).
    * ``epsilon=0`` is allowed, as in the authors' code: where :math:`\nu = 0` (so :math:`s = 0`) the ratio
      :math:`s / \sqrt[3]{\nu}` is taken as 0.

    ``float16_variables=False`` in the registry: :math:`\lambda_k g^2` underflows in float16 for small gradients
    while :math:`\lambda_k g` does not, and the step :math:`s / \epsilon` explodes. Use mixed precision instead.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.01.
        momentum: Momentum in [0, 1); :math:`c = 1 - \text{momentum}`. Defaults to 0.9.
        epsilon: Added to the cube root (>= 0). Defaults to 1e-6.
        decouple_decay: Decoupled (True) or L2 (False) weight decay, see above. Defaults to True.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import MADGRAD
        >>> optimizer = MADGRAD(learning_rate=0.125, momentum=0.0, epsilon=0.0)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([8.0])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # 1 - lr g / (lr g^2)^(1/3) = 1 - 0.125^(2/3) 8^(1/3)
        0.5

    References:
        A. Defazio, S. Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged Gradient
        Method for Stochastic Optimization", arXiv:2101.11075 (2021); authors' implementation
        https://github.com/facebookresearch/madgrad.
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.9,
        epsilon: float = 1e-6,
        decouple_decay: bool = True,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "madgrad",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        momentum = check.check_in_range("momentum", momentum, 0.0, 1.0)
        epsilon = check.check_non_negative("epsilon", epsilon)
        decouple_decay = check.check_bool("decouple_decay", decouple_decay)
        if weight_decay is not None:
            weight_decay = check.check_non_negative("weight_decay", weight_decay)
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
        self.momentum = momentum
        self.epsilon = epsilon
        self.decouple_decay = decouple_decay

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._gradient_sums, self._squared_gradient_sums = self.add_optimizer_variables(
            var_list, ["gradient_sum", "squared_gradient_sum"]
        )
        if self.momentum > 0.0:
            # Zeros until the first step copies the weights in: a slot initialized from another variable cannot
            # be created inside an XLA-compiled function, which is where Keras builds the optimizer on
            # TensorFlow.
            self._initial_values = self.add_optimizer_variables(var_list, "initial_value")

    def _apply_weight_decay(self, variables: list) -> None:
        # Both of the authors' forms are applied in update_step: neither is Keras's decay-before-the-step.
        return

    def _dual_step(self, gradient_sum: Any, squared_gradient_sum: Any) -> Any:
        """``s / (cbrt(nu) + eps)``, with 0 where the denominator is 0 (possible only with ``epsilon=0``)."""
        denominator = ops.power(squared_gradient_sum, 1.0 / 3.0) + self.epsilon
        if self.epsilon > 0.0:
            return gradient_sum / denominator
        positive = denominator > 0.0
        return ops.where(positive, gradient_sum / ops.where(positive, denominator, 1.0), 0.0)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        lr = ops.cast(learning_rate, "float32")
        step = ops.cast(self.iterations + 1, "float32")
        lamb = ops.cast(lr * ops.sqrt(step), dtype)
        index = self._get_variable_index(variable)
        s = self._gradient_sums[index]
        nu = self._squared_gradient_sums[index]
        x = ops.convert_to_tensor(variable)

        decay = None
        if self.weight_decay is not None and self._use_weight_decay(variable):
            decay = self.weight_decay
            if not self.decouple_decay:
                gradient = gradient + decay * x

        if self.momentum > 0.0:
            x0_slot = self._initial_values[index]
            x0 = ops.where(step == 1.0, x, ops.convert_to_tensor(x0_slot))
            self.assign(x0_slot, x0)
        else:
            x0 = x + self._dual_step(s, nu)
        new_s = s + lamb * gradient
        new_nu = nu + lamb * ops.square(gradient)
        self.assign(s, new_s)
        self.assign(nu, new_nu)
        z = x0 - self._dual_step(new_s, new_nu)
        new_x = z if self.momentum == 0.0 else self.momentum * x + (1.0 - self.momentum) * z
        if decay is not None and self.decouple_decay:
            new_x = new_x - ops.cast(lr * decay, dtype) * x
        self.assign(variable, new_x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "decouple_decay": self.decouple_decay,
            }
        )
        return config
