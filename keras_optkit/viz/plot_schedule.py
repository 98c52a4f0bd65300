"""Plot learning-rate schedules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keras_optkit.pruning.sparsity_schedule import SparsitySchedule
from keras_optkit.schedules import schedule_values


def _import_pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'keras-optkit[plot]'") from error
    return plt


def _label(schedule: Any) -> str:
    return type(schedule).__name__ if callable(schedule) else f"constant {schedule:g}"


def plot_schedule(
    schedule_or_list: Any,
    total_steps: int,
    ax: Any = None,
    log: bool = False,
) -> Any:
    """Plots one or several schedules over steps ``0 .. total_steps - 1`` on one labelled axes.

    Args:
        schedule_or_list: A schedule (any ``LearningRateSchedule`` or a constant, or a sparsity schedule of
            ``keras_optkit.pruning``: the axis then reads "sparsity"), a list of them (labelled by class name), or
            a mapping ``{label: schedule}``.
        total_steps: Number of steps to plot (integer >= 1).
        ax: Optional matplotlib axes to draw on; a new figure is made otherwise.
        log: Logarithmic rate axis.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> from keras_optkit.schedules import OneCycle
        >>> figure = plot_schedule(OneCycle(0.1, 1000), total_steps=1000)
        >>> figure.axes[0].get_lines()[0].get_label()
        'OneCycle'
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"`total_steps` must be an integer >= 1. Received: total_steps={total_steps!r}")
    if isinstance(schedule_or_list, Mapping):
        labelled = list(schedule_or_list.items())
    elif isinstance(schedule_or_list, (list, tuple)):
        labelled = [(_label(schedule), schedule) for schedule in schedule_or_list]
    else:
        labelled = [(_label(schedule_or_list), schedule_or_list)]
    if not labelled:
        raise ValueError("`schedule_or_list` must hold at least one schedule. Received: an empty collection")
    plt = _import_pyplot()
    created = ax is None
    if created:
        figure, ax = plt.subplots(figsize=(7, 4))
    else:
        figure = ax.figure
    for label, schedule in labelled:
        ax.plot(range(total_steps), schedule_values(schedule, total_steps), label=label)
    ax.set_xlabel("step")
    sparsity = all(isinstance(schedule, SparsitySchedule) for _, schedule in labelled)
    ax.set_ylabel("sparsity (fraction pruned)" if sparsity else "learning rate")
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if len(labelled) > 1 or labelled[0][0]:
        ax.legend(fontsize="small")
    if created:  # a figure the caller made keeps the layout the caller chose
        figure.tight_layout()
    return figure
