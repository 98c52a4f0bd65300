"""AdEMAMix: Adam whose momentum mixes a fast and a very slow exponential moving average of the gradients."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers import _numerics as numerics
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._numerics import one_minus_power


@register(
    "optimizer",
    "AdEMAMix: Adam with a second, very slow gradient EMA (beta_3) added to the fast one with weight alpha.",
    # A short run needs a short slow memory: beta_3 = 0.99 (half-life ~70 steps), not 0.9999 (~6900 steps).
    example={
        "learning_rate": 0.01,
        "beta_3": 0.99,
        "alpha_warmup_steps": 20,
        "beta_3_warmup_steps": 20,
    },
    slots=3,
    float16_variables=False,
)
class AdEMAMix(Optimizer):
    r"""AdEMAMix: Adam with a mixture of a fast and a slow exponential moving average of the gradients.

    A single EMA cannot both react to the latest gradients and remember gradients from tens of thousands of
    steps ago. AdEMAMix keeps Adam's fast EMA :math:`m_1` and adds a slow one :math:`m_2` (:math:`\beta_3`
    close to 1, no bias correction) weighted by :math:`\alpha`:

    .. math::

        m_1 \leftarrow \beta_1 m_1 + (1 - \beta_1)\, g_t, \qquad
        m_2 \leftarrow \beta_3(t)\, m_2 + (1 - \beta_3(t))\, g_t, \qquad
        \nu \leftarrow \beta_2 \nu + (1 - \beta_2)\, g_t^2

        \theta_t = \theta_{t-1} - \eta_t \left(
            \frac{m_1 / (1 - \beta_1^t) + \alpha(t)\, m_2}{\sqrt{\nu / (1 - \beta_2^t)} + \epsilon}
            + \lambda\, \theta_{t-1} \right)

    with :math:`t = 1, 2, \dots` (``optimizer.iterations + 1``). Early in training the slow EMA is a poor,
    mostly-zero estimate and a large :math:`\alpha m_2` destabilises the run, so the paper warms both up:

    .. math::

        \alpha(t) = \min\!\left(\frac{t}{T_\alpha}\,\alpha,\ \alpha\right), \qquad
        \beta_3(t) = \min\!\left(\exp\!\left(
            \frac{\ln\beta_1 \ln\beta_3}{(1 - t/T_{\beta_3}) \ln\beta_3 + (t/T_{\beta_3}) \ln\beta_1}
        \right),\ \beta_3\right)

    so :math:`\beta_3(t)` moves from :math:`\beta_1` to :math:`\beta_3` with the half-life
    :math:`\ln(1/2)/\ln\beta_3(t)` of the slow EMA growing linearly in :math:`t`, rather than :math:`\beta_3`
    itself, which would jump to long memories almost at once. :math:`T_\alpha` is ``alpha_warmup_steps`` and
    :math:`T_{\beta_3}` is ``beta_3_warmup_steps``; None (the default) switches a warmup off, using
    :math:`\alpha` and :math:`\beta_3` from the first step. The paper sets both to the total number of
    training steps. With ``alpha=0`` the rule is Adam (with :math:`\epsilon` outside the bias correction).

    Choosing :math:`\beta_3`: the slow EMA's half-life is :math:`\ln(1/2)/\ln\beta_3 \approx 0.69/(1 -
    \beta_3)` steps, about 6900 for the default 0.9999, which suits runs of hundreds of thousands of steps. In a
    run not much longer than that half-life the slow EMA keeps pushing along old gradients after the minimum is
    passed, and the iterate overshoots and oscillates; for short runs pick :math:`\beta_3` with a half-life
    well below the run length (e.g. 0.99, about 70 steps, for a few thousand steps).

    Differences from the paper and the authors' PyTorch implementation, stated plainly:

    * ``weight_decay`` is the Keras base argument, decoupled and scaled by the learning rate:
      :math:`\theta \leftarrow \theta - \eta_t \lambda \theta`, which is exactly the :math:`\eta_t \lambda
      \theta_{t-1}` term above (the authors' ``weight_decay``).
    * The :math:`\beta_3` scheduler is the paper's formula, computed in the equivalent form
      :math:`1/\ln\beta_3(t) = (1 - a)/\ln\beta_1 + a/\ln\beta_3` with :math:`a = \min(t/T_{\beta_3}, 1)`,
      which also holds for :math:`\beta_1 = 0`. The authors' code adds :math:`10^{-8}` to :math:`\beta`
      inside its logarithms, which shifts :math:`\beta_3(t)` by about that much.
    * The paper's default :math:`\alpha` is used (5; the authors' PyTorch default is 2), and both warmups are
      separate arguments, as in the paper (the authors' code has one each as well).

    Float16 variables are not supported: with :math:`\beta_3 = 0.9999` each step changes :math:`m_2` by
    :math:`10^{-4}` of the gradient, below float16's resolution, so the slow EMA would stall far from its
    value. Use float32 variables (``mixed_float16`` keeps them float32).

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Decay rate :math:`\beta_1` of the fast EMA, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate :math:`\beta_2` of the second moment, in [0, 1). Defaults to 0.999.
        beta_3: Final decay rate :math:`\beta_3` of the slow EMA, in [0, 1). Defaults to 0.9999.
        alpha: Final weight :math:`\alpha` (>= 0) of the slow EMA. Defaults to 5.0.
        alpha_warmup_steps: :math:`T_\alpha`, the steps over which :math:`\alpha(t)` grows linearly from 0
            (an integer >= 1), or None for no warmup. Defaults to None.
        beta_3_warmup_steps: :math:`T_{\beta_3}`, the steps over which :math:`\beta_3(t)` grows from
            :math:`\beta_1` (an integer >= 1), or None for no warmup. Defaults to None.
        epsilon: :math:`\epsilon` (> 0) added to the denominator. Defaults to 1e-8.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: If a hyperparameter is out of range.
        TypeError: If a hyperparameter has the wrong type.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import AdEMAMix
        >>> optimizer = AdEMAMix(learning_rate=0.1, alpha=5.0, beta_3=0.9)
        >>> weight = keras.Variable([1.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([2.0])], [weight])
        >>> # m_1 / (1 - beta_1) = 2, alpha m_2 = 5 * 0.1 * 2 = 1, sqrt(nu / (1 - beta_2)) = 2.
        >>> round(float(weight.numpy()[0]), 4)  # 1 - 0.1 * (2 + 1) / 2
        0.85

    References:
        - M. Pagliardini, P. Ablin, D. Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
          arXiv:2409.03137, 2024 (ICLR 2025).
        - The authors' implementation: https://github.com/apple/ml-ademamix
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        beta_3: float = 0.9999,
        alpha: float = 5.0,
        alpha_warmup_steps: int | None = None,
        beta_3_warmup_steps: int | None = None,
        epsilon: float = 1e-8,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "ademamix",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        beta_3 = check.check_in_range("beta_3", beta_3, 0.0, 1.0)
        alpha = check.check_non_negative("alpha", alpha)
        alpha_warmup_steps = check.check_optional_int("alpha_warmup_steps", alpha_warmup_steps, minimum=1)
        beta_3_warmup_steps = check.check_optional_int("beta_3_warmup_steps", beta_3_warmup_steps, minimum=1)
        epsilon = check.check_positive("epsilon", epsilon)
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
        self.alpha = alpha
        self.alpha_warmup_steps = alpha_warmup_steps
        self.beta_3_warmup_steps = beta_3_warmup_steps
        self.epsilon = epsilon

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._fast_momentums, self._slow_momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["fast_momentum", "slow_momentum", "velocity"]
        )

    def _alpha_at(self, step: Any) -> Any:
        """alpha(t) in float32 for the 1-based step ``step``."""
        if self.alpha_warmup_steps is None:
            return ops.convert_to_tensor(self.alpha, "float32")
        fraction = ops.minimum(ops.cast(step, "float32") / self.alpha_warmup_steps, 1.0)
        return fraction * self.alpha

    def _beta_3_at(self, step: Any) -> Any:
        """beta_3(t) in float32 for the 1-based step ``step``: the paper's half-life-linear scheduler."""
        if self.beta_3_warmup_steps is None:
            return ops.convert_to_tensor(self.beta_3, "float32")
        # 1 / ln(beta) is proportional to the half-life; a beta of 0 (half-life 0) contributes 0.
        inverse_log_start = 1.0 / numerics.log(self.beta_1) if self.beta_1 > 0.0 else 0.0
        inverse_log_end = 1.0 / numerics.log(self.beta_3) if self.beta_3 > 0.0 else 0.0
        fraction = ops.minimum(ops.cast(step, "float32") / self.beta_3_warmup_steps, 1.0)
        inverse_log = (1.0 - fraction) * inverse_log_start + fraction * inverse_log_end
        has_memory = ops.less(inverse_log, 0.0)
        safe_inverse_log = ops.where(has_memory, inverse_log, -1.0)
        beta = ops.where(has_memory, ops.exp(1.0 / safe_inverse_log), 0.0)
        return ops.minimum(beta, self.beta_3)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        fast, slow, velocity = (
            self._fast_momentums[index],
            self._slow_momentums[index],
            self._velocities[index],
        )
        # Step-dependent scalars in float32, cast once.
        step = ops.cast(self.iterations + 1, "float32")
        fast_correction = ops.cast(one_minus_power(self.beta_1, step), dtype)
        velocity_correction = ops.cast(ops.sqrt(one_minus_power(self.beta_2, step)), dtype)
        slow_rate = ops.cast(1.0 - self._beta_3_at(step), dtype)
        alpha = ops.cast(self._alpha_at(step), dtype)

        new_fast = ops.add(fast, ops.multiply(ops.subtract(gradient, fast), 1.0 - self.beta_1))
        new_slow = ops.add(slow, ops.multiply(ops.subtract(gradient, slow), slow_rate))
        new_velocity = ops.add(
            velocity, ops.multiply(ops.subtract(ops.square(gradient), velocity), 1.0 - self.beta_2)
        )
        self.assign(fast, new_fast)
        self.assign(slow, new_slow)
        self.assign(velocity, new_velocity)
        numerator = ops.add(ops.divide(new_fast, fast_correction), ops.multiply(alpha, new_slow))
        denominator = ops.add(ops.divide(ops.sqrt(new_velocity), velocity_correction), self.epsilon)
        self.assign_sub(variable, ops.multiply(lr, ops.divide(numerator, denominator)))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "alpha": self.alpha,
                "alpha_warmup_steps": self.alpha_warmup_steps,
                "beta_3_warmup_steps": self.beta_3_warmup_steps,
                "epsilon": self.epsilon,
            }
        )
        return config
