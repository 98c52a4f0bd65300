"""Prodigy: Adam whose step size d is estimated on the fly from the distance travelled (learning-rate free)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers import _numerics as numerics
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._distribute import share_per_replica, sum_across_replicas
from keras_optkit.optimizers._numerics import one_minus_power


@register(
    "optimizer",
    "Prodigy: learning-rate-free Adam whose step size d is estimated from the distance travelled from x_0.",
    example={"learning_rate": 1.0},
    slots=4,
    float16_variables=False,
)
class Prodigy(Optimizer):
    r"""Prodigy: an Adam whose step size :math:`d` is estimated online, so the learning rate need not be tuned.

    Prodigy (a refinement of D-Adaptation) estimates :math:`D = \lVert x_0 - x_* \rVert`, the distance to a
    solution, from a weighted correlation of the gradients with the distance travelled from the starting point
    :math:`x_0`, and uses :math:`d_k \eta_k` as Adam's step size. ``learning_rate`` :math:`\eta_k` is only a
    multiplier of :math:`d` (1 by default; a schedule such as cosine decay still helps). With
    :math:`\lambda_k = d_k \eta_k \rho_k` (:math:`\rho_k` Adam's bias correction if ``bias_correction``,
    else 1) and sums over *all* parameters:

    .. math::

        r_{k+1} = \beta_3 r_k + \frac{d_k}{d_0} \lambda_k \langle g_k,\ x_0 - x_k \rangle, \qquad
        s_{k+1} = \beta_3 s_k + \frac{d_k}{d_0} \lambda_k\, g_k

        m_{k+1} = \beta_1 m_k + (1 - \beta_1)\, d_k\, g_k, \qquad
        v_{k+1} = \beta_2 v_k + (1 - \beta_2)\, d_k^2\, g_k^2

        \hat d_{k+1} = d_{\text{coef}}\, \frac{r_{k+1}}{\lVert s_{k+1} \rVert_1}, \qquad
        d_{k+1} = \min\!\bigl(\max(d_{\max}, \hat d_{k+1}),\ \gamma\, d_k\bigr)

        x_{k+1} = x_k - \lambda_k\, \omega\, x_k - \lambda_k\, \frac{m_{k+1}}{\sqrt{v_{k+1}} + d_{k+1}\,\epsilon}

    where :math:`d_{\max}` is the largest :math:`\hat d` so far (at least :math:`d_0`; :math:`d` never
    decreases), :math:`\gamma` is ``growth_rate`` (the limit is skipped while :math:`d = d_0`, so the first
    estimate is taken whole), :math:`\omega` is ``weight_decay`` and :math:`\beta_3 = \sqrt{\beta_2}` unless
    given. With ``safeguard_warmup=True`` the :math:`\lambda_k` in :math:`s` becomes :math:`d_k` (the
    learning rate is left out of the denominator of :math:`\hat d`, which keeps a warmup from inflating it).
    :math:`d_k/d_0` rescales :math:`r` and :math:`s` alike (it cancels in :math:`\hat d`) so that they do not
    underflow while :math:`d` is tiny.

    Implementation: :math:`\hat d` needs :math:`r` and :math:`\lVert s \rVert_1` summed over every parameter
    before any parameter moves, so the class overrides the optimizer's collective step
    (``_backend_update_step``, which Keras calls with the final gradients of all variables: unscaled, averaged
    over accumulation steps, clipped). It updates :math:`s`, :math:`x_0`, :math:`r` and :math:`d` with
    reductions in float32, then runs the per-variable ``update_step`` (the moments and the parameter) with this
    step's scalars. :math:`d`, :math:`d_{\max}` and :math:`r` are float32 optimizer variables: they are saved
    and restored with the optimizer, threaded through JAX's ``stateless_apply`` and compiled by XLA. The current
    estimate is :attr:`d`. :math:`x_0` is taken on the first step (not at build time), as in the authors' code,
    so weights loaded after the optimizer was built are the starting point.

    Differences from the authors' reference implementation (``prodigyopt``), stated plainly:

    * ``weight_decay`` is the decoupled (AdamW) decay of their default ``decouple=True``, scaled like theirs by
      :math:`d_k \eta_k`, *not* by the learning rate alone as in other Keras optimizers: with a tiny
      :math:`d` early on the decay is correspondingly weak. The L2 variant (``decouple=False``), ``slice_p``
      and ``fsdp_in_use`` are not offered, and ``exclude_from_weight_decay`` is honoured.
    * Where they skip a step entirely (every gradient so far zero, so :math:`\lVert s \rVert_1 = 0`, or a
      learning rate of 0) the same happens here (nothing moves, :math:`d` and :math:`r` are kept), except that
      ``optimizer.iterations`` still advances, so with ``bias_correction=True`` the bias correction counts
      skipped steps too.
    * Multi-replica ``tf.distribute`` strategies are not supported: the sums would be per replica.
    * Float16 variables are not supported: :math:`d_0^2 (1 - \beta_2) g^2 \approx 10^{-15} g^2` underflows
      float16 and the step divides by zero. ``mixed_float16`` keeps variables in float32 and works.

    Args:
        learning_rate: Multiplier :math:`\eta_k` of the estimated step size :math:`d`: a float >= 0 or a
            ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 1.0 (leave it unless unstable).
        beta_1: Decay rate :math:`\beta_1` of the momentum, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate :math:`\beta_2` of the second moment, in [0, 1). Defaults to 0.999.
        beta_3: Decay rate :math:`\beta_3` of :math:`r` and :math:`s`, in [0, 1), or None for
            :math:`\sqrt{\beta_2}`. Defaults to None.
        d0: Initial estimate :math:`d_0` (> 0). Defaults to 1e-6.
        d_coef: Coefficient :math:`d_{\text{coef}}` (> 0) of the estimate; the preferred knob to make steps
            larger (e.g. 2) or smaller (e.g. 0.5). Defaults to 1.0.
        growth_rate: Largest factor :math:`\gamma` (>= 1) by which :math:`d` may grow per step, or inf for no
            limit (a value like 1.02 acts as a warmup). Defaults to inf.
        safeguard_warmup: Leave the learning rate out of :math:`s` (recommended with a warmup schedule).
            Defaults to False.
        bias_correction: Use Adam's bias correction :math:`\rho_k = \sqrt{1 - \beta_2^k} / (1 - \beta_1^k)`.
            Defaults to False.
        epsilon: :math:`\epsilon` (> 0), added to the denominator as :math:`d\,\epsilon`. Defaults to 1e-8.
        weight_decay: Decoupled decay :math:`\omega` scaled by :math:`d_k \eta_k` (see above), or None.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: If a hyperparameter is out of range.
        TypeError: If a hyperparameter has the wrong type.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import Prodigy
        >>> optimizer = Prodigy()  # no learning rate to tune
        >>> x = keras.Variable([3.0, -2.0])
        >>> for _ in range(100):  # minimise |x|^2 / 2, whose gradient is x
        ...     optimizer.apply([keras.ops.convert_to_tensor(x)], [x])
        >>> float(keras.ops.max(keras.ops.abs(x))) < 0.05
        True
        >>> float(optimizer.d) > 1.0  # d grew from d0 = 1e-6 to the scale of the distance to the minimum
        True

    References:
        - K. Mishchenko, A. Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
          arXiv:2306.06101, 2023 (ICML 2024).
        - The authors' implementation: https://github.com/konstmish/prodigy
    """

    def __init__(
        self,
        learning_rate: Any = 1.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        beta_3: float | None = None,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = math.inf,
        safeguard_warmup: bool = False,
        bias_correction: bool = False,
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
        name: str = "prodigy",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        if beta_3 is not None:
            beta_3 = check.check_in_range("beta_3", beta_3, 0.0, 1.0)
        d0 = check.check_positive("d0", d0)
        d_coef = check.check_positive("d_coef", d_coef)
        growth_rate = check.check_growth_limit("growth_rate", growth_rate)
        safeguard_warmup = check.check_bool("safeguard_warmup", safeguard_warmup)
        bias_correction = check.check_bool("bias_correction", bias_correction)
        epsilon = check.check_positive("epsilon", epsilon)
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
        self.d0 = d0
        self.d_coef = d_coef
        self.growth_rate = growth_rate
        self.safeguard_warmup = safeguard_warmup
        self.bias_correction = bias_correction
        self.epsilon = epsilon

    @property
    def d(self) -> keras.Variable:
        """The current estimate :math:`d` (a float32 scalar variable; exists once the optimizer is built)."""
        return self._d

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        initial_d = keras.initializers.Constant(self.d0)
        self._d = self.add_variable(shape=(), initializer=initial_d, dtype="float32", name="d")
        self._d_max = self.add_variable(
            shape=(), initializer=initial_d, dtype="float32", name="d_max"
        )
        self._d_numerator = self.add_variable(shape=(), dtype="float32", name="d_numerator")
        self._s, self._initial_values, self._momentums, self._velocities = (
            self.add_optimizer_variables(var_list, ["s", "initial_value", "momentum", "velocity"])
        )

    def _apply_weight_decay(self, variables: list) -> None:
        # The base class decays by the learning rate alone before the step; Prodigy decays by d * lr inside it.
        return

    def _backend_update_step(
        self, grads: list, trainable_variables: list, learning_rate: Any
    ) -> None:
        # Numbers stay numbers (1 - beta in float64); a per-step schedule's tensor is converted, since `ops.where`
        # does not convert it on JAX.
        beta_1, beta_2 = (b if numerics.is_number(b) else numerics.as_float32(b) for b in (self.beta_1, self.beta_2))
        beta_3 = numerics.sqrt(self.beta_2) if self.beta_3 is None else self.beta_3
        # d's sums over the batch gradient, not over one replica's share of it (tf.distribute): every replica
        # then computes, and writes, the same state.
        grads, replicas = sum_across_replicas(grads)
        if not numerics.is_number(beta_3):
            beta_3 = numerics.as_float32(beta_3)
        lr = ops.cast(learning_rate, "float32")
        d = ops.convert_to_tensor(self._d)
        d_max = ops.convert_to_tensor(self._d_max)
        previous_numerator = ops.convert_to_tensor(self._d_numerator)
        if self.bias_correction:
            step = ops.cast(self.iterations + 1, "float32")
            correction = ops.sqrt(one_minus_power(self.beta_2, step)) / one_minus_power(
                self.beta_1, step
            )
            d_lr = d * lr * correction
        else:
            d_lr = d * lr
        # As in the reference, a learning rate of 0 skips the whole step: no moment, s, r or d changes.
        active = ops.greater(lr, 0.0)
        s_rate = (d / self.d0) * (d if self.safeguard_warmup else d_lr)
        s_decay = ops.where(active, beta_3, 1.0)
        is_first_step = ops.equal(self.iterations, 0)

        correlation = ops.zeros((), "float32")
        s_norm = ops.zeros((), "float32")
        for gradient, variable in zip(grads, trainable_variables, strict=True):
            index = self._get_variable_index(variable)
            s, initial = self._s[index], self._initial_values[index]
            dtype = variable.dtype
            value = ops.convert_to_tensor(variable)
            initial_value = ops.where(is_first_step, value, ops.convert_to_tensor(initial))
            self.assign(initial, initial_value)
            gradient32 = ops.cast(gradient, "float32")
            correlation = correlation + ops.sum(
                gradient32 * (ops.cast(initial_value, "float32") - ops.cast(value, "float32"))
            )
            new_s = ops.add(
                ops.multiply(s, ops.cast(s_decay, dtype)),
                ops.multiply(ops.cast(gradient, dtype), ops.cast(s_rate, dtype)),
            )
            self.assign(s, new_s)
            s_norm = s_norm + ops.sum(ops.abs(ops.cast(new_s, "float32")))

        numerator = beta_3 * previous_numerator + (d / self.d0) * d_lr * correlation
        # Nothing to learn from yet (all gradients so far zero) or a skipped step: keep d, r and the weights.
        progress = ops.logical_and(active, ops.greater(s_norm, 0.0))
        d_hat = self.d_coef * numerator / ops.where(progress, s_norm, 1.0)
        new_d_max = ops.maximum(d_max, d_hat)
        # The first estimate is taken whole; later ones grow d by at most growth_rate per step.
        new_d = ops.where(ops.equal(d, self.d0), ops.maximum(d, d_hat), d)
        new_d = ops.where(progress, ops.minimum(new_d_max, new_d * self.growth_rate), d)

        # update_step's "learning rate" carries this step's scalars, computed once for every variable. They are
        # built before d is assigned: on TensorFlow `d` reads the variable itself, so later ops would see new d.
        scalars = [
            ops.where(progress, d_lr, 0.0),  # step size lambda_k (0: skipped step)
            ops.where(active, beta_1, 1.0),  # momentum decay
            ops.where(active, d * (1.0 - beta_1), 0.0),  # momentum rate of g (old d)
            ops.where(active, beta_2, 1.0),  # second-moment decay
            ops.where(active, d * d * (1.0 - beta_2), 0.0),  # second-moment rate of g^2
            new_d * self.epsilon,  # epsilon of the denominator (new d)
        ]
        step_scalars = ops.stack([ops.cast(scalar, "float32") for scalar in scalars])
        self.assign(self._d_numerator, ops.where(progress, numerator, previous_numerator))
        self.assign(self._d_max, ops.where(progress, new_d_max, d_max))
        self.assign(self._d, new_d)
        super()._backend_update_step(share_per_replica(grads, replicas), trainable_variables, step_scalars)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        # ``learning_rate`` is the vector of scalars built by _backend_update_step, not the learning rate.
        dtype = variable.dtype
        scalars = ops.cast(learning_rate, dtype)
        step_size, m_decay, m_rate, v_decay, v_rate, denominator_epsilon = (
            scalars[i] for i in range(6)
        )
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        new_m = ops.add(ops.multiply(m, m_decay), ops.multiply(gradient, m_rate))
        new_v = ops.add(ops.multiply(v, v_decay), ops.multiply(ops.square(gradient), v_rate))
        self.assign(m, new_m)
        self.assign(v, new_v)
        update = ops.divide(new_m, ops.add(ops.sqrt(new_v), denominator_epsilon))
        if self.weight_decay and self._use_weight_decay(variable):
            update = ops.add(update, ops.multiply(variable, ops.cast(self.weight_decay, dtype)))
        self.assign_sub(variable, ops.multiply(step_size, update))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "d0": self.d0,
                "d_coef": self.d_coef,
                "growth_rate": self.growth_rate,
                "safeguard_warmup": self.safeguard_warmup,
                "bias_correction": self.bias_correction,
                "epsilon": self.epsilon,
            }
        )
        return config
