"""A plain Keras model from a pruned one: pruned weights zero, no masks, loadable without this package."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit import _validation as check
from keras_optkit.pruning._masks import all_layers
from keras_optkit.pruning.pruning_mask import PruningMask


def strip_pruning(model: keras.Model) -> keras.Model:
    """A copy of ``model`` without its pruning masks, with every pruned weight exactly 0.

    The layers get back the kernel constraints they had before pruning; their configs hold nothing of this
    package's pruning, so the copy saves to ``.keras`` and loads without ``keras_optkit`` installed (as long as
    the model uses nothing else of it). The copy is not compiled: compile it to train or evaluate it, or
    save it as it is to serve. ``model`` itself keeps its masks.

    Args:
        model: A Sequential or functional model (nested ones included), pruned by
            :func:`~keras_optkit.pruning.prune` or :class:`~keras_optkit.callbacks.MagnitudePruning` (a model
            without masks is copied as it is).

    Returns:
        The stripped copy.

    Example:
        >>> import keras
        >>> from keras_optkit.pruning import prune, strip_pruning
        >>> model = prune(keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)]), 0.5)
        >>> plain = strip_pruning(model)
        >>> plain.layers[0].kernel_constraint is None
        True
    """
    check.check_rebuildable(model, "strip_pruning")

    def clone(layer: keras.Layer) -> keras.Layer:
        config = layer.get_config()
        holder = PruningMask.of(layer)
        if holder is not None:
            config["kernel_constraint"] = keras.saving.serialize_keras_object(holder.constraint)
        return layer.__class__.from_config(config)

    stripped = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy_weights(model, stripped)
    return stripped


def own_weights(layer: keras.Layer) -> list[Any]:
    """The weights of ``layer`` itself, without those of pruning masks."""
    masks = {id(v) for holder in _holders(layer) for v in holder.weights}
    return [weight for weight in layer.weights if id(weight) not in masks]


def _holders(layer: keras.Layer) -> list[PruningMask]:
    found = [PruningMask.of(layer)] + [PruningMask.of(child) for child in all_layers(layer)]
    return [holder for holder in found if holder is not None]


def masked_values(layer: keras.Layer) -> list[np.ndarray]:
    """``layer``'s own weights as NumPy arrays, its kernel multiplied by its mask."""
    holder = PruningMask.of(layer)
    values = []
    for weight in own_weights(layer):
        value = np.asarray(ops.convert_to_numpy(weight))
        if holder is not None and weight is layer.kernel:
            value = (value * holder.numpy()).astype(value.dtype)
        values.append(value)
    return values


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copies the weights layer by layer (the target is a clone of the source, masks left out)."""
    pairs = list(zip(all_layers(source), all_layers(target), strict=True))
    for old, new in pairs:
        if isinstance(old, keras.Model) or isinstance(old, PruningMask):
            continue
        values, weights = masked_values(old), own_weights(new)
        if len(values) != len(weights):
            raise ValueError(f"Layer {old.name!r} has {len(values)} weights, its copy {len(weights)}.")
        for weight, value in zip(weights, values, strict=True):
            weight.assign(value)
