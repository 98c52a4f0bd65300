"""Plot a tuning result: the objective against the learning rate and the L2 strength."""

from __future__ import annotations

from typing import Any

from keras_optkit.viz.plot_schedule import _import_pyplot


def plot_tuning_result(result: Any, axes: Any = None) -> Any:
    """Two panels: the objective of every scored trial against its learning rate, and against its L2 strength
    (trials without L2 drawn at the left edge, marked "off"); one colour per schedule family.

    Args:
        result: A ``keras_optkit.tuner.TuningResult``.
        axes: Two matplotlib axes to draw on; a new figure is made otherwise.

    Returns:
        The two axes.
    """
    plt = _import_pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    rows = [row for row in result.table() if row["score"] is not None]
    schedules = sorted({row["schedule"] for row in rows})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    positive_l2 = [row["l2"] for row in rows if row["l2"] > 0]
    off_position = min(positive_l2) / 3.0 if positive_l2 else 1e-6
    for index, schedule in enumerate(schedules):
        chosen = [row for row in rows if row["schedule"] == schedule]
        colour = colours[index % len(colours)]
        axes[0].scatter([r["learning_rate"] for r in chosen], [r["score"] for r in chosen],
                        color=colour, label=schedule)
        axes[1].scatter([r["l2"] if r["l2"] > 0 else off_position for r in chosen],
                        [r["score"] for r in chosen], color=colour, label=schedule)
    objective = result.objective.name
    axes[0].set_xscale("log")
    axes[0].set_xlabel("learning rate (peak of the schedule)")
    axes[0].set_ylabel(objective)
    axes[0].legend(title="schedule")
    axes[1].set_xscale("log")
    axes[1].set_xlabel('L2 strength ("off" at the left edge)')
    if rows:
        axes[1].axvline(off_position, color="0.8", linestyle=":")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title(f"{objective} vs learning rate")
    axes[1].set_title(f"{objective} vs L2")
    return axes
