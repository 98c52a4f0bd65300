"""Plot the result of a learning-rate range test."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_optkit.viz.plot_schedule import _import_pyplot

_MARKERS = {"minimum": "v", "steepest": "o", "valley": "*"}


def plot_lr_finder(result: Any, ax: Any = None, log: bool = True) -> Any:
    """Plots the loss and the smoothed loss of a range test against the learning rate, with the
    suggestions.

    The first line is the raw batch loss, the second the smoothed loss; each suggested rate is a
    marker on the smoothed curve (interpolated in log-rate), labelled with its value. The loss axis
    spans the smoothed curve and the lowest raw loss, so the blow-up at the end of a diverging run
    does not flatten the rest.

    Args:
        result: A :class:`keras_optkit.callbacks.LRFinderResult`.
        ax: Optional matplotlib axes to draw on; a new figure is made otherwise.
        log: Logarithmic learning-rate axis.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import numpy as np
        >>> from keras_optkit.callbacks import LRFinderResult
        >>> rates = np.geomspace(1e-5, 1.0, 30)
        >>> loss = (np.log10(rates) + 2.0) ** 2 + 1.0
        >>> ax = plot_lr_finder(LRFinderResult(rates, loss, loss))
        >>> [line.get_label() for line in ax.get_lines()]
        ['loss', 'smoothed loss']
    """
    plt = _import_pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    rates = result.learning_rates
    ax.plot(rates, result.losses, alpha=0.35, linewidth=1.0, label="loss")
    ax.plot(rates, result.smoothed_losses, linewidth=1.8, label="smoothed loss")
    finite = np.isfinite(result.smoothed_losses) & (rates > 0)
    for name, rate in result.suggestions.items():
        if not np.isfinite(rate) or finite.sum() < 1:
            continue
        height = np.interp(np.log(rate), np.log(rates[finite]), result.smoothed_losses[finite])
        ax.scatter(
            [rate], [height], marker=_MARKERS.get(name, "o"), s=70, zorder=3,
            label=f"{name}: {rate:.2e}",
        )
    if finite.any():
        # The last raw losses of a diverging run are orders of magnitude up: frame the smoothed
        # curve instead.
        smoothed = result.smoothed_losses[finite]
        raw = result.losses[np.isfinite(result.losses)]
        low = min(smoothed.min(), raw.min() if raw.size else smoothed.min())
        high = smoothed.max()
        margin = 0.08 * (high - low) if high > low else 0.5
        ax.set_ylim(low - margin, high + margin)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.figure.tight_layout()
    return ax
