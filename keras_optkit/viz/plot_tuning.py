"""Plot a tuning result: the objective against the learning rate and the L2 strength."""

from __future__ import annotations

from typing import Any

from keras_optkit.viz.plot_schedule import _import_pyplot


def plot_tuning_result(result: Any, axes: Any = None) -> Any:
    """Two panels: the objective of every scored trial against its learning rate, and against its L2 strength
    (trials without L2 drawn at the left edge, marked "off"); one colour per schedule family, one marker per
    optimizer.

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
    optimizers = sorted({str(row["optimizer"]) for row in rows})
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    colour_of = {schedule: colours[i % len(colours)] for i, schedule in enumerate(schedules)}
    marker_of = {optimizer: markers[i % len(markers)] for i, optimizer in enumerate(optimizers)}
    for row in rows:
        style = {"color": colour_of[row["schedule"]], "marker": marker_of[str(row["optimizer"])], "s": 40}
        axes[0].scatter([row["learning_rate"]], [row["score"]], **style)
        axes[1].scatter([row["l2"] if row["l2"] > 0 else off_position], [row["score"]], **style)
    objective = result.objective.name
    axes[0].set_xscale("log")
    axes[0].set_xlabel("learning rate (peak of the schedule)")
    axes[0].set_ylabel(objective)
    # Two legends from proxy artists: colour = schedule (left panel), marker = optimizer (right panel).
    axes[0].legend(handles=[plt.Line2D([], [], color=colour_of[name], marker="o", linestyle="", label=name)
                            for name in schedules], title="schedule", fontsize="small")
    axes[1].legend(handles=[plt.Line2D([], [], color="0.3", marker=marker_of[name], linestyle="", label=name)
                            for name in optimizers], title="optimizer", fontsize="small")
    axes[1].set_xscale("log")
    axes[1].set_xlabel('L2 strength ("off" at the left edge)')
    if rows:
        axes[1].axvline(off_position, color="0.8", linestyle=":")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title(f"{objective} vs learning rate")
    axes[1].set_title(f"{objective} vs L2")
    return axes
