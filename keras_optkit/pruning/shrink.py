"""A smaller model from a unit-pruned one: the zeroed units and the next layer's matching inputs removed."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit.pruning.pruning_mask import PruningMask
from keras_optkit.pruning.strip_pruning import masked_values, own_weights

#: Layers that act on each unit on its own, with no weights: a removed unit can pass through them.
_ELEMENTWISE = (
    keras.layers.Activation, keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.GaussianNoise,
    keras.layers.AlphaDropout, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
)


def shrink(model: keras.Model) -> keras.Model:
    r"""A copy of a unit-pruned Sequential model with the pruned units of its Dense layers removed.

    A Dense unit :math:`j` whose kernel column is all zeros outputs a constant, :math:`c_j = g(b_j)`, with
    :math:`g` its activation and the weightless elementwise layers after it (Dropout, Activation, ReLU, ...)
    at inference. When the next weighted layer is a Dense layer, the unit is removed with row :math:`j` of
    that layer's kernel :math:`W'`, whose bias takes the constant over: :math:`b' \leftarrow b' + c_j W'_{j,:}`,
    so the copy's predictions equal the pruned model's (to float rounding). A unit stays if its constant is not
    0 and the next layer has no bias, or if no Dense layer follows it (the model's outputs keep their size).
    Conv layers, and Dense layers followed by anything else, are copied as they are. The copy carries no masks
    (like :func:`strip_pruning`) and is not compiled.

    Args:
        model: A ``keras.Sequential`` model, typically pruned with ``structure="unit"``.

    Returns:
        The smaller copy.

    Example:
        >>> import keras
        >>> from keras_optkit.pruning import prune, shrink
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10, activation="relu"),
        ...                           keras.layers.Dense(3)])
        >>> small = shrink(prune(model, 0.4, structure="unit"))
        >>> small.layers[0].units
        6
    """
    if not isinstance(model, keras.Sequential):
        raise TypeError(
            "`model` must be a keras.Sequential model: shrink follows each Dense layer to the next one. "
            f"Received: model={model!r}"
        )
    if not model.built or not model.inputs:
        raise ValueError("`model` must be built (give it an Input) before it can be shrunk.")
    layers = list(model.layers)
    values = [masked_values(layer) for layer in layers]
    units = {index: getattr(layer, "units", None) for index, layer in enumerate(layers)}
    for index, layer in enumerate(layers):
        following = _next_dense(layers, index)
        if not isinstance(layer, keras.layers.Dense) or following is None:
            continue
        kernel = values[index][0]
        dead = np.flatnonzero(~np.any(kernel != 0, axis=0))
        if dead.size == 0:
            continue
        bias = values[index][1] if layer.use_bias else np.zeros(kernel.shape[-1], kernel.dtype)
        constant = _constant_outputs(layers, index, following, bias)
        next_kernel = values[following][0]
        if layers[following].use_bias:
            values[following][1] = (values[following][1] + constant[dead] @ next_kernel[dead]).astype(kernel.dtype)
        else:
            dead = dead[constant[dead] == 0]
        keep = np.setdiff1d(np.arange(kernel.shape[-1]), dead)
        values[index][0] = kernel[:, keep]
        if layer.use_bias:
            values[index][1] = values[index][1][keep]
        values[following][0] = next_kernel[keep]
        units[index] = int(keep.size)

    rebuilt = [keras.Input(shape=tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)]
    for index, layer in enumerate(layers):
        config = layer.get_config()
        holder = PruningMask.of(layer)
        if holder is not None:
            config["kernel_constraint"] = keras.saving.serialize_keras_object(holder.constraint)
        if units[index] is not None:
            config["units"] = units[index]
        rebuilt.append(layer.__class__.from_config(config))
    small = keras.Sequential(rebuilt, name=f"{model.name}_shrunk")
    for layer, layer_values in zip(small.layers, values, strict=True):
        for weight, value in zip(own_weights(layer), layer_values, strict=True):
            weight.assign(value)
    return small


def _next_dense(layers: list[keras.Layer], index: int) -> int | None:
    for later in range(index + 1, len(layers)):
        if isinstance(layers[later], keras.layers.Dense):
            return later
        if not isinstance(layers[later], _ELEMENTWISE):
            return None
    return None


def _constant_outputs(layers: list[keras.Layer], index: int, following: int, bias: np.ndarray) -> np.ndarray:
    """What each unit of ``layers[index]`` hands the next Dense layer when its kernel column is 0."""
    value: Any = ops.convert_to_tensor(bias[None, :])
    value = layers[index].activation(value)
    for between in layers[index + 1 : following]:
        value = between(value, training=False)
    return np.asarray(ops.convert_to_numpy(value), dtype=np.float64)[0].astype(bias.dtype)
