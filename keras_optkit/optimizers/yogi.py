"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._numerics import one_minus_power

ACTIVATIONS = ("sign", "tanh")


@register(
    "optimizer",
    "Yogi: Adam whose second moment moves additively, by (1 - beta_2) g^2 towards g^2.",
    example={"learning_rate": 0.03},
    slots=2,
    float16_variables=True,
)
class Yogi(Optimizer):
    r"""Yogi, an adaptive method whose effective learning rate cannot grow abruptly.

    Adam's :math:`v_t = v_{t-1} - (1-\beta_2)(v_{t-1} - g_t^2)` can shrink :math:`v` (and so raise the step)
    by a large fraction of itself in one step when gradients suddenly become small. Yogi changes :math:`v` only
    by :math:`(1-\beta_2) g_t^2`, in the direction of :math:`g_t^2` (Algorithm 2 of the paper):

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = v_{t-1} + (1-\beta_2)\, \operatorname{sign}(g_t^2 - v_{t-1})\, g_t^2, \qquad v_0 = v_{\text{init}}

        \theta_t = \theta_{t-1} - \alpha_t\, m_t, \qquad
        \alpha_t = \frac{\eta_t \sqrt{1-\beta_2^t} / (1-\beta_1^t)}{\sqrt{v_t} + \epsilon}

    With ``activation="tanh"``, :math:`\operatorname{sign}(x)` is replaced by :math:`\tanh(10x)`. With
    ``l1_regularization_strength`` :math:`\lambda_1` or ``l2_regularization_strength`` :math:`\lambda_2`, the step
    is followed by the proximal operator of :math:`\lambda_1 |\theta| + \tfrac{\lambda_2}{2}\theta^2` with the
    per-coordinate step :math:`\alpha_t`:
    :math:`\theta \leftarrow \operatorname{sign}(\theta)\max(|\theta| - \alpha_t\lambda_1, 0) / (1 + \alpha_t\lambda_2)`,
    which sets small weights exactly to zero under L1 (not the same as adding the penalty to the loss).

    Choices and differences, stated plainly:

    * Defaults and behaviour follow TF-Addons ``Yogi`` (learning rate 0.01, :math:`\epsilon` = 1e-3,
      :math:`v_{\text{init}}` = 1e-6, the proximal L1/L2 step, ``activation``), including its Adam-style bias
      correction of the step size :math:`\sqrt{1-\beta_2^t}/(1-\beta_1^t)`, which the paper's Algorithm 2 does
      not have. TF-Addons names the decay rates ``beta1``/``beta2``; they are ``beta_1``/``beta_2`` here, as in
      Keras. With ``beta_1=0`` no first-moment slot is kept and :math:`m_t = g_t`.
    * ``initial_accumulator_value`` may be 0 (TF-Addons requires > 0): :math:`v_t` stays non-negative either way.
    * ``weight_decay`` is the Keras base decoupled decay, applied before the step; it is independent of the
      proximal L1/L2 terms, which TF-Addons offers instead.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.01.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: Controls the size of the additive second-moment change, in [0, 1). Defaults to 0.999.
        epsilon: Added to :math:`\sqrt{v_t}` (> 0); large on purpose, it bounds the adaptivity. Defaults to 1e-3.
        initial_accumulator_value: :math:`v_0` (>= 0). Defaults to 1e-6.
        l1_regularization_strength: :math:`\lambda_1` of the proximal step (>= 0). Defaults to 0.
        l2_regularization_strength: :math:`\lambda_2` of the proximal step (>= 0). Defaults to 0.
        activation: ``"sign"`` (the paper) or ``"tanh"`` (a smooth sign). Defaults to ``"sign"``.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import Yogi
        >>> optimizer = Yogi(learning_rate=0.1, epsilon=1e-8, initial_accumulator_value=0.0)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([0.5])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # first step: lr * sign(g), as in Adam
        0.9

    References:
        M. Zaheer, S. Reddi, D. Sachan, S. Kale, S. Kumar, "Adaptive Methods for Nonconvex Optimization",
        NeurIPS 2018 (no arXiv version).
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-3,
        initial_accumulator_value: float = 1e-6,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        activation: str = "sign",
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "yogi",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        initial_accumulator_value = check.check_non_negative(
            "initial_accumulator_value", initial_accumulator_value
        )
        l1_regularization_strength = check.check_non_negative(
            "l1_regularization_strength", l1_regularization_strength
        )
        l2_regularization_strength = check.check_non_negative(
            "l2_regularization_strength", l2_regularization_strength
        )
        activation = check.check_choice("activation", activation, ACTIVATIONS)
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
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.activation = activation

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(
            var_list,
            "velocity",
            initializer=keras.initializers.Constant(self.initial_accumulator_value),
        )
        if self.beta_1 > 0.0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, "float32")
        corrected_lr = (
            ops.cast(learning_rate, "float32")
            * ops.sqrt(one_minus_power(self.beta_2, step))
            / one_minus_power(self.beta_1, step)
        )

        index = self._get_variable_index(variable)
        if self.beta_1 > 0.0:
            m = self._momentums[index]
            direction = ops.add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
            self.assign(m, direction)
        else:
            direction = gradient
        v = self._velocities[index]
        squared = ops.square(gradient)
        if self.activation == "sign":
            towards = ops.sign(ops.subtract(squared, v))
        else:
            towards = ops.tanh(ops.multiply(ops.subtract(squared, v), 10.0))
        new_v = ops.add(v, ops.multiply(ops.multiply(towards, squared), 1.0 - self.beta_2))
        self.assign(v, new_v)

        per_coordinate_lr = ops.divide(
            ops.cast(corrected_lr, dtype), ops.add(ops.sqrt(new_v), self.epsilon)
        )
        if self.l1_regularization_strength == 0.0 and self.l2_regularization_strength == 0.0:
            self.assign_sub(variable, ops.multiply(per_coordinate_lr, direction))
            return
        stepped = ops.subtract(variable, ops.multiply(per_coordinate_lr, direction))
        shrunk = ops.maximum(
            ops.subtract(
                ops.abs(stepped), ops.multiply(per_coordinate_lr, self.l1_regularization_strength)
            ),
            0.0,
        )
        scale = ops.add(ops.multiply(per_coordinate_lr, self.l2_regularization_strength), 1.0)
        self.assign(variable, ops.divide(ops.multiply(ops.sign(stepped), shrunk), scale))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "activation": self.activation,
            }
        )
        return config
