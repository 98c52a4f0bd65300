"""Choosing the kernels to prune and ranking their weights: what `prune` and `MagnitudePruning` share.

Masks are computed on the host with NumPy, at the few steps where they change: ranking needs a sort, and a
stable NumPy sort gives the documented tie-break (equal magnitudes: the lower flat index is pruned first) on
every backend. Keeping the masks applied at every step happens on the device (see ``pruning_mask.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_optkit import _validation as check

#: Layers whose ``kernel`` can be pruned. Transposed, depthwise and separable convolutions lay their kernels out
#: differently (output channels are not the last axis) and are left out.
PRUNABLE_LAYERS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
STRUCTURES = ("weight", "unit", "n:m")


def all_layers(model: keras.Layer) -> list[keras.Layer]:
    """Every layer inside ``model``, nested models included, in order, each once."""
    found: list[keras.Layer] = []
    seen: set[int] = set()

    def walk(layer: keras.Layer) -> None:
        for child in getattr(layer, "layers", None) or []:
            if id(child) not in seen:
                seen.add(id(child))
                found.append(child)
                walk(child)

    walk(model)
    return found


def check_layers_argument(layers: Any) -> Any:
    """``None``, a regular expression (str, searched for in layer names, as ``apply_regularization`` does) or a
    callable ``layer -> bool``."""
    if layers is None or callable(layers):
        return layers
    if isinstance(layers, str):
        try:
            re.compile(layers)
        except re.error as error:
            raise ValueError(
                f"`layers` is not a valid regular expression ({error}). Received: layers={layers!r}"
            ) from None
        return layers
    raise TypeError(
        "`layers` must be None (every Dense and Conv kernel), a regular expression matched against layer names, "
        f"or a callable layer -> bool. Received: layers={layers!r}"
    )


def select_layers(model: keras.Model, layers: Any) -> list[keras.Layer]:
    """The prunable layers of ``model`` chosen by ``layers``; a ValueError if there are none."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}")
    candidates = [layer for layer in all_layers(model) if isinstance(layer, PRUNABLE_LAYERS)]
    if layers is None:
        chosen = candidates
    elif isinstance(layers, str):
        chosen = [layer for layer in candidates if re.search(layers, layer.name)]
    else:
        chosen = [layer for layer in candidates if layers(layer)]
    if not chosen:
        names = ", ".join(layer.name for layer in candidates) or "none"
        raise ValueError(
            "`layers` chose no Dense or Conv layer of the model (a regular expression is searched for in "
            f"each layer name). Prunable layers: {names}. Received: layers={layers!r}"
        )
    unbuilt = [layer.name for layer in chosen if not layer.built]
    if unbuilt:
        raise ValueError(
            f"The model must be built before pruning (call it on data or give it an Input): {', '.join(unbuilt)} "
            "has no kernel yet."
        )
    return chosen


def parse_structure(structure: Any) -> tuple[str, int, int]:
    """``("weight" | "unit" | "n:m", n, m)``; n and m are 0 unless the structure is "n:m" (e.g. "2:4")."""
    if isinstance(structure, str) and structure in ("weight", "unit"):
        return structure, 0, 0
    if isinstance(structure, str):
        found = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", structure)
        if found:
            n, m = int(found.group(1)), int(found.group(2))
            if 0 < n < m:
                return "n:m", n, m
    raise ValueError(
        "`structure` must be 'weight', 'unit' or 'n:m' with 0 < n < m (e.g. '2:4': keep the 2 largest of every "
        f"4 weights along the input axis). Received: structure={structure!r}"
    )


def check_scope(scope: Any, kind: str) -> str:
    scope = check.check_choice("scope", scope, ("layer", "global"))
    if scope == "global" and kind != "weight":
        raise ValueError(
            "`scope='global'` ranks single weights of all chosen kernels together; with "
            f"structure={kind!r} each kernel is pruned on its own: use scope='layer'. Received: scope={scope!r}"
        )
    return scope


def check_groups(layers: list[keras.Layer], m: int) -> None:
    """n:m groups run along the input axis (the kernel's second-to-last), which must hold whole groups."""
    for layer in layers:
        inputs = int(layer.kernel.shape[-2])
        if inputs % m:
            raise ValueError(
                f"structure='n:m' groups every {m} weights along the input axis, but layer {layer.name!r} has "
                f"{inputs} inputs per output, not a multiple of {m}. Leave it out with `layers`. "
                f"Received: structure with m={m}"
            )


def _prune_smallest(scores: np.ndarray, count: int) -> np.ndarray:
    """A 0/1 mask over the flat ``scores`` with the ``count`` smallest set to 0 (ties: lower index first)."""
    mask = np.ones(scores.size, dtype=np.float32)
    if count > 0:
        mask[np.argsort(scores, kind="stable")[:count]] = 0.0
    return mask


def weight_masks(kernels: list[np.ndarray], sparsity: float, scope: str) -> list[np.ndarray]:
    """Single weights by |w|: ``round(sparsity * size)`` pruned per kernel, or over all kernels together."""
    if scope == "layer":
        return [
            _prune_smallest(np.abs(kernel).ravel(), round(sparsity * kernel.size)).reshape(kernel.shape)
            for kernel in kernels
        ]
    flat = np.concatenate([np.abs(kernel).ravel() for kernel in kernels])
    mask = _prune_smallest(flat, round(sparsity * flat.size))
    pieces = np.split(mask, np.cumsum([kernel.size for kernel in kernels])[:-1])
    return [piece.reshape(kernel.shape) for piece, kernel in zip(pieces, kernels, strict=True)]


def unit_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """Whole output units (the last axis: Dense units, Conv filters) by the L2 norm of their weights."""
    units = kernel.shape[-1]
    norms = np.sqrt(np.sum(np.square(kernel.reshape(-1, units).astype(np.float64)), axis=0))
    keep = _prune_smallest(norms, round(sparsity * units))
    return np.broadcast_to(keep, kernel.shape).astype(np.float32)


def n_m_mask(kernel: np.ndarray, n: int, m: int) -> np.ndarray:
    """The ``n`` largest |w| of every ``m`` consecutive weights along the input axis (ties: lower index pruned)."""
    moved = np.moveaxis(np.abs(kernel), -2, -1)  # (..., outputs, inputs)
    groups = moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)
    order = np.argsort(groups, axis=-1, kind="stable")
    keep = np.ones(groups.shape, dtype=np.float32)
    np.put_along_axis(keep, order[..., : m - n], 0.0, axis=-1)
    return np.moveaxis(keep.reshape(moved.shape), -1, -2)


def compute_masks(
    kernels: list[np.ndarray], sparsity: float, scope: str, structure: tuple[str, int, int]
) -> list[np.ndarray]:
    """The masks of ``kernels`` for one sparsity, scope and parsed structure."""
    kind, n, m = structure
    if kind == "weight":
        return weight_masks(kernels, sparsity, scope)
    if kind == "unit":
        return [unit_mask(kernel, sparsity) for kernel in kernels]
    return [n_m_mask(kernel, n, m) for kernel in kernels]


def layer_filter_config(layers: Any) -> Any:
    """``layers`` as it can go into a config: None or the regex; a callable cannot be serialized."""
    if layers is None or isinstance(layers, str):
        return layers
    raise TypeError(
        "A `layers` callable cannot be serialized: give a regular expression to save the callback's config. "
        f"Received: layers={layers!r}"
    )


LayerFilter = None | str | Callable[[keras.Layer], bool]
