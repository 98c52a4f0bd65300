"""NovoGrad: momentum SGD on gradients normalized by a per-layer second moment."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer


def _norm_dtype(dtype: str) -> str:
    """Norms of half-precision gradients are accumulated in float32 (a float16 sum of squares overflows at 65504)."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


@register(
    "optimizer",
    "NovoGrad: momentum on gradients normalized per layer by a scalar second moment (half Adam's memory).",
    example={"learning_rate": 0.05},
    slots=1,
    float16_variables=True,
)
class NovoGrad(Optimizer):
    r"""NovoGrad: stochastic gradient descent normalized by layer-wise adaptive second moments.

    Each variable ("layer" :math:`l`) keeps one scalar second moment :math:`v^l` of its gradient's squared norm,
    and momentum runs on the normalized gradient (Algorithm 1 of the paper):

    .. math::

        v^l_t = \beta_2 v^l_{t-1} + (1-\beta_2)\, \lVert g^l_t \rVert^2, \qquad v^l_1 = \lVert g^l_1 \rVert^2

        m^l_t = \beta_1 m^l_{t-1} + \left(\frac{g^l_t}{\sqrt{v^l_t} + \epsilon} + d\, \theta^l_t\right),
        \qquad \theta^l_{t+1} = \theta^l_t - \eta_t m^l_t

    with :math:`d` = ``moment_weight_decay``. With ``grad_averaging=True`` the bracket is multiplied by
    :math:`1-\beta_1` from the second step on (an exponential moving average, as in TF-Addons and OpenSeq2Seq).
    With ``amsgrad=True`` the running maximum of :math:`v^l_t` is used. Memory: one full-size slot (:math:`m`)
    plus one scalar per variable, against Adam's two full-size slots.

    Choices and differences, stated plainly:

    * Two weight decays. ``moment_weight_decay`` is the paper's :math:`d`: added to the *normalized* gradient, so
      it travels through the momentum (TF-Addons calls it ``weight_decay``). ``weight_decay`` is the Keras base
      argument: decoupled, applied directly as :math:`\theta \leftarrow \theta - \eta\lambda\theta` before the step.
      The name ``moment_weight_decay`` says where the paper's decay enters and leaves ``weight_decay`` its Keras
      meaning, so ``keras.optimizers`` code and the package's callbacks keep working; use one or the other.
    * Defaults follow TF-Addons (:math:`\beta_1=0.9`, :math:`\beta_2=0.999`, :math:`\epsilon=10^{-7}`). The paper
      chooses its betas per task (see its experiments), not these values. 0.999 makes :math:`v` a long average
      of the gradient norm, slow to follow a change of gradient scale: lower it if that matters.
    * :math:`v^l` is initialised with the first *non-zero* :math:`\lVert g^l\rVert^2` of each variable (the paper
      and TF-Addons use the first step's, even if it is zero); the two agree unless a variable gets an all-zero
      gradient on step 1, where ours avoids a later step blown up by a tiny :math:`v`. The undamped first step
      of ``grad_averaging`` follows the same per-variable rule.
    * The learning rate multiplies the momentum, :math:`\theta \leftarrow \theta - \eta_t m_t` (the paper); TF-Addons
      puts it inside the momentum buffer, which differs only while a schedule changes :math:`\eta_t`.
    * The squared norms and :math:`v` are kept in float32 for float16/bfloat16 variables.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Momentum of the normalized gradients, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate of the per-variable second moment, in [0, 1). Defaults to 0.999.
        epsilon: Added to :math:`\sqrt{v}` (> 0). Defaults to 1e-7.
        moment_weight_decay: The paper's weight decay :math:`d` (>= 0), added to the normalized gradient.
            Defaults to 0.
        grad_averaging: Whether to damp the bracket by :math:`1-\beta_1` after the first step. Defaults to False.
        amsgrad: Whether to use the running maximum of :math:`v`. Defaults to False.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import NovoGrad
        >>> optimizer = NovoGrad(learning_rate=0.1)
        >>> weight = keras.Variable([3.0, 4.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([3.0, 4.0])], [weight])
        >>> [round(float(w), 4) for w in weight.numpy()]  # a step of lr along g / ||g||
        [2.94, 3.92]

    References:
        B. Ginsburg, P. Castonguay, O. Hrinchuk, O. Kuchaiev, V. Lavrukhin, R. Leary, J. Li, H. Nguyen, Y. Zhang,
        J. M. Cohen, "Training Deep Networks with Stochastic Gradient Normalized by Layerwise Adaptive Second
        Moments" (first titled "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of
        Deep Networks"), arXiv:1905.11286.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        moment_weight_decay: float = 0.0,
        grad_averaging: bool = False,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "novograd",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        moment_weight_decay = check.check_non_negative("moment_weight_decay", moment_weight_decay)
        grad_averaging = check.check_bool("grad_averaging", grad_averaging)
        amsgrad = check.check_bool("amsgrad", amsgrad)
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
        self.moment_weight_decay = moment_weight_decay
        self.grad_averaging = grad_averaging
        self.amsgrad = amsgrad

    def _add_scalar_slots(self, var_list: list, name: str) -> list:
        slots = []
        for variable in var_list:
            prefix = getattr(variable, "path", variable.name).replace("/", "_").replace(":", "_")
            slots.append(
                self.add_variable(
                    shape=(), dtype=_norm_dtype(variable.dtype), name=f"{prefix}_{name}"
                )
            )
        return slots

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._second_moments = self._add_scalar_slots(var_list, "second_moment")
        if self.amsgrad:
            self._second_moment_maxima = self._add_scalar_slots(var_list, "second_moment_max")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        norm_dtype = _norm_dtype(dtype)
        index = self._get_variable_index(variable)
        gradient = ops.cast(gradient, norm_dtype)

        v = self._second_moments[index]
        squared_norm = ops.sum(ops.square(gradient))
        first = ops.equal(v, 0.0)  # no non-zero gradient seen yet: start the average at this norm
        new_v = ops.where(first, squared_norm, v * self.beta_2 + squared_norm * (1.0 - self.beta_2))
        self.assign(v, new_v)
        if self.amsgrad:
            v_max = self._second_moment_maxima[index]
            new_v = ops.maximum(v_max, new_v)
            self.assign(v_max, new_v)

        bracket = ops.cast(ops.multiply(gradient, 1.0 / (ops.sqrt(new_v) + self.epsilon)), dtype)
        if self.moment_weight_decay > 0.0:
            bracket = ops.add(bracket, ops.multiply(variable, self.moment_weight_decay))
        if self.grad_averaging:
            bracket = ops.multiply(
                bracket, ops.cast(ops.where(first, 1.0, 1.0 - self.beta_1), dtype)
            )
        m = self._momentums[index]
        new_m = ops.add(ops.multiply(m, self.beta_1), bracket)
        self.assign(m, new_m)
        self.assign_sub(variable, ops.multiply(ops.cast(learning_rate, dtype), new_m))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "moment_weight_decay": self.moment_weight_decay,
                "grad_averaging": self.grad_averaging,
                "amsgrad": self.amsgrad,
            }
        )
        return config
