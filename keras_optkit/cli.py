"""The `keras-optkit` command."""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import sys
from collections.abc import Sequence
from typing import Any

_DESCRIPTION = """\
keras-optkit: optimizers, learning-rate schedules, regularizers, callbacks and Keras Tuner wrappers for Keras 3.

Commands:
  demo            the learning-rate range test on scikit-learn's digits, then OneCycle at the suggested rate
                  against Keras's Adam(1e-3) for the same epochs: a side-by-side table, and PNGs of the
                  schedule, the range test and both training curves in --out
  list            every registered optimizer, schedule, regularizer and callback, with one line each
  plot-schedule   plot any registered schedule
  find-lr         the learning-rate range test on your CSV file (or on digits): suggested rates and a plot

Examples:
  keras-optkit demo --out demo_out --epochs 8
  keras-optkit list
  keras-optkit plot-schedule OneCycle --total-steps 1000 --param max_learning_rate=0.1 -o lr.png
  keras-optkit find-lr --csv data.csv --label target --optimizer RAdam -o lr_finder.png

`keras-optkit COMMAND --help` describes each command's options. The backend is Keras's: set KERAS_BACKEND
(tensorflow, jax) before running.
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1. Received: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1. Received: {text!r}")
    return value


def _command_demo(args: argparse.Namespace) -> int:
    from keras_optkit._find_lr_command import check_writable_folder
    from keras_optkit.demo import run_demo

    # The pictures are written after training: a folder that cannot take them would fail only then.
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out: not a folder. Received: --out {args.out!r}")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"--out: cannot create the folder ({error.strerror or error}). Received: --out {args.out!r}"
        ) from None
    check_writable_folder("--out", args.out, args.out)
    run_demo(out=args.out, epochs=args.epochs, seed=args.seed, finder_steps=args.finder_steps, verbose=1)
    return 0


def _command_find_lr(args: argparse.Namespace) -> int:
    from keras_optkit import _find_lr_command as command
    from keras_optkit.callbacks import find_lr

    if args.csv is None and args.label is not None:
        raise ValueError(f"--label needs --csv. Received: --label {args.label!r}")
    if args.csv is not None and args.label is None:
        raise ValueError("--csv needs --label, the name of the column to predict")
    # Checked before training: the picture is written at the end.
    command.check_output_file("--output", args.output)
    if args.csv is None:
        features, labels = command.load_digits_features()
        source = "scikit-learn's digits"
    else:
        features, labels, _ = command.load_csv(args.csv, args.label)
        source = args.csv
    task = command.infer_task(labels, args.task)
    model = command.build_model(features.shape[1], labels, task, args.hidden, args.optimizer, args.seed)
    print(
        f"Range test on {source}: {len(labels)} rows, {features.shape[1]} standardized features, {task}, an MLP "
        f"with {args.hidden} hidden units, {type(model.optimizer).__name__}, {args.num_steps} steps from "
        f"{args.start_lr:g} to {args.end_lr:g}."
    )
    targets = labels.astype("int32" if task == "classification" else "float32")
    result = find_lr(
        model, command.standardize(features), targets, batch_size=args.batch_size, start_lr=args.start_lr,
        end_lr=args.end_lr, num_steps=args.num_steps, verbose=1,
    )
    command.check_range_test(result)
    print(result.summary())
    if args.output:
        axes = result.plot()
        axes.set_title(f"Learning-rate range test: {os.path.basename(source)}")
        axes.figure.tight_layout()
        axes.figure.savefig(args.output, dpi=120)
        print(f"Wrote {args.output}")
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
    from keras_optkit._find_lr_command import check_output_file
    from keras_optkit._registry import get_entry
    from keras_optkit.viz import plot_schedule

    check_output_file("--output", args.output)
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

    demo = commands.add_parser(
        "demo",
        help="range test on digits, then OneCycle at the suggested rate vs Adam(1e-3)",
        description="Runs the learning-rate range test on scikit-learn's digits (no download), then trains the "
        "same MLP from the same initial weights twice for the same epochs: Adam under OneCycle peaking at the "
        "test's 'minimum' suggestion (lowest-loss rate / 10), and Adam at a constant 1e-3. Prints both runs side by side and writes "
        "schedule.png, lr_finder.png and training_curves.png into --out.",
    )
    demo.add_argument("--out", default="keras_optkit_demo", help="folder for the PNGs (default: %(default)s)")
    demo.add_argument("--epochs", type=_positive_int, default=8, help="epochs of each run (default: %(default)s)")
    demo.add_argument("--finder-steps", type=_positive_int, default=100,
                      help="steps of the range test (default: %(default)s)")
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

    finder = commands.add_parser(
        "find-lr",
        help="learning-rate range test on a CSV file or on digits",
        description="Trains a one-hidden-layer MLP on the data while the learning rate grows exponentially from "
        "--start-lr to --end-lr, stops when the smoothed loss diverges, and prints the suggested rates "
        "(minimum / 10, steepest descent, valley). The CSV file needs a header row and numbers only (blank lines "
        "are skipped; values must fit in float32); features are standardized. Integer labels 0..k-1 (k <= 100) "
        "make a classification task, anything else a regression.",
    )
    finder.add_argument("--csv", help="CSV file with a header row (default: scikit-learn's digits)")
    finder.add_argument("--label", help="name of the column to predict (with --csv)")
    finder.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                        help="(default: %(default)s: from the label column)")
    finder.add_argument("--optimizer", default="adam",
                        help="a registered optimizer (e.g. RAdam) or a Keras one (e.g. Lion); not the "
                        "wrappers MultiOptimizer and LossScaleOptimizer (default: %(default)s)")
    finder.add_argument("--hidden", type=_positive_int, default=64, help="hidden units (default: %(default)s)")
    finder.add_argument("--batch-size", type=_positive_int, default=32, help="(default: %(default)s)")
    finder.add_argument("--start-lr", type=float, default=1e-7, help="(default: %(default)s)")
    finder.add_argument("--end-lr", type=float, default=10.0, help="(default: %(default)s)")
    finder.add_argument("--num-steps", type=_positive_int, default=100, help="(default: %(default)s)")
    finder.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    finder.add_argument("-o", "--output", default="lr_finder.png",
                        help="PNG of the curve; empty for none (default: %(default)s)")
    finder.set_defaults(run=_command_find_lr)
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
