"""Plots (matplotlib is imported only when a plot is made: install the `plot` extra)."""

from keras_optkit.viz.plot_lr_finder import plot_lr_finder
from keras_optkit.viz.plot_schedule import plot_schedule
from keras_optkit.viz.plot_tuning import plot_tuning_result

__all__ = ["plot_lr_finder", "plot_schedule", "plot_tuning_result"]
