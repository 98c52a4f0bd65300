"""Draws every registered schedule (built from its registry example) into one picture: docs/schedules.png.

    python examples/plot_schedules.py [--out docs/schedules.png] [--total-steps 1000]
"""

import argparse
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from keras_optkit.schedules import list_schedules  # noqa: E402
from keras_optkit.viz import plot_schedule  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/schedules.png")
    parser.add_argument("--total-steps", type=int, default=1000)
    args = parser.parse_args()

    entries = list_schedules()
    columns = 4
    rows = math.ceil(len(entries) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.8 * rows), squeeze=False)
    for axis, entry in zip(axes.flat, entries, strict=False):
        plot_schedule({entry.name: entry.build()}, args.total_steps, ax=axis)
        arguments = ", ".join(f"{key}={value}" for key, value in entry.example.items())
        axis.set_title(f"{entry.name}\n({arguments})", fontsize=7)
        axis.get_legend().remove()
        axis.tick_params(labelsize=7)
        axis.xaxis.label.set_size(7)
        axis.yaxis.label.set_size(7)
    for axis in list(axes.flat)[len(entries):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
