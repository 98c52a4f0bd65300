"""ADOPT: Adam with the current gradient left out of its own normalizer, and momentum after normalization."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer


@register(
    "optimizer",
    "ADOPT: momentum of the gradient normalized by the previous second moment; converges for any beta_2.",
    example={"learning_rate": 0.01},
    slots=2,
    float16_variables=True,
)
class ADOPT(Optimizer):
    r"""ADOPT: a modified Adam that converges with any :math:`\beta_2`.

    Adam divides the momentum by a second-moment estimate that already contains the current gradient, which
    correlates the two and breaks convergence unless :math:`\beta_2` is tuned to the problem. ADOPT normalizes
    each gradient by the second moment of the *previous* steps, then averages the normalized gradients:

    .. math::

        v_0 = g_0^2, \qquad m_0 = 0, \qquad \theta \text{ unchanged at } t = 0

        \hat g_t = \operatorname{clip}\!\left(\frac{g_t}{\max(\sqrt{v_{t-1}},\ \epsilon)},\ -c_t,\ c_t\right),
        \qquad c_t = t^{p}

        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, \hat g_t

        \theta_t = \theta_{t-1} - \eta_t\, m_t

        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2

    Here :math:`t` counts from 0 (:math:`t` equals ``optimizer.iterations`` before the step): the first call
    only initialises :math:`v_0 = g_0^2` and leaves the parameters where they are, as in the paper's algorithm.
    There is no bias correction: :math:`v` starts at :math:`g_0^2`, not at zero.

    The clipping: the authors' final version (arXiv v3 and their code, from November 2024) clips the normalized
    gradient at :math:`c_t = t^{1/4}`, a bound that grows slowly enough to keep the convergence guarantee while
    curing the instability of the unclipped rule when some :math:`v_{t-1}` is near zero (e.g. zero-initialised
    layers). The authors recommend it over the unclipped version and make it their default, so it is the
    default here too: ``clip_exponent=0.25``. ``clip_exponent=None`` gives the original, unclipped ADOPT.

    Differences from the authors' PyTorch implementation, stated plainly:

    * ``weight_decay`` is the Keras base argument: decoupled decay
      :math:`\theta \leftarrow \theta - \eta_t\,\lambda\,\theta` before every step, the initialisation step
      included (the authors' ``decouple=True`` skips the decay on that one step; their ``decouple=False``
      L2 variant is not offered).
    * The clipping bound is given by its exponent :math:`p`, not by an arbitrary Python callable, so that it
      serializes and runs under XLA; :math:`t` is the same 0-based count as the authors' ``clip_lambda(step)``.

    With float16 variables the update is computed in float16: with :math:`\beta_2 = 0.9999` the increments of
    :math:`v` fall below float16's resolution, so :math:`v` then follows the gradient scale only coarsely.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Decay rate :math:`\beta_1` of the momentum, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate :math:`\beta_2` of the second moment, in [0, 1). Defaults to 0.9999.
        epsilon: Floor :math:`\epsilon` of :math:`\sqrt{v_{t-1}}` (> 0). Defaults to 1e-6.
        clip_exponent: Exponent :math:`p` (>= 0) of the clipping bound :math:`c_t = t^p` on the normalized
            gradient, or None for no clipping. Defaults to 0.25.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: If a hyperparameter is out of range.
        TypeError: If a hyperparameter has the wrong type.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import ADOPT
        >>> optimizer = ADOPT(learning_rate=0.1)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([2.0])], [weight])  # only sets v_0 = 4
        >>> float(weight.numpy()[0])
        1.0
        >>> optimizer.apply([keras.ops.convert_to_tensor([2.0])], [weight])  # m_1 = 0.1 * 2 / 2
        >>> round(float(weight.numpy()[0]), 4)
        0.99

    References:
        - S. Taniguchi, K. Harada, G. Minegishi, Y. Oshima, S. C. Jeong, G. Nagahara, T. Iiyama, M. Suzuki,
          Y. Iwasawa, Y. Matsuo, "ADOPT: Modified Adam Can Converge with Any beta_2 with the Optimal Rate",
          NeurIPS 2024, arXiv:2411.02853.
        - The authors' implementation: https://github.com/iShohei220/adopt
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.9999,
        epsilon: float = 1e-6,
        clip_exponent: float | None = 0.25,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adopt",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        if clip_exponent is not None:
            clip_exponent = check.check_non_negative("clip_exponent", clip_exponent)
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
        self.clip_exponent = clip_exponent

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._second_moments = self.add_optimizer_variables(
            var_list, ["momentum", "second_moment"]
        )

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._second_moments[index]
        is_first_step = ops.equal(self.iterations, 0)

        normalized = ops.divide(gradient, ops.maximum(ops.sqrt(v), ops.cast(self.epsilon, dtype)))
        if self.clip_exponent is not None:
            # The bound in float32: a float16 step count is inexact beyond 2048.
            step = ops.cast(self.iterations, "float32")
            bound = ops.cast(ops.power(step, self.clip_exponent), dtype)
            normalized = ops.clip(normalized, -bound, bound)
        # On the first step v is still 0: the (unused) normalized gradient may overflow, so select, not scale.
        m_value = ops.convert_to_tensor(m)
        new_m = ops.where(
            is_first_step,
            m_value,
            ops.add(m_value, ops.multiply(ops.subtract(normalized, m_value), 1.0 - self.beta_1)),
        )
        self.assign(m, new_m)
        # m stays 0 on the first step, so the parameter does not move then.
        self.assign_sub(variable, ops.multiply(lr, new_m))
        # v_0 = g_0^2 on the first step, the exponential moving average afterwards.
        v_rate = ops.cast(ops.where(is_first_step, 1.0, 1.0 - self.beta_2), dtype)
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), v_rate))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "clip_exponent": self.clip_exponent,
            }
        )
        return config
