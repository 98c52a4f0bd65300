"""Add regularizers to a model that is already built."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit.regularizers.l2sp import L2SP

# Layer attribute that holds the regularizer of its main weight, per kind of weight.
_KERNEL_ATTRIBUTES = ("kernel_regularizer", "depthwise_regularizer", "embeddings_regularizer")
_MAIN_WEIGHTS = {
    "kernel_regularizer": "kernel",
    "depthwise_regularizer": "depthwise_kernel",
    "embeddings_regularizer": "embeddings",
    "bias_regularizer": "bias",
}


def _holder(layer: keras.layers.Layer, attribute: str) -> Any:
    """The object that owns ``attribute`` and the weights it regularizes: Keras's recurrent layers (GRU, LSTM,
    SimpleRNN, ConvLSTM) forward their regularizers and weights to their cell, through read-only properties."""
    forwarded = getattr(type(layer), attribute, None)
    if isinstance(forwarded, property) and forwarded.fset is None and hasattr(layer, "cell"):
        return layer.cell
    return layer


def _wrapped(copy: keras.layers.Layer, layer: keras.layers.Layer) -> list[tuple[Any, Any]]:
    """(copy, original) pairs of the layers that hold the weights: the layer itself, or the layers inside Keras's
    wrappers (Bidirectional's two directions, TimeDistributed's layer), nested wrappers included."""
    if isinstance(copy, keras.layers.Bidirectional):
        pairs = [(copy.forward_layer, layer.forward_layer), (copy.backward_layer, layer.backward_layer)]
    elif isinstance(copy, keras.layers.Wrapper):
        pairs = [(copy.layer, layer.layer)]
    else:
        return [(copy, layer)]
    return [pair for inner in pairs for pair in _wrapped(*inner)]


def _without(config: dict[str, Any], attributes: list[str]) -> dict[str, Any]:
    """A layer config with ``attributes`` set to None, and, inside a wrapper's config (the wrapped layers'
    serialized form), the same for the wrapped layers' weight regularizers (the activity regularizer goes to the
    wrapper), whose ``build_config`` is dropped too: rebuilt from it they would be built already, too late to
    take a regularizer."""
    config = {key: (None if key in attributes else value) for key, value in config.items()}
    weight_attributes = [a for a in attributes if a != "activity_regularizer"]
    for key in ("layer", "backward_layer"):
        inner = config.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
            inner = {k: v for k, v in inner.items() if k != "build_config"}
            inner["config"] = _without(inner["config"], weight_attributes)
            config[key] = inner
    return config


def _resolve(name: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        regularizer = keras.regularizers.get(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{name}` must be a regularizer, its name or its config. Received: {name}={value!r} ({error})"
        ) from None
    if not callable(regularizer):
        raise TypeError(f"`{name}` must be a regularizer. Received: {name}={value!r}")
    return regularizer


def _selector(layers: Any) -> Callable[[keras.layers.Layer], bool]:
    if layers is None:
        return lambda layer: True
    if isinstance(layers, str):
        try:
            pattern = re.compile(layers)
        except re.error as error:
            raise ValueError(f"`layers` is not a valid regex ({error}). Received: layers={layers!r}") from None
        return lambda layer: pattern.search(layer.name) is not None
    if callable(layers):
        return lambda layer: bool(layers(layer))
    raise TypeError(f"`layers` must be None, a regex string or a callable. Received: layers={layers!r}")


def _own_weights(model: keras.Model, skip: set[int]) -> list:
    return [v for v in model.weights if id(v) not in skip]


def _regularizer_variables(model: keras.Model) -> set[int]:
    """Ids of the variables that belong to this package's tunable regularizers (strengths, L2-SP references)."""
    from keras_optkit.regularizers._tunable import TunableRegularizer

    ids: set[int] = set()
    for layer in _all_layers(model):
        for holder in {id(t): t for t in [layer] + [inner for inner, _ in _wrapped(layer, layer)]}.values():
            for attribute in (*_KERNEL_ATTRIBUTES, "bias_regularizer", "activity_regularizer"):
                value = getattr(holder, attribute, None)
                if isinstance(value, TunableRegularizer):
                    ids.update(id(v) for v in value.weights)
    return ids


def apply_regularization(
    model: keras.Model,
    kernel_regularizer: Any = None,
    bias_regularizer: Any = None,
    activity_regularizer: Any = None,
    layers: str | Callable[[keras.layers.Layer], bool] | None = None,
) -> keras.Model:
    """Returns a copy of ``model`` whose chosen layers carry the given regularizers, with the same weights.

    Keras 3 attaches a weight regularizer to the variable when the layer is built, so setting
    ``layer.kernel_regularizer`` on a built model is silently ignored (``model.losses`` stays empty). This
    rebuilds the model (``keras.models.clone_model``, nested Sequential and functional models included) with the
    regularizers set on the new layers before they build, then copies every weight, so predictions are
    unchanged bit for bit and ``model.losses`` holds the penalties.

    One regularizer instance is shared by all chosen layers, so one of this package's tunable regularizers
    (:class:`L1`, :class:`L2`, :class:`L1L2`, :class:`GroupLasso`) is one strength variable for the whole model.
    :class:`L2SP` is the exception: each layer gets its own, with its current weight as the reference (a reference
    given explicitly is refused: it fits one weight only).

    The kernel regularizer goes to ``kernel_regularizer`` (Dense, Conv*, ...), ``depthwise_regularizer``
    (DepthwiseConv*) and ``embeddings_regularizer`` (Embedding), whichever the layer has; the bias regularizer to
    ``bias_regularizer``; the activity regularizer to every chosen layer. A layer without the attribute is
    skipped. Regularizers already present on layers that are not chosen are kept. On Keras's recurrent layers
    (GRU, LSTM, SimpleRNN, ConvLSTM) the kernel regularizer goes to the input kernel and the bias regularizer to
    the bias, as their own ``kernel_regularizer`` / ``bias_regularizer`` do; the recurrent kernel is left alone.
    Inside Keras's wrappers (``Bidirectional``: both directions; ``TimeDistributed``) the wrapped layers get them.

    Args:
        model: A Sequential or functional model (built).
        kernel_regularizer: A regularizer (this package's or Keras's), its name or its config; None to leave
            kernels alone.
        bias_regularizer: Same, for biases.
        activity_regularizer: Same, for layer outputs.
        layers: Which layers: None (all that have the attribute), a regex searched in layer names
            (``"dense|conv"``), or a callable ``layer -> bool``.

    Returns:
        A new, uncompiled model: compile it (a fresh optimizer: the old one's slots belong to the old weights).

    Raises:
        TypeError: For a model that is not a Keras model, or arguments that are not regularizers.
        ValueError: For a subclassed model, or when ``layers`` chooses no layer that can take a regularizer.

    Example:
        >>> import keras
        >>> from keras_optkit.regularizers import L2
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(1)])
        >>> l2 = L2(1e-4)
        >>> model = apply_regularization(model, kernel_regularizer=l2)
        >>> len(model.losses)
        2
    """
    check.check_rebuildable(model, "apply_regularization",
                            "Pass the regularizers to its layers' constructors instead.")
    kernel = _resolve("kernel_regularizer", kernel_regularizer)
    bias = _resolve("bias_regularizer", bias_regularizer)
    activity = _resolve("activity_regularizer", activity_regularizer)
    if kernel is None and bias is None and activity is None:
        raise ValueError(
            "Give at least one of `kernel_regularizer`, `bias_regularizer`, `activity_regularizer`. "
            "Received: all None"
        )
    for name, value in (("kernel_regularizer", kernel), ("bias_regularizer", bias)):
        if isinstance(value, L2SP) and value.reference is not None:
            raise ValueError(
                f"`{name}` is an L2SP with reference weights of its own; give L2SP(strength) without them, and "
                "each layer's current weights become its reference."
            )
    if isinstance(activity, L2SP):
        raise ValueError("`activity_regularizer` cannot be L2SP: it regularizes weights, not outputs.")
    chosen = _selector(layers)
    # `layers` picks by the original layers; the clone's layers are paired with them by position in the walk.
    source_layers: dict[str, keras.layers.Layer] = {}
    touched: list[str] = []

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if chosen(layer):
            # A regularizer about to be replaced is not rebuilt from the config first: a tunable one would leave
            # its strength variable behind in the copy's weights.
            replaced = [a for a in _KERNEL_ATTRIBUTES if kernel is not None] + (
                ["bias_regularizer"] if bias is not None else []) + (
                ["activity_regularizer"] if activity is not None else [])
            config = _without(config, replaced)
        copy = layer.__class__.from_config(config)
        source_layers[copy.name] = layer
        if not chosen(layer):
            return copy
        changed = False
        for target, original in _wrapped(copy, layer):
            for attribute, value in [(a, kernel) for a in _KERNEL_ATTRIBUTES] + [("bias_regularizer", bias)]:
                if value is None or not hasattr(target, attribute):
                    continue
                if isinstance(value, L2SP):
                    weight = getattr(_holder(original, attribute), _MAIN_WEIGHTS[attribute], None)
                    if weight is None:
                        continue
                    value = L2SP(value.current(), reference_weights=weight)
                setattr(_holder(target, attribute), attribute, value)
                changed = True
        if activity is not None and hasattr(copy, "activity_regularizer"):
            copy.activity_regularizer = activity
            changed = True
        if changed:
            touched.append(layer.name)
        return copy

    new_model = keras.models.clone_model(model, clone_function=clone, recursive=True)
    if not touched:
        raise ValueError(
            "`layers` chose no layer that takes these regularizers. "
            f"Received: layers={layers!r}; layers: {[layer.name for layer in _all_layers(model)]}"
        )
    _copy_weights(model, new_model)
    return new_model


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    source_weights = _own_weights(source, _regularizer_variables(source))
    target_weights = _own_weights(target, _regularizer_variables(target))
    if len(source_weights) != len(target_weights):
        raise ValueError(
            f"The rebuilt model has {len(target_weights)} weights where the original has {len(source_weights)}; "
            "it cannot be given the original weights."
        )
    for old, new in zip(source_weights, target_weights, strict=True):
        if tuple(old.shape) != tuple(new.shape):
            raise ValueError(
                f"Weight {old.path} ({tuple(old.shape)}) does not match {new.path} ({tuple(new.shape)}) in the "
                "rebuilt model."
            )
        # A copy: on JAX the two variables would otherwise share a buffer that a jitted step may donate.
        new.assign(ops.copy(old.value))
