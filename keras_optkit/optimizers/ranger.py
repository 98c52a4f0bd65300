"""Ranger: RAdam, with gradient centralization, inside Lookahead."""

from __future__ import annotations

from typing import Any

import keras

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers.gradient_centralization import centralize_gradient
from keras_optkit.optimizers.lookahead import Lookahead
from keras_optkit.optimizers.radam import RAdam

_RADAM_ARGUMENTS = (
    "beta_1",
    "beta_2",
    "epsilon",
    "amsgrad",
    "sma_threshold",
    "total_steps",
    "warmup_proportion",
    "min_lr",
)


@register(
    "optimizer",
    "Ranger: RAdam on centralized gradients, wrapped in Lookahead.",
    example={"learning_rate": 0.03},
    slots=3,
    float16_variables=False,
)
class Ranger(Lookahead):
    r"""Ranger: Rectified Adam on centralized gradients, inside Lookahead.

    Three published pieces, composed rather than re-implemented: ``centralize_gradient`` (gradient
    centralization, for weights of rank :math:`\ge 2`, when ``use_gc=True``), then a :class:`RAdam` step on the
    fast weights :math:`\theta`, then Lookahead's synchronization every :math:`k` steps:

    .. math::
        \tilde g_t = \Phi_{GC}(g_t), \qquad \theta_t = \mathrm{RAdam}(\theta_{t-1}, \tilde g_t), \qquad
        \text{if } k \mid t:\; \phi \leftarrow \phi + \alpha(\theta_t - \phi),\; \theta_t \leftarrow \phi

    See :class:`RAdam`, :class:`GradientCentralization` and :class:`Lookahead` for each rule. The wrapped RAdam
    is reachable as ``inner_optimizer``; ``learning_rate`` is its learning rate.

    Differences from Wright's PyTorch Ranger, stated plainly: RAdam here follows TF-Addons (``epsilon`` added to
    :math:`\sqrt{\hat v_t}`, rectified steps once :math:`\rho_t \ge` ``sma_threshold``; Ranger uses
    :math:`\rho_t > 5`), and the defaults are Ranger's (``beta_1=0.95``, ``epsilon=1e-5``), not RAdam's. Weight
    decay is decoupled, :math:`\theta \leftarrow \theta - \eta\lambda\theta` before the step, as in Ranger. The base
    arguments act on the whole of Ranger: ``clipnorm`` and friends clip the raw gradients before centralization,
    EMA averages the weights after the synchronization.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1, beta_2, epsilon, amsgrad, sma_threshold, total_steps, warmup_proportion, min_lr: RAdam's
            arguments (TF-Addons ``RectifiedAdam`` names). Defaults: 0.95, 0.999, 1e-5, False, 5.0, 0, 0.1, 0.0.
        sync_period: Lookahead's :math:`k` (integer >= 1). Defaults to 6.
        slow_step_size: Lookahead's :math:`\alpha`, in (0, 1]. Defaults to 0.5.
        use_gc: Whether to centralize the gradients of rank >= 2 weights. Defaults to True.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import Ranger
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> model.compile(optimizer=Ranger(learning_rate=0.01), loss="mse")
        >>> history = model.fit(keras.ops.ones((8, 4)), keras.ops.zeros((8, 2)), epochs=2, verbose=0)
        >>> history.history["loss"][-1] < history.history["loss"][0]
        True

    References:
        L. Wright, "Ranger: a synergistic optimizer combining RAdam and LookAhead", 2019
        (github.com/lessw2020/Ranger-Deep-Learning-Optimizer).
        L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao, J. Han, "On the Variance of the Adaptive Learning Rate
        and Beyond", ICLR 2020, arXiv:1908.03265.
        M. R. Zhang, J. Lucas, G. Hinton, J. Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019, arXiv:1907.08610.
        H. Yong, J. Huang, X. Hua, L. Zhang, "Gradient Centralization: A New Optimization Technique for Deep
        Neural Networks", ECCV 2020, arXiv:2004.01461.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.95,
        beta_2: float = 0.999,
        epsilon: float = 1e-5,
        amsgrad: bool = False,
        sma_threshold: float = 5.0,
        total_steps: int = 0,
        warmup_proportion: float = 0.1,
        min_lr: float = 0.0,
        sync_period: int = 6,
        slow_step_size: float = 0.5,
        use_gc: bool = True,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "ranger",
        **kwargs: Any,
    ) -> None:
        use_gc = check.check_bool("use_gc", use_gc)
        # RAdam validates its own arguments, naming them.
        radam = RAdam(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            sma_threshold=sma_threshold,
            total_steps=total_steps,
            warmup_proportion=warmup_proportion,
            min_lr=min_lr,
        )
        super().__init__(
            radam,
            sync_period=sync_period,
            slow_step_size=slow_step_size,
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
        self.use_gc = use_gc

    def transform_gradient(self, gradient: Any, variable: Any) -> Any:
        return centralize_gradient(gradient, variable) if self.use_gc else gradient

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["optimizer"]  # Ranger builds its RAdam from the flat arguments below
        radam_config = self.inner_optimizer.get_config()
        config["learning_rate"] = radam_config["learning_rate"]
        config.update({key: radam_config[key] for key in _RADAM_ARGUMENTS})
        config["use_gc"] = self.use_gc
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Ranger:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = keras.saving.deserialize_keras_object(
                config["learning_rate"], custom_objects=custom_objects
            )
        return cls(**config)
