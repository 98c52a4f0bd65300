"""The mask of one pruned kernel: non-trainable variables saved with the model, applied after every update."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_optkit")
class PruningMask(keras.layers.Layer):
    r"""Holds the 0/1 mask of one kernel and keeps the kernel masked, as the kernel's constraint.

    Keras applies a variable's ``constraint`` right after every optimizer update, inside the compiled train step,
    on every backend and for every optimizer (wrappers and ``LossScaleOptimizer`` included): the kernel becomes
    :math:`w \leftarrow c(w) \odot M`, where :math:`c` is the layer's own kernel constraint (if any) and
    :math:`M` the mask. A pruned weight is therefore exactly 0 after each step, whatever momentum or Adam's
    moments would have added to it. The mask is set as the layer's ``kernel_constraint``, so it is part of the
    layer's config: a pruned model saved to ``.keras`` loads with its masks (the ``mask`` and ``mask_step``
    variables are saved as this object's state, and ``BackupAndRestore`` restores them), and needs this package to
    load; :func:`~keras_optkit.pruning.strip_pruning` gives a plain model.

    On JAX the trainer hands the optimizer step only the trainable and optimizer variables, so the mask is read
    there from a copy taken when the mask is set or loaded, and the train step is retraced when it changes
    (:class:`~keras_optkit.callbacks.MagnitudePruning` does that; set masks with :meth:`set_mask`).

    Args:
        shape: The kernel's shape.
        constraint: The layer's kernel constraint before pruning, applied before the mask (or None).
        **kwargs: Layer arguments (``name``).
    """

    def __init__(self, shape: Any, constraint: Any = None, **kwargs: Any) -> None:
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        super().__init__(trainable=False, dtype="float32", **kwargs)
        self.kernel_shape = tuple(int(size) for size in shape)
        self.constraint = keras.constraints.get(constraint)
        self.mask = self.add_weight(
            shape=self.kernel_shape, initializer="ones", trainable=False, name="mask", dtype="float32"
        )
        # The schedule step whose masks these are (-1: none yet), so a resumed run knows whether it is due.
        self.mask_step = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(-1), trainable=False, name="mask_step", dtype="int32"
        )
        self._mask_copy = np.ones(self.kernel_shape, dtype=np.float32)
        self.built = True

    def __call__(self, weights: Any) -> Any:
        """The constraint: the inner constraint's result times the mask."""
        if self.constraint is not None:
            weights = self.constraint(weights)
        return weights * ops.cast(self._mask_value(), weights.dtype)

    def _mask_value(self) -> Any:
        if keras.backend.backend() == "jax":
            return self._mask_copy
        return self.mask

    def set_mask(self, mask: Any, step: int = -1) -> None:
        """Sets the mask (0/1 values of the kernel's shape) and the schedule step it belongs to."""
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != self.kernel_shape:
            raise ValueError(
                f"`mask` must have the kernel's shape {self.kernel_shape}. Received: mask.shape={mask.shape}"
            )
        self.mask.assign(mask)
        self.mask_step.assign(int(step))
        self._mask_copy = mask.copy()

    def refresh(self) -> bool:
        """Takes the copy read on JAX from the mask variable again (after the variable was assigned directly);
        returns whether it changed."""
        current = np.asarray(ops.convert_to_numpy(self.mask), dtype=np.float32)
        changed = not np.array_equal(current, self._mask_copy)
        self._mask_copy = current.copy()
        return changed

    def numpy(self) -> np.ndarray:
        return np.asarray(ops.convert_to_numpy(self.mask))

    def load_own_variables(self, store: Any) -> None:
        super().load_own_variables(store)
        self.refresh()

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.kernel_shape),
            "constraint": keras.saving.serialize_keras_object(self.constraint),
        }

    @classmethod
    def of(cls, layer: keras.Layer) -> PruningMask | None:
        """The mask attached to ``layer``'s kernel, or None."""
        constraint = getattr(layer, "kernel_constraint", None)
        return constraint if isinstance(constraint, cls) else None

    @classmethod
    def attach(cls, layer: keras.Layer) -> PruningMask:
        """The mask of ``layer``'s kernel, attached (all ones) if it has none yet."""
        found = cls.of(layer)
        if found is not None:
            return found
        kernel = layer.kernel
        holder = cls(kernel.shape, constraint=layer.kernel_constraint, name=f"{layer.name}_pruning_mask")
        _set_tracked(layer, "kernel_constraint", holder)
        kernel.constraint = holder
        return holder

    def detach(self, layer: keras.Layer) -> None:
        """Gives ``layer`` back its own kernel constraint (the mask stays in the kernel's values)."""
        if PruningMask.of(layer) is not self:
            raise ValueError(f"This mask is not attached to layer {layer.name!r}.")
        layer.kernel.constraint = self.constraint
        _set_tracked(layer, "kernel_constraint", self.constraint)


def _set_tracked(layer: keras.Layer, name: str, value: Any) -> None:
    # A built layer refuses new state; Keras's own LoRA support unlocks its tracker the same way.
    tracker = getattr(layer, "_tracker", None)
    locked = bool(getattr(tracker, "locked", False))
    if locked:
        tracker.unlock()
    try:
        previous = getattr(layer, name, None)
        if isinstance(previous, PruningMask) and tracker is not None:
            tracker.untrack(previous)
        setattr(layer, name, value)
    finally:
        if locked:
            tracker.lock()
