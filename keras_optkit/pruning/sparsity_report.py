"""How sparse a model is: zeros / size per prunable kernel and in total, as a dict and a table."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_optkit.pruning._masks import PRUNABLE_LAYERS, all_layers


class SparsityReport(dict):
    """A dict ``{layer name: {"shape", "zeros", "size", "sparsity"}, ..., "total": {...}}`` whose ``str`` is a
    table."""

    def table(self) -> str:
        lines = [f"{'layer':<28} {'kernel shape':<18} {'zeros':>10} {'size':>10} {'sparsity':>9}"]
        for name, row in self.items():
            if name == "total":
                continue
            shape = "x".join(str(size) for size in row["shape"])
            lines.append(f"{name:<28} {shape:<18} {row['zeros']:>10} {row['size']:>10} {row['sparsity']:>8.1%}")
        total = self["total"]
        lines.append(f"{'total':<28} {'':<18} {total['zeros']:>10} {total['size']:>10} {total['sparsity']:>8.1%}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def sparsity_report(model: keras.Model) -> SparsityReport:
    """Counts the exact zeros of every Dense and Conv1D/2D/3D kernel of ``model`` (nested models included).

    Biases and other weights are left out: they are not pruned. Counts are of exact zeros in the kernel values,
    so they hold for a stripped model as for one with masks.

    Args:
        model: A built Keras model.

    Returns:
        A :class:`SparsityReport`: a dict with one entry per kernel (keyed by layer name) and ``"total"``, each
        ``{"shape": tuple, "zeros": int, "size": int, "sparsity": zeros / size}``; ``print`` it for a table.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="zeros")])
        >>> sparsity_report(model)["total"]["sparsity"]
        1.0
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}")
    report = SparsityReport()
    zeros_total = size_total = 0
    for layer in all_layers(model):
        if not isinstance(layer, PRUNABLE_LAYERS) or not layer.built:
            continue
        kernel = np.asarray(ops.convert_to_numpy(layer.kernel))
        zeros, size = int(np.count_nonzero(kernel == 0)), int(kernel.size)
        report[layer.name] = {"shape": tuple(kernel.shape), "zeros": zeros, "size": size,
                              "sparsity": zeros / size if size else 0.0}
        zeros_total += zeros
        size_total += size
    report["total"] = {"shape": (), "zeros": zeros_total, "size": size_total,
                       "sparsity": zeros_total / size_total if size_total else 0.0}
    return report
