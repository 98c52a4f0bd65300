"""Gradient centralization: any optimizer, fed gradients with zero mean per output unit."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_optkit._registry import register
from keras_optkit.optimizers._wrapper import OptimizerWrapper, dense_gradient


def centralize_gradient(gradient: Any, variable: Any = None) -> Any:
    """The gradient minus its mean over every axis but the last (one mean per output unit); rank <= 1 untouched.

    With the ``variable`` given, a TF ``IndexedSlices`` (embedding) gradient is made dense first."""
    rank = len((gradient if variable is None else variable).shape)
    if rank <= 1:
        return gradient
    if variable is not None:
        gradient = dense_gradient(gradient, variable)
    return ops.subtract(gradient, ops.mean(gradient, axis=tuple(range(rank - 1)), keepdims=True))


@register(
    "optimizer",
    "Gradient centralization: subtract each output unit's mean gradient before the wrapped optimizer's step.",
    example={"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}}},
    slots=0,
    float16_variables=True,
    wrapper=True,
)
class GradientCentralization(OptimizerWrapper):
    r"""Gradient centralization (GC) in front of any Keras optimizer.

    For a weight of rank :math:`\ge 2` whose last axis indexes output units (Keras layouts: a ``Dense`` kernel is
    ``(in, out)``, a ``Conv2D`` kernel ``(h, w, in, out)``), the gradient of unit :math:`j` loses its mean over
    the other axes:

    .. math::
        \Phi_{GC}(\nabla_{w_j} L) = \nabla_{w_j} L - \frac{1}{M} \sum_{i=1}^{M} \nabla_{w_{i,j}} L

    where :math:`M` is the number of weights feeding unit :math:`j`. Gradients of rank :math:`\le 1` (biases,
    normalization scales, scalars) pass unchanged. The wrapped optimizer then takes its usual step on the
    centralized gradients.

    Differences from the paper and its PyTorch code, stated plainly: PyTorch stores output units first, so it
    averages over every axis but the first; Keras stores them last, hence "every axis but the last" here, the
    same rule. The paper applies GC to every weight of rank > 1 (convolutions and fully connected layers) and this
    wrapper does too, embeddings included (a TF embedding's sparse gradient becomes dense). In the paper's
    PyTorch SGD, L2 weight decay is added to the gradient before centralization; Keras's ``weight_decay`` is
    decoupled (it shrinks the weights directly), so it is not centralized. Clipping set on this wrapper
    (``clipnorm``, ...) happens before centralization; clipping set on the wrapped optimizer, after.

    Args:
        optimizer: The wrapped optimizer: an instance, a name (``"adam"``, ``"radam"``) or a config dict (a fresh
            optimizer is built from a name or dict every time).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``, applied
            by the wrapper (the learning rate for weight decay is the wrapped optimizer's).

    Example:
        >>> import keras
        >>> from keras_optkit.optimizers import GradientCentralization
        >>> optimizer = GradientCentralization(keras.optimizers.SGD(learning_rate=1.0))
        >>> kernel = keras.Variable([[0.0, 0.0], [0.0, 0.0]])  # a Dense kernel: 2 inputs, 2 units
        >>> optimizer.apply([keras.ops.convert_to_tensor([[1.0, 2.0], [3.0, 2.0]])], [kernel])
        >>> kernel.numpy().tolist()  # unit means 2 and 2 removed, then an SGD step
        [[1.0, 0.0], [-1.0, 0.0]]

    References:
        H. Yong, J. Huang, X. Hua, L. Zhang, "Gradient Centralization: A New Optimization Technique for Deep
        Neural Networks", ECCV 2020, arXiv:2004.01461.
    """

    def __init__(
        self,
        optimizer: Any,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "gradient_centralization",
        **kwargs: Any,
    ) -> None:
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

    def transform_gradient(self, gradient: Any, variable: Any) -> Any:
        return centralize_gradient(gradient, variable)
