"""LARS: momentum SGD with a layer-wise trust ratio (layer-wise adaptive rate scaling)."""

from __future__ import annotations

import re
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import Optimizer


def _norm(x: Any) -> Any:
    """The L2 norm of a whole tensor as a float32 scalar, accumulated in float32 at least (float16 squares
    overflow above 256)."""
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        x = ops.cast(x, "float32")
    return ops.cast(ops.sqrt(ops.sum(ops.square(x))), "float32")


@register(
    "optimizer",
    "LARS: momentum SGD whose per-layer step is scaled by the trust ratio ||w|| / ||g||.",
    example={"learning_rate": 0.1, "trust_coefficient": 0.05},
    slots=1,
    float16_variables=True,
)
class LARS(Optimizer):
    r"""Layer-wise Adaptive Rate Scaling: momentum SGD with a per-variable trust ratio.

    For each variable ("layer") :math:`w` with gradient :math:`g`, LARS weight decay :math:`\beta`
    (``lars_weight_decay``), trust coefficient :math:`\eta` and momentum :math:`\mu` (Algorithm 1 of the paper):

    .. math::

        \lambda = \eta \frac{\lVert w \rVert}{\lVert g \rVert + \beta \lVert w \rVert + \epsilon}
        \quad (\lambda = 1 \text{ if } \lVert w \rVert = 0 \text{ or } \lVert g \rVert = 0)

        v_t = \mu v_{t-1} + \gamma_t \lambda (g + \beta w), \qquad w_t = w_{t-1} - v_t

    with the learning rate :math:`\gamma_t`. The step of each variable is about
    :math:`\gamma_t \eta \lVert w \rVert` whatever the gradient's scale, which keeps very large batches (and their
    large learning rates) stable. Variables whose path matches one of ``exclude_from_layer_adaptation`` (typically
    biases and batch-normalization parameters: ``["bias", "gamma", "beta"]``) get :math:`\lambda = 1`: plain
    momentum SGD with the L2 term.

    Choices, stated plainly:

    * The LARS weight decay :math:`\beta` is ``lars_weight_decay``: it enters the trust ratio and is added to the
      gradient, as in the paper. It is not the Keras base ``weight_decay``, which keeps its meaning for every
      optimizer in this package (decoupled, :math:`w \leftarrow w - \gamma_t \lambda_{wd} w` before the step, outside
      the trust ratio); both can be set. ``exclude_from_weight_decay`` applies to both.
    * As in the paper (and Keras's SGD), the learning rate is inside the momentum buffer. timm and PyTorch-style
      implementations multiply the buffer by the learning rate instead; the two agree for a constant rate.
    * :math:`\epsilon` (not in the paper) guards the division, as in timm; the trust ratio is 1 when either norm
      is 0, as in timm and TF Model Garden. The trust ratio uses the raw gradient's norm (paper, timm), not the
      norm of :math:`g + \beta w` (TF Model Garden). No Nesterov momentum and no trust-ratio clipping (LARC).
    * Norms are accumulated in float32 for float16 variables, so float16 variables are supported.

    Because the step length does not depend on the gradient's scale, ``clipnorm`` and ``global_clipnorm``
    (which only rescale whole gradients) have no effect unless ``lars_weight_decay`` is large or the variable is
    excluded from adaptation. The paper's learning rates are large (e.g. 2 to 30 with :math:`\eta = 0.001`); only
    the product :math:`\gamma_t \eta` matters for adapted variables.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 1.0.
        momentum: Momentum :math:`\mu`, in [0, 1). Defaults to 0.9.
        trust_coefficient: :math:`\eta` (> 0). Defaults to 0.001.
        epsilon: Added to the trust ratio's denominator (>= 0). Defaults to 1e-8.
        lars_weight_decay: :math:`\beta` (>= 0). Defaults to 0.0.
        exclude_from_layer_adaptation: None or a list of regular expressions; a variable whose path
            (``variable.path``, e.g. ``"dense/bias"``) matches one of them is not adapted. Defaults to None.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import LARS
        >>> optimizer = LARS(learning_rate=1.0, trust_coefficient=0.01)
        >>> weight = keras.Variable([3.0, 4.0])  # ||w|| = 5
        >>> optimizer.apply([keras.ops.convert_to_tensor([100.0, 0.0])], [weight])
        >>> [round(float(w), 4) for w in weight.numpy()]  # moved by lr * eta * ||w|| along g / ||g||
        [2.95, 4.0]

    References:
        Y. You, I. Gitman, B. Ginsburg, "Large Batch Training of Convolutional Networks", arXiv:1708.03888 (2017).
    """

    def __init__(
        self,
        learning_rate: Any = 1.0,
        momentum: float = 0.9,
        trust_coefficient: float = 0.001,
        epsilon: float = 1e-8,
        lars_weight_decay: float = 0.0,
        exclude_from_layer_adaptation: list[str] | None = None,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "lars",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        momentum = check.check_in_range("momentum", momentum, 0.0, 1.0)
        trust_coefficient = check.check_positive("trust_coefficient", trust_coefficient)
        epsilon = check.check_non_negative("epsilon", epsilon)
        lars_weight_decay = check.check_non_negative("lars_weight_decay", lars_weight_decay)
        if weight_decay is not None:
            weight_decay = check.check_non_negative("weight_decay", weight_decay)
        exclude_from_layer_adaptation = check.check_patterns(
            "exclude_from_layer_adaptation", exclude_from_layer_adaptation
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
        self.trust_coefficient = trust_coefficient
        self.epsilon = epsilon
        self.lars_weight_decay = lars_weight_decay
        self.exclude_from_layer_adaptation = exclude_from_layer_adaptation

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        # Decided once, on the Keras variables' paths; update_step may receive backend variables instead.
        patterns = self.exclude_from_layer_adaptation or []
        self._adapted = [
            not any(re.search(pattern, getattr(v, "path", v.name)) for pattern in patterns)
            for v in var_list
        ]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        lr = ops.cast(learning_rate, "float32")
        index = self._get_variable_index(variable)
        decay = self.lars_weight_decay if self._use_weight_decay(variable) else 0.0

        scale = lr
        if self._adapted[index]:
            weight_norm = _norm(variable)
            grad_norm = _norm(gradient)
            ratio = (
                self.trust_coefficient
                * weight_norm
                / (grad_norm + decay * weight_norm + self.epsilon)
            )
            usable = ops.logical_and(weight_norm > 0.0, grad_norm > 0.0)
            scale = lr * ops.where(usable, ratio, 1.0)

        if decay:
            gradient = gradient + decay * variable
        velocity = self._velocities[index]
        new_velocity = self.momentum * velocity + ops.cast(scale, dtype) * gradient
        self.assign(velocity, new_velocity)
        self.assign_sub(variable, new_velocity)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "trust_coefficient": self.trust_coefficient,
                "epsilon": self.epsilon,
                "lars_weight_decay": self.lars_weight_decay,
                "exclude_from_layer_adaptation": self.exclude_from_layer_adaptation,
            }
        )
        return config
