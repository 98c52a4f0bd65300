"""Adan: adaptive Nesterov momentum, with the official implementation's conventions."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._numerics import one_minus_power


@register(
    "optimizer",
    "Adan: adaptive Nesterov momentum, with moments of the gradient and of its change (official defaults).",
    example={"learning_rate": 0.01},
    slots=4,
    float16_variables=False,
)
class Adan(Optimizer):
    r"""Adan: adaptive Nesterov momentum estimation.

    With :math:`\Delta_t = g_t - g_{t-1}` (and :math:`g_0 = g_1`, so :math:`\Delta_1 = 0`, as in the official
    code), in the official PyTorch implementation's convention:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        d_t = \beta_2 d_{t-1} + (1-\beta_2) \Delta_t, \qquad
        n_t = \beta_3 n_{t-1} + (1-\beta_3) (g_t + \beta_2 \Delta_t)^2

        u_t = \frac{\eta_t}{\sqrt{n_t / (1-\beta_3^t)} + \epsilon}
            \left(\frac{m_t}{1-\beta_1^t} + \beta_2 \frac{d_t}{1-\beta_2^t}\right)

        \theta_t = \frac{\theta_{t-1} - u_t}{1 + \eta_t\lambda} \quad\text{(default)}, \qquad
        \theta_t = (1 - \eta_t\lambda)\,\theta_{t-1} - u_t \quad\text{(} \texttt{no\_prox=True} \text{)}

    Mapping to the paper's Algorithm 1: there the moments read :math:`m_k = (1-\beta_1) m_{k-1} + \beta_1 g_k`
    and so on, so the paper's :math:`(\beta_1, \beta_2, \beta_3) = (0.02, 0.08, 0.01)` are ``1 - beta_1``,
    ``1 - beta_2``, ``1 - beta_3`` here (defaults 0.98, 0.92, 0.99). The paper has no bias correction; the
    official code (and this class) divides each moment by :math:`1-\beta^t`.

    Weight decay :math:`\lambda` is the Keras base ``weight_decay`` argument, applied the official way: by default
    as the proximal step above (the paper's :math:`(1 + \lambda\eta)^{-1}` factor), or, with ``no_prox=True``,
    decoupled before the step, which is exactly Keras's own weight decay. ``exclude_from_weight_decay`` applies.

    Differences from the official code, stated plainly: its ``max_grad_norm`` (global gradient clipping, with
    :math:`\epsilon` added to the norm) is Keras's ``global_clipnorm`` here (without :math:`\epsilon`). The
    first step's :math:`g_0 = g_1` is the official code's choice (the paper leaves :math:`g_0` unspecified).

    ``float16_variables=False`` in the registry: the default :math:`\epsilon = 10^{-8}` rounds to 0 in float16 and
    :math:`(1-\beta_3) u^2` underflows for small gradients, so :math:`0/0` can occur. Use mixed precision instead.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Decay rate of the gradient's moving average, in [0, 1). Defaults to 0.98.
        beta_2: Decay rate of the gradient difference's moving average, in [0, 1). Defaults to 0.92.
        beta_3: Decay rate of the second moment, in [0, 1). Defaults to 0.99.
        epsilon: Added to the denominator (> 0). Defaults to 1e-8.
        no_prox: Apply weight decay before the step instead of as a proximal step. Defaults to False.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import Adan
        >>> optimizer = Adan(learning_rate=0.01)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([0.5])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # step 1: lr * m_hat / sqrt(n_hat) = lr * sign(g)
        0.99

    References:
        X. Xie, P. Zhou, H. Li, Z. Lin, S. Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing
        Deep Models", arXiv:2208.06677 (2022); official implementation https://github.com/sail-sg/Adan.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.98,
        beta_2: float = 0.92,
        beta_3: float = 0.99,
        epsilon: float = 1e-8,
        no_prox: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adan",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        beta_3 = check.check_in_range("beta_3", beta_3, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        no_prox = check.check_bool("no_prox", no_prox)
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.beta_3 = beta_3
        self.epsilon = epsilon
        self.no_prox = no_prox

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        (
            self._momentums,
            self._difference_momentums,
            self._second_moments,
            self._previous_gradients,
        ) = self.add_optimizer_variables(
            var_list, ["momentum", "difference_momentum", "second_moment", "previous_gradient"]
        )

    def _apply_weight_decay(self, variables: list) -> None:
        # With no_prox=True the official decay is Keras's own (before the step); otherwise it is the proximal
        # division in update_step.
        if self.no_prox:
            super()._apply_weight_decay(variables)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        # Step-dependent scalars in float32 whatever the variable dtype; cast once at the end.
        lr = ops.cast(learning_rate, "float32")
        step = ops.cast(self.iterations + 1, "float32")
        momentum_rate = ops.cast(lr / one_minus_power(self.beta_1, step), dtype)
        difference_rate = ops.cast(lr * self.beta_2 / one_minus_power(self.beta_2, step), dtype)
        second_moment_scale = ops.cast(ops.rsqrt(one_minus_power(self.beta_3, step)), dtype)
        # g_0 = g_1: no difference on the first step (the previous-gradient slot still holds zeros).
        not_first = ops.cast(step > 1.0, dtype)

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        d = self._difference_momentums[index]
        n = self._second_moments[index]
        previous = self._previous_gradients[index]
        difference = (gradient - previous) * not_first
        new_m = m + (1.0 - self.beta_1) * (gradient - m)
        new_d = d + (1.0 - self.beta_2) * (difference - d)
        nesterov = gradient + self.beta_2 * difference
        new_n = n + (1.0 - self.beta_3) * (ops.square(nesterov) - n)
        self.assign(m, new_m)
        self.assign(d, new_d)
        self.assign(n, new_n)
        self.assign(previous, gradient)

        denominator = ops.sqrt(new_n) * second_moment_scale + self.epsilon
        update = (momentum_rate * new_m + difference_rate * new_d) / denominator
        if self.no_prox or self.weight_decay is None or not self._use_weight_decay(variable):
            self.assign_sub(variable, update)
        else:
            shrink = ops.cast(1.0 / (1.0 + lr * self.weight_decay), dtype)
            self.assign(variable, (variable - update) * shrink)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "epsilon": self.epsilon,
                "no_prox": self.no_prox,
            }
        )
        return config
