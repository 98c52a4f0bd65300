"""L2-SP: pull the weights toward reference (e.g. pretrained) values while fine-tuning."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from keras_optkit._registry import register
from keras_optkit.regularizers._tunable import TunableRegularizer


@register("regularizer", "L2-SP: strength * sum((w - w0)^2), pulls weights toward their pretrained values.",
          example={"strength": 0.01, "reference_weights": [[0.0, 1.0]]})
class L2SP(TunableRegularizer):
    r"""L2 toward a starting point: :math:`\Omega(w) = \lambda \sum_i (w_i - w^0_i)^2`.

    For fine-tuning: the weights may move away from their pretrained values :math:`w^0` only at a cost, instead of
    being pulled toward zero as plain L2 does. Li et al. write :math:`\frac{\alpha}{2}\lVert w - w^0\rVert^2`; here,
    as in Keras's L2, there is no factor 1/2 (``strength`` = :math:`\alpha / 2`).

    One instance regularizes one weight (it holds that weight's reference values). The easy way to put it on a
    model is :func:`keras_optkit.regularizers.apply_regularization`, which gives every chosen layer its own
    ``L2SP`` with the layer's current kernel as the reference. The reference is a non-trainable variable saved
    with the model's weights (a ``.keras`` file restores it); ``get_config`` holds the strength and the reference's
    shape, not its values.

    Args:
        strength: :math:`\lambda` (>= 0), a variable the model tracks (assign it to anneal or tune it).
        reference_weights: The values :math:`w^0` (an array), or None to set them later with
            :meth:`set_reference` (``apply_regularization`` does).

    Raises:
        ValueError: When the penalty is needed before a reference was set, or the weight's shape differs from
            the reference's.

    Example:
        >>> import keras, numpy as np
        >>> layer = keras.layers.Dense(2, kernel_regularizer=L2SP(0.01, reference_weights=np.ones((3, 2))))

    References:
        Li, Grandvalet & Davoine, "Explicit Inductive Bias for Transfer Learning with Convolutional Networks",
        ICML 2018, arXiv:1802.01483.
    """

    strength_names = ("strength",)

    def __init__(
        self,
        strength: float = 0.01,
        reference_weights: Any = None,
        name: str | None = None,
        reference_shape: Any = None,
    ) -> None:
        super().__init__(name=name, strength=strength)
        self.reference: Any = None  # a Keras variable once the shape is known
        if reference_weights is not None:
            self.set_reference(reference_weights)
        elif reference_shape is not None:
            # From a config: the values come with the weights (load_own_variables).
            self._make_reference(tuple(int(d) for d in reference_shape))

    def _make_reference(self, shape: tuple[int, ...]) -> None:
        self.reference = self.add_weight(
            shape=shape, initializer="zeros", trainable=False, dtype="float32", name="reference"
        )
        self._reference_set = False

    def set_reference(self, weights: Any) -> None:
        """Sets the reference values :math:`w^0` (an array or a variable, copied)."""
        values = np.asarray(ops.convert_to_numpy(weights), dtype="float32")
        if self.reference is None:
            self._make_reference(values.shape)
        elif tuple(self.reference.shape) != values.shape:
            raise ValueError(
                f"`reference_weights` must keep the shape {tuple(self.reference.shape)}. "
                f"Received: reference_weights with shape {values.shape}"
            )
        self.reference.assign(values)
        self._reference_set = True

    def penalty(self, x: Any) -> Any:
        if self.reference is None or not self._reference_set:
            raise ValueError(
                "L2SP has no reference weights: give `reference_weights`, call `set_reference`, or add it with "
                "keras_optkit.regularizers.apply_regularization, which uses the current weights."
            )
        if tuple(x.shape) != tuple(self.reference.shape):
            raise ValueError(
                f"L2SP's reference has shape {tuple(self.reference.shape)} but the weight has shape "
                f"{tuple(x.shape)}: one L2SP regularizes one weight."
            )
        return self.strength * ops.sum(ops.square(x - self.reference))

    def get_config(self) -> dict[str, Any]:
        shape = None if self.reference is None else list(self.reference.shape)
        return {**super().get_config(), "reference_weights": None, "reference_shape": shape}

    def save_own_variables(self, store: Any) -> None:
        if self.reference is not None:
            store["reference"] = ops.convert_to_numpy(self.reference)

    def load_own_variables(self, store: Any) -> None:
        if "reference" in store:
            self.set_reference(store["reference"])

    def __repr__(self) -> str:
        shape = None if self.reference is None else tuple(self.reference.shape)
        return f"L2SP(strength={self.current():g}, reference shape={shape})"

