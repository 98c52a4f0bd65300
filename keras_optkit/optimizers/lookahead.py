"""Lookahead: k fast steps of any optimizer, then one step of the slow weights toward them."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._wrapper import OptimizerWrapper


@register(
    "optimizer",
    "Lookahead: every k steps of the wrapped optimizer, move slow weights toward the fast ones and restart there.",
    example={"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}}},
    slots=1,
    float16_variables=True,
    wrapper=True,
)
class Lookahead(OptimizerWrapper):
    r"""Lookahead around any Keras optimizer: the wrapped one explores, slow weights follow every k steps.

    The wrapped ("fast") optimizer updates the weights :math:`\theta` as usual. The wrapper keeps slow weights
    :math:`\phi` (one slot per variable): the weights at the start of each period of :math:`k` steps. After every
    ``sync_period``-th step :math:`t` (:math:`t \equiv 0 \pmod k`, counting from 1):

    .. math::
        \phi \leftarrow \phi + \alpha\,(\theta - \phi), \qquad \theta \leftarrow \phi

    (The slot is written when the next period starts: right after a synchronization, the weights already hold the
    new :math:`\phi` and the slot the previous one. This keeps ``build`` free of reads of the model's weights,
    which XLA cannot hoist out of a compiled train step.)

    The wrapped optimizer's state (moments, step count) carries on across synchronizations, as in the paper's
    experiments and TF-Addons. The step count is the wrapper's ``iterations`` (so with
    ``gradient_accumulation_steps``, set on the wrapper, it counts applied updates).

    Differences from the paper / TF-Addons / PyTorch implementations, stated plainly: none in the rule. The base
    arguments (``weight_decay``, ``clipnorm``, ``use_ema``, ...) act at the wrapper's level (see
    ``OptimizerWrapper``); TF-Addons' Lookahead took none of them. Variables marked ``overwrite_with_gradient``
    (float8 scales) get no slow copy.

    Args:
        optimizer: The wrapped optimizer: an instance, a name (``"adam"``, ``"radam"``) or a config dict (a fresh
            optimizer is built from a name or dict every time).
        sync_period: :math:`k`, the number of fast steps between synchronizations (integer >= 1). Defaults to 6.
        slow_step_size: :math:`\alpha`, in (0, 1]; 1 makes Lookahead a no-op. Defaults to 0.5.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``, applied
            by the wrapper (the learning rate for weight decay is the wrapped optimizer's).

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import Lookahead
        >>> optimizer = Lookahead(keras.optimizers.SGD(learning_rate=0.1), sync_period=2, slow_step_size=0.5)
        >>> weight = keras.Variable([1.0])
        >>> for _ in range(2):
        ...     optimizer.apply([keras.ops.convert_to_tensor([1.0])], [weight])
        >>> round(float(weight.numpy()[0]), 4)  # fast weights reach 0.8; slow = 1 + 0.5 * (0.8 - 1)
        0.9

    References:
        M. R. Zhang, J. Lucas, G. Hinton, J. Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019, arXiv:1907.08610.
    """

    def __init__(
        self,
        optimizer: Any,
        sync_period: int = 6,
        slow_step_size: float = 0.5,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "lookahead",
        **kwargs: Any,
    ) -> None:
        sync_period = check.check_int("sync_period", sync_period, minimum=1)
        slow_step_size = check.check_in_range(
            "slow_step_size", slow_step_size, 0.0, 1.0, low_inclusive=False, high_inclusive=True
        )
        super().__init__(
            optimizer,
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
        self.sync_period = sync_period
        self.slow_step_size = slow_step_size

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._slow_weights = self.add_optimizer_variables(var_list, "slow")

    def before_inner_step(self, trainable_variables: list) -> None:
        # The slow weights are the fast ones at the start of each period (the paper's theta_{t,0} = phi_{t-1}).
        # Recording them here, rather than copying the weights into the slot when it is created, keeps build()
        # free of reads of model variables, which XLA cannot lift out of a traced train step.
        period_start = ops.equal(ops.mod(self.iterations, self.sync_period), 0)
        for variable in trainable_variables:
            slow = self._slow_weights[self._get_variable_index(variable)]
            self.assign(
                slow,
                ops.where(
                    period_start, ops.convert_to_tensor(variable), ops.convert_to_tensor(slow)
                ),
            )

    def after_inner_step(self, trainable_variables: list) -> None:
        # ops.where rather than a cond on the step: one code path for TF, XLA and JAX (no Python branching).
        sync = ops.equal(ops.mod(self.iterations + 1, self.sync_period), 0)
        for variable in trainable_variables:
            slow = ops.convert_to_tensor(self._slow_weights[self._get_variable_index(variable)])
            fast = ops.convert_to_tensor(variable)
            alpha = ops.cast(self.slow_step_size, variable.dtype)
            self.assign(
                variable,
                ops.where(sync, ops.add(slow, ops.multiply(alpha, ops.subtract(fast, slow))), fast),
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"sync_period": self.sync_period, "slow_step_size": self.slow_step_size})
        return config
