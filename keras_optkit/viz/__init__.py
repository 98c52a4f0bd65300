"""Plots (matplotlib is imported only when a plot is made: install the `plot` extra)."""

from keras_optkit.viz.plot_schedule import plot_schedule

__all__ = ["plot_schedule"]
