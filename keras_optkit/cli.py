"""The `keras-optkit` command."""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from collections.abc import Sequence
from typing import Any

_DESCRIPTION = """\
keras-optkit: optimizers, learning-rate schedules, regularizers and callbacks for Keras 3.

Commands:
  demo            train a small model on scikit-learn's digits with a OneCycle schedule;
                  prints a per-epoch table and writes a plot of the schedule
  list            every registered optimizer, schedule, regularizer and callback
  plot-schedule   plot any registered schedule, e.g.
                    keras-optkit plot-schedule OneCycle --total-steps 1000 --param max_learning_rate=0.1 -o lr.png
"""


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param must look like name=value. Received: {text!r}")
    name, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def _command_demo(args: argparse.Namespace) -> int:
    from keras_optkit.demo import run_demo

    run_demo(out=args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _command_list(args: argparse.Namespace) -> int:
    import keras_optkit  # noqa: F401  (importing the package fills the registry)
    from keras_optkit._registry import KINDS, list_entries

    for kind in KINDS:
        entries = list_entries(kind)
        print(f"{kind}s ({len(entries)}):")
        for entry in entries:
            print(f"  {entry.name:<30} {entry.description}")
        if not entries:
            print("  (none yet)")
    return 0


def _command_plot_schedule(args: argparse.Namespace) -> int:
    import keras_optkit  # noqa: F401
    from keras_optkit._registry import get_entry
    from keras_optkit.viz import plot_schedule

    entry = get_entry("schedule", args.name)
    params = dict(args.param or [])
    accepted = inspect.signature(entry.cls.__init__).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"{entry.name} has no argument {', '.join(unknown)}. "
            f"Arguments: {', '.join(name for name in accepted if name != 'self')}"
        )
    if "total_steps" in accepted and "total_steps" not in params:
        params["total_steps"] = args.total_steps
    schedule = entry.build(**params)
    figure = plot_schedule({entry.name: schedule}, args.total_steps, log=args.log)
    figure.savefig(args.output, dpi=120)
    print(f"Wrote {args.output} ({schedule!r})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-optkit", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="train on digits with a OneCycle schedule and plot it")
    demo.add_argument("--out", default="keras_optkit_demo", help="folder for the PNG (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=12, help="training epochs (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.set_defaults(run=_command_demo)

    listing = commands.add_parser("list", help="list every registered object with its description")
    listing.set_defaults(run=_command_list)

    plot = commands.add_parser(
        "plot-schedule",
        help="plot a registered schedule",
        description="Builds a registered schedule from its example arguments updated with --param, and plots it. "
        "If the schedule has a `total_steps` argument that --param does not set, it is --total-steps.",
    )
    plot.add_argument("name", help="schedule name, e.g. OneCycle or one_cycle (see `keras-optkit list`)")
    plot.add_argument("--total-steps", type=int, default=1000, help="steps to plot (default: %(default)s)")
    plot.add_argument(
        "--param", type=_parse_param, action="append", metavar="NAME=VALUE", help="a constructor argument (repeat)"
    )
    plot.add_argument("--log", action="store_true", help="logarithmic rate axis")
    plot.add_argument("-o", "--output", default="schedule.png", help="PNG path (default: %(default)s)")
    plot.set_defaults(run=_command_plot_schedule)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (ValueError, TypeError) as error:
        print(f"keras-optkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
