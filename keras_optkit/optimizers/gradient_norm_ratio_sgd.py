"""SGD whose learning rate follows the ratio of consecutive global gradient norms."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer
from keras_optkit.optimizers._distribute import share_per_replica, sum_across_replicas


@register(
    "optimizer",
    "SGD scaled each step by the capped ratio of the global squared gradient norm to the previous step's.",
    example={"learning_rate": 0.05, "momentum": 0.9},
    slots=1,
    float16_variables=True,
)
class GradientNormRatioSGD(Optimizer):
    r"""SGD whose step size follows the growth of the global gradient norm.

    With :math:`N_t = \max(\lVert g_t \rVert^2, \epsilon)`, where :math:`\lVert g_t \rVert` is the *global* norm
    over every variable of the step (after clipping, loss-scale unscaling and gradient accumulation):

    .. math::

        \eta'_t = \eta_t \cdot \operatorname{clip}\!\left(\frac{N_t}{N_{t-1}},\;
            \frac{1}{\text{max\_ratio}},\; \text{max\_ratio}\right), \qquad \eta'_1 = \eta_1

        v_t = \mu v_{t-1} - \eta'_t g_t, \qquad \theta_t = \theta_{t-1} + v_t

    (with ``momentum`` :math:`\mu = 0`, simply :math:`\theta_t = \theta_{t-1} - \eta'_t g_t`). The ratio is not
    compounded: each step rescales the base rate :math:`\eta_t` afresh, so :math:`\eta'_t` always lies within a
    factor ``max_ratio`` of :math:`\eta_t`. :math:`N_{t-1}` is an optimizer variable: it is saved with the
    optimizer and threaded through JAX's ``stateless_apply``.

    When it helps: while the gradient norm grows, e.g. leaving a plateau or a saddle, where the loss surface gets
    steeper, the rule takes larger steps than SGD and gets through flat regions faster; with full-batch or
    low-noise gradients it reacts to the shape of the trajectory.

    When it hurts, honestly: (1) with minibatches the squared norm fluctuates from batch to batch, so the ratio
    jitters around 1 and mostly injects noise into the step size (the cap bounds the damage; momentum averages
    some of it out); (2) near a minimum gradients shrink, so the ratio stays below 1 and the rule *shrinks* the
    step just as plain SGD would need it least, slowing the final convergence; (3) a spike in the gradient (a bad
    batch, the edge of a cliff) raises the step exactly when it is most dangerous; (4) one global ratio couples
    all variables: a layer whose gradient explodes speeds up every other layer too. Prefer a schedule or an
    adaptive method unless growing gradients are the regime you care about.

    ``max_ratio`` defaults to 2: the step never more than doubles or halves relative to the base rate, so a base
    learning rate that is stable at twice its value stays stable, and a single noisy batch can move the step by
    at most a factor of two. ``max_ratio=1`` is plain SGD.

    Implementation notes: the global norm needs every gradient before any variable moves, so the class overrides
    the optimizer's collective step (``_backend_update_step``, the hook Keras calls with the final gradients of
    all variables and the learning rate) to compute the ratio once and hand the scaled rate to the per-variable
    ``update_step``. The norm is accumulated in float32 whatever the variable dtype. Under a ``tf.distribute``
    strategy with several replicas the norm would be of each replica's local gradients (not tested).
    ``weight_decay`` (the Keras base decoupled decay) uses the base rate :math:`\eta_t`, not :math:`\eta'_t`.
    Momentum keeps the rate inside the buffer (Keras' SGD form), so a jittery ratio scales only the current
    gradient, not the whole accumulated velocity.

    Args:
        learning_rate: The base rate :math:`\eta_t`: a float >= 0 or a
            ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.01.
        epsilon: Floor :math:`\epsilon` of the squared norms (> 0), which keeps the ratio finite when a gradient
            vanishes. Defaults to 1e-8.
        max_ratio: Cap of the ratio and of its inverse (>= 1). Defaults to 2.0.
        momentum: :math:`\mu` in [0, 1). Defaults to 0 (no slot is kept).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import GradientNormRatioSGD
        >>> optimizer = GradientNormRatioSGD(learning_rate=0.1)
        >>> weight = keras.Variable([0.0])
        >>> optimizer.apply([keras.ops.convert_to_tensor([1.0])], [weight])  # ratio 1 at the first step
        >>> optimizer.apply([keras.ops.convert_to_tensor([1.2])], [weight])  # ratio 1.44: step 0.1 * 1.44 * 1.2
        >>> round(float(weight.numpy()[0]), 4)
        -0.2728

    References:
        No paper proposes this exact rule; it is a heuristic of the "adapt the rate from the trajectory" family:
        - R. Battiti, "Accelerated Backpropagation Learning: Two Optimization Methods", Complex Systems 3(4),
          1989 (the "bold driver": grow the rate while the loss falls, cut it when it rises).
        - A. G. Baydin, R. Cornish, D. Martinez Rubio, M. Schmidt, F. Wood, "Online Learning Rate Adaptation with
          Hypergradient Descent", ICLR 2018, arXiv:1703.04782 (the rate follows :math:`g_t \cdot g_{t-1}`).
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        epsilon: float = 1e-8,
        max_ratio: float = 2.0,
        momentum: float = 0.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "gradient_norm_ratio_sgd",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        epsilon = check.check_positive("epsilon", epsilon)
        max_ratio = check.check_in_range("max_ratio", max_ratio, 1.0, math.inf)
        momentum = check.check_in_range("momentum", momentum, 0.0, 1.0)
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
        self.epsilon = epsilon
        self.max_ratio = max_ratio
        self.momentum = momentum

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        # max(||g_{t-1}||^2, epsilon); 0 until the first step, which marks "no previous norm yet".
        self._previous_squared_norm = self.add_variable(
            shape=(), dtype="float32", name="previous_squared_norm"
        )
        if self.momentum > 0.0:
            self._velocities = self.add_optimizer_variables(var_list, "velocity")

    def _backend_update_step(
        self, grads: list, trainable_variables: list, learning_rate: Any
    ) -> None:
        # The norm of the batch gradient, not of one replica's share of it (tf.distribute).
        grads, replicas = sum_across_replicas(grads)
        squared_norm = ops.sum(
            ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads])
        )
        current = ops.maximum(squared_norm, self.epsilon)
        previous = self._previous_squared_norm
        ratio = ops.clip(
            current / ops.maximum(previous, self.epsilon), 1.0 / self.max_ratio, self.max_ratio
        )
        ratio = ops.where(ops.equal(previous, 0.0), 1.0, ratio)
        self.assign(previous, current)
        scaled_learning_rate = ops.multiply(ops.cast(learning_rate, "float32"), ratio)
        super()._backend_update_step(share_per_replica(grads, replicas), trainable_variables, scaled_learning_rate)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0.0:
            self.assign_sub(variable, ops.multiply(lr, gradient))
            return
        velocity = self._velocities[self._get_variable_index(variable)]
        new_velocity = ops.subtract(
            ops.multiply(velocity, self.momentum), ops.multiply(lr, gradient)
        )
        self.assign(velocity, new_velocity)
        self.assign_add(variable, new_velocity)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"epsilon": self.epsilon, "max_ratio": self.max_ratio, "momentum": self.momentum}
        )
        return config
