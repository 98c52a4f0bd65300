"""Adaptive gradient clipping (NFNets): clip each unit's gradient relative to the norm of its weights."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._wrapper import OptimizerWrapper, dense_gradient


def _unitwise_norm(x: Any) -> Any:
    """Frobenius norm per output unit (all axes but the last) for rank >= 2, of the whole tensor otherwise."""
    rank = len(x.shape)
    axes = tuple(range(rank - 1)) if rank >= 2 else None
    return ops.sqrt(ops.sum(ops.square(x), axis=axes, keepdims=True))


def clip_gradient_unitwise(gradient: Any, variable: Any, clip_factor: float, eps: float) -> Any:
    """``gradient`` with each unit scaled by ``min(1, clip_factor * max(|W_i|, eps) / |G_i|)``."""
    dtype = variable.dtype
    # Sums of squares in at least float32: in float16 they overflow (65504) for moderately large layers.
    compute_dtype = "float32" if dtype in ("float16", "bfloat16") else dtype
    gradient = ops.cast(dense_gradient(gradient, variable), compute_dtype)  # a TF embedding's IndexedSlices too
    max_norm = ops.multiply(
        ops.maximum(
            _unitwise_norm(ops.cast(variable, compute_dtype)), ops.cast(eps, compute_dtype)
        ),
        ops.cast(clip_factor, compute_dtype),
    )
    # max_norm > 0, so the denominator is never 0; the scale is exactly 1 where |G_i| <= max_norm.
    scale = ops.divide(max_norm, ops.maximum(_unitwise_norm(gradient), max_norm))
    return ops.cast(ops.multiply(gradient, scale), dtype)


@register(
    "optimizer",
    "Adaptive gradient clipping (NFNets): clip each unit's gradient norm to a fraction of its weight norm.",
    example={"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}}},
    slots=0,
    float16_variables=True,
    wrapper=True,
)
class AdaptiveGradientClipping(OptimizerWrapper):
    r"""Adaptive gradient clipping (AGC) in front of any Keras optimizer.

    Each unit :math:`i` of a weight :math:`W` has its gradient :math:`G_i` rescaled before the wrapped optimizer's
    step so that its norm is at most a fraction :math:`\lambda` (``clip_factor``) of the unit's weight norm:

    .. math::
        G_i \leftarrow G_i \cdot \min\left(1,\; \lambda\,\frac{\max(\lVert W_i \rVert_F, \epsilon)}
        {\lVert G_i \rVert_F}\right)

    Units (the rule used here): for a tensor of rank :math:`\ge 2`, one unit per index of the last axis (Keras's
    output axis: a ``Dense`` kernel ``(in, out)`` has ``out`` units, a ``Conv2D`` kernel ``(h, w, in, out)`` has
    ``out`` filters), the norm taken over all other axes. Scalars and vectors (biases, gains) are one unit, their
    norm taken over the whole tensor. A zero gradient stays zero (the ratio is never formed with
    :math:`\lVert G_i \rVert = 0`); :math:`\epsilon` keeps zero-initialized weights (biases) from freezing.

    Differences from the paper and DeepMind's reference code, stated plainly: the reference treats rank-3 weights
    as multi-head linear layers and reduces only their first axis, and squeezes size-1 axes before deciding what
    is a vector; here every rank >= 2 weight reduces all axes but the last (right for ``Conv1D`` kernels
    ``(k, in, out)``; for ``MultiHeadAttention`` kernels ``(in, heads, dim)`` it groups heads per ``dim``). The
    paper leaves the final classifier layer unclipped; this wrapper clips every variable. Norms are computed in
    float32 for float16/bfloat16 variables.

    Args:
        optimizer: The wrapped optimizer: an instance, a name (``"adam"``, ``"radam"``) or a config dict (a fresh
            optimizer is built from a name or dict every time).
        clip_factor: :math:`\lambda` (> 0). The paper uses 0.01 to 0.16, smaller for larger batches.
            Defaults to 0.01.
        eps: :math:`\epsilon`, the smallest weight norm a unit is credited with (> 0). Defaults to 1e-3.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``, applied
            by the wrapper (``clipnorm`` and friends before AGC; the learning rate for weight decay is the wrapped
            optimizer's).

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import AdaptiveGradientClipping
        >>> optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(learning_rate=1.0), clip_factor=0.1)
        >>> weight = keras.Variable([3.0, 4.0])  # a vector: one unit, norm 5, so gradients are capped at norm 0.5
        >>> optimizer.apply([keras.ops.convert_to_tensor([30.0, 40.0])], [weight])
        >>> [round(value, 4) for value in weight.numpy().tolist()]
        [2.7, 3.6]

    References:
        A. Brock, S. De, S. L. Smith, K. Simonyan, "High-Performance Large-Scale Image Recognition Without
        Normalization", ICML 2021, arXiv:2102.06171.
    """

    def __init__(
        self,
        optimizer: Any,
        clip_factor: float = 0.01,
        eps: float = 1e-3,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adaptive_gradient_clipping",
        **kwargs: Any,
    ) -> None:
        clip_factor = check.check_positive("clip_factor", clip_factor)
        eps = check.check_positive("eps", eps)
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
        self.clip_factor = clip_factor
        self.eps = eps

    def transform_gradient(self, gradient: Any, variable: Any) -> Any:
        return clip_gradient_unitwise(gradient, variable, self.clip_factor, self.eps)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"clip_factor": self.clip_factor, "eps": self.eps})
        return config
