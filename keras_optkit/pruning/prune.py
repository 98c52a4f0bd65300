"""One-shot magnitude pruning of a built model, in place."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit import _validation as check
from keras_optkit.pruning import _masks
from keras_optkit.pruning.pruning_mask import PruningMask


def prune(
    model: keras.Model,
    amount: float,
    layers: _masks.LayerFilter = None,
    scope: str = "layer",
    structure: str = "weight",
) -> keras.Model:
    r"""Zero the smallest-magnitude weights of the chosen kernels now, and keep them zero in later training.

    With ``scope="layer"`` each chosen kernel of size :math:`N` loses exactly :math:`\mathrm{round}(a N)` weights
    (``amount`` :math:`= a`; Python's ``round``), those of smallest :math:`|w|`, ties broken by flat index (the
    lower index goes first); with ``scope="global"`` the :math:`\mathrm{round}(a \sum N)` smallest over all chosen
    kernels together go, so layers with many small weights lose more. ``structure="unit"`` zeroes the
    :math:`\mathrm{round}(a U)` output units (Dense units, Conv filters: the kernel's last axis) of smallest L2
    norm in each kernel; ``structure="n:m"`` (e.g. ``"2:4"``) keeps the :math:`n` largest :math:`|w|` of every
    :math:`m` consecutive weights along the input axis, with ``amount`` :math:`= 1 - n/m`. Biases are not pruned.
    All other weights are unchanged.

    The masks are attached to the kernels as their constraint (:class:`PruningMask`), so fine-tuning with any
    optimizer keeps the pruned weights at 0; :func:`strip_pruning` removes them. This is the counterpart of
    PyTorch's ``torch.nn.utils.prune.l1_unstructured`` (``scope="layer"``), ``global_unstructured``
    (``scope="global"``) and ``ln_structured(n=2, dim=0)`` (``structure="unit"``). Pruning a pruned model again
    ranks the current weights (zeros first), so the pruned set only grows when ``amount`` does.

    Args:
        model: A built Keras model.
        amount: Fraction of the weights to prune, in [0, 1).
        layers: Which layers: None (every Dense and Conv1D/2D/3D kernel), a regular expression searched for in
            layer names, or a callable ``layer -> bool``.
        scope: ``"layer"`` or ``"global"`` (``structure="weight"`` only).
        structure: ``"weight"``, ``"unit"`` or ``"n:m"``.

    Returns:
        ``model``, pruned in place.

    Raises:
        ValueError: For ``amount`` outside [0, 1), ``layers`` choosing no prunable layer, an unbuilt model, an
            unknown ``scope`` or ``structure``, or an n:m ``amount`` other than :math:`1 - n/m`.

    Example:
        >>> import keras
        >>> from keras_optkit.pruning import prune, sparsity_report
        >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32), keras.layers.Dense(10)])
        >>> report = sparsity_report(prune(model, 0.5))
        >>> report["total"]["sparsity"]
        0.5

    References:
        Han, Pool, Tran & Dally, "Learning both Weights and Connections for Efficient Neural Networks",
        NeurIPS 2015, arXiv:1506.02626.
    """
    amount = check.check_in_range("amount", amount, 0.0, 1.0)
    layers = _masks.check_layers_argument(layers)
    parsed = _masks.parse_structure(structure)
    scope = _masks.check_scope(scope, parsed[0])
    chosen = _masks.select_layers(model, layers)
    kind, n, m = parsed
    if kind == "n:m":
        if abs(amount - (1.0 - n / m)) > 1e-9:
            raise ValueError(
                f"structure={structure!r} prunes {m - n} of every {m} weights: `amount` must be {1 - n / m:g}. "
                f"Received: amount={amount!r}"
            )
        _masks.check_groups(chosen, m)
    kernels = [np.asarray(ops.convert_to_numpy(layer.kernel)) for layer in chosen]
    masks = _masks.compute_masks(kernels, amount, scope, parsed)
    for layer, kernel, mask in zip(chosen, kernels, masks, strict=True):
        holder = PruningMask.attach(layer)
        # Pruning again only adds to what is already pruned.
        mask = mask * holder.numpy()
        holder.set_mask(mask, int(ops.convert_to_numpy(holder.mask_step)))
        layer.kernel.assign((kernel * mask).astype(kernel.dtype))
    _retrace(model)
    return model


def _retrace(model: Any) -> None:
    # A train step traced before the masks were attached does not apply them.
    from keras_optkit.callbacks._control import retrace_train_step

    retrace_train_step(model)
