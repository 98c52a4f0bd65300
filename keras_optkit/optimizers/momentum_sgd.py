"""SGD with heavy-ball or Nesterov momentum and PyTorch's dampening."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer


@register(
    "optimizer",
    "SGD with momentum, dampening and Nesterov, following PyTorch's torch.optim.SGD.",
    example={"learning_rate": 0.05, "momentum": 0.9},
    slots=1,
    float16_variables=True,
)
class MomentumSGD(Optimizer):
    r"""Stochastic gradient descent with momentum, dampening and Nesterov momentum.

    The momentum buffer follows PyTorch's ``torch.optim.SGD``:

    .. math::

        b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t, \qquad b_0 = 0

        \theta_t = \theta_{t-1} - \eta_t\, b_t
        \quad\text{or, with Nesterov,}\quad
        \theta_t = \theta_{t-1} - \eta_t\, (g_t + \mu\, b_t)

    where :math:`\mu` is ``momentum`` and :math:`\tau` is ``dampening``. With ``dampening=momentum`` the buffer
    is the exponential moving average :math:`b_t = \beta b_{t-1} + (1 - \beta) g_t`. With ``momentum=0`` this
    is plain SGD and no buffer is kept.

    Differences from ``torch.optim.SGD``, stated plainly:

    * The buffer starts at zero, so the first step uses :math:`b_1 = (1 - \tau) g_1`. PyTorch instead sets
      :math:`b_1 = g_1` (undamped). The two agree whenever ``dampening=0`` (the default); with ``dampening > 0``
      only the first step and the decay of its contribution differ, and the EMA form above holds exactly
      from the first step (no bias correction is applied).
    * ``weight_decay`` is the Keras base argument: decoupled decay
      :math:`\theta \leftarrow \theta - \eta_t\,\lambda\,\theta` before the step (as in Keras' own optimizers),
      not PyTorch's L2 term :math:`g_t + \lambda\theta` that also flows through the momentum buffer.

    Compared with ``keras.optimizers.SGD`` (:math:`v_t = \mu v_{t-1} - \eta_t g_t`), the learning rate here
    multiplies the buffer rather than entering it, so the two differ only while the learning rate changes.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.01.
        momentum: :math:`\mu` in [0, 1). Defaults to 0.9.
        dampening: :math:`\tau` in [0, 1): the fraction of the gradient held back from the buffer.
            Defaults to 0.
        nesterov: Whether to use Nesterov momentum. Requires ``momentum > 0`` and ``dampening == 0``
            (as in PyTorch). Defaults to False.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: If a hyperparameter is out of range, or ``nesterov=True`` with ``momentum == 0`` or
            ``dampening != 0``.
        TypeError: If a hyperparameter has the wrong type.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import MomentumSGD
        >>> optimizer = MomentumSGD(learning_rate=0.1, momentum=0.5)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([1.0])], [weight])
        >>> optimizer.apply([keras.ops.convert_to_tensor([1.0])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # 1 - 0.1 * 1 - 0.1 * 1.5
        0.75

    References:
        - B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", USSR Computational
          Mathematics and Mathematical Physics 4(5), 1964.
        - I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of initialization and momentum in
          deep learning", ICML 2013 (Nesterov momentum in this form).
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.9,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "momentum_sgd",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        momentum = check.check_in_range("momentum", momentum, 0.0, 1.0)
        dampening = check.check_in_range("dampening", dampening, 0.0, 1.0)
        nesterov = check.check_bool("nesterov", nesterov)
        if nesterov and (momentum == 0.0 or dampening != 0.0):
            raise ValueError(
                "`nesterov=True` requires `momentum` > 0 and `dampening` == 0. "
                f"Received: nesterov={nesterov}, momentum={momentum}, dampening={dampening}"
            )
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
        self.dampening = dampening
        self.nesterov = nesterov

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        if self.momentum > 0.0:
            self._buffers = self.add_optimizer_variables(var_list, "momentum_buffer")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0.0:
            self.assign_sub(variable, ops.multiply(lr, gradient))
            return
        buffer = self._buffers[self._get_variable_index(variable)]
        new_buffer = ops.add(
            ops.multiply(buffer, self.momentum), ops.multiply(gradient, 1.0 - self.dampening)
        )
        self.assign(buffer, new_buffer)
        if self.nesterov:
            direction = ops.add(gradient, ops.multiply(new_buffer, self.momentum))
        else:
            direction = new_buffer
        self.assign_sub(variable, ops.multiply(lr, direction))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"momentum": self.momentum, "dampening": self.dampening, "nesterov": self.nesterov}
        )
        return config
