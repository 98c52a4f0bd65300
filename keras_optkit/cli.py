"""The `keras-optkit` command.

Only the standard library is imported to parse the arguments: ``--help``, ``--version`` and a bad argument answer
at once, without Keras or its backend (the package skips its own eager imports when this command is the program,
see ``_launch.py``). Each subcommand checks what it can without Keras (files, folders, CSV contents), then starts
Keras quietly: unless ``TF_CPP_MIN_LOG_LEVEL`` is set, TensorFlow's start-up log lines (oneDNN, CUDA drivers,
CPU instructions) are dropped, and every other line written while Keras starts is shown.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

_DESCRIPTION = """\
keras-optkit: optimizers, learning-rate schedules, regularizers, callbacks and Keras Tuner wrappers for Keras 3.

Commands:
  demo            the learning-rate range test on scikit-learn's digits, then OneCycle at the suggested rate
                  against Keras's Adam(1e-3) for the same epochs: a side-by-side table, and PNGs of the
                  schedule, the range test and both training curves in --out
  list            every registered optimizer, schedule, regularizer and callback, with one line each
  plot-schedule   plot a registered schedule or one of Keras's (CosineDecay, ExponentialDecay, ...)
  find-lr         the learning-rate range test on your CSV file (or on digits): suggested rates and a plot

Examples:
  keras-optkit demo --out demo_out --epochs 8
  keras-optkit list
  keras-optkit plot-schedule OneCycle --total-steps 1000 --param max_learning_rate=0.1 -o lr.png
  keras-optkit plot-schedule CosineDecay --param warmup_steps=100 --param warmup_target=0.2 -o cosine.png
  keras-optkit find-lr --csv data.csv --label target --optimizer RAdam -o lr_finder.png

`keras-optkit COMMAND --help` describes each command's options. The backend is Keras's: set KERAS_BACKEND
(tensorflow, jax or torch) before running. TensorFlow's start-up log lines are hidden unless TF_CPP_MIN_LOG_LEVEL
is set.
"""

# What TensorFlow (and XLA) print to the process's stderr while they load and find their devices: absl's
# pre-initialization notice, glog-style lines ("I0000 00:00:1796276211.244166    7455 port.cc:153] ...", the CUDA
# driver error on a machine without a GPU included) and the CPU-instructions notice's second line.
_STARTUP_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] .*"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.?"
)


class CommandError(Exception):
    """An error the command reports in one line (exit status 2) rather than as a traceback."""


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


def version_text() -> str:
    """What ``--version`` prints: this package's version, Keras's, the backend Keras will use, Python's (read
    from the installed packages' metadata: nothing is imported)."""
    from importlib import metadata

    from keras_optkit import __version__
    from keras_optkit._backend_check import selected_backend

    try:
        keras_version = metadata.version("keras")
    except metadata.PackageNotFoundError:
        keras_version = "not installed"
    backend, source = selected_backend()
    return (
        f"keras-optkit {__version__} (Keras {keras_version}, backend {backend} from {source}, "
        f"Python {platform.python_version()})"
    )


class _VersionAction(argparse.Action):
    """``--version``, computed only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


@contextlib.contextmanager
def _startup_lines_dropped() -> Iterator[None]:
    """Sends what is written to the stderr file descriptor (C++ libraries write there directly) to a temporary
    file, then writes back every line that is not a TensorFlow start-up line; everything if the block failed."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr descriptor: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            kept = lines if failed else [line for line in lines if not _STARTUP_LINE.fullmatch(line.rstrip("\r\n"))]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def start_keras() -> None:
    """Imports the whole package (and so Keras and its backend), quietly unless ``TF_CPP_MIN_LOG_LEVEL`` is set.

    On TensorFlow the devices are listed inside the quiet block too: that is when TensorFlow looks for CUDA and
    logs its driver error on a machine without a GPU.

    Raises:
        CommandError: The selected backend is not installed (the message names the extra that installs it).
    """
    from keras_optkit._backend_check import check_backend_installed

    try:
        check_backend_installed()
    except ImportError as error:
        raise CommandError(str(error)) from None
    quiet = "keras" not in sys.modules and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TensorFlow's own Python and C++ INFO / WARNING logs
    with _startup_lines_dropped() if quiet else contextlib.nullcontext():
        import keras

        import keras_optkit

        # In the command's mode the package imported nothing: reading each public name imports it.
        for name in keras_optkit.__all__:
            getattr(keras_optkit, name)
        if quiet and keras.backend.backend() == "tensorflow":
            keras.distribution.list_devices()


def _check_output_folder(option: str, folder: str) -> None:
    from keras_optkit._find_lr_command import check_writable_folder

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{option}: not a folder. Received: {option} {folder!r}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"{option}: cannot create the folder ({error.strerror or error}). Received: {option} {folder!r}"
        ) from None
    check_writable_folder(option, folder, folder)


def _command_demo(args: argparse.Namespace) -> int:
    # The pictures are written after training: a folder that cannot take them would fail only then.
    _check_output_folder("--out", args.out)
    start_keras()
    from keras_optkit.demo import run_demo

    run_demo(out=args.out, epochs=args.epochs, seed=args.seed, finder_steps=args.finder_steps, verbose=1)
    return 0


def _command_find_lr(args: argparse.Namespace) -> int:
    from keras_optkit import _find_lr_command as command

    if args.csv is None and args.label is not None:
        raise ValueError(f"--label needs --csv. Received: --label {args.label!r}")
    if args.csv is not None and args.label is None:
        raise ValueError("--csv needs --label, the name of the column to predict")
    # Checked before training: the picture is written at the end.
    command.check_output_file("--output", args.output)
    if args.csv is not None:
        features, labels, _ = command.load_csv(args.csv, args.label)
        source = args.csv
    start_keras()
    from keras_optkit.callbacks import find_lr

    if args.csv is None:
        features, labels = command.load_digits_features()
        source = "scikit-learn's digits"
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
    start_keras()
    from keras_optkit._registry import KINDS, list_entries

    for kind in KINDS:
        entries = list_entries(kind)
        print(f"{kind}s ({len(entries)}):")
        for entry in entries:
            print(f"  {entry.name:<30} {entry.description}")
        if not entries:
            print("  (none yet)")
    return 0


#: Keras's own schedules that `plot-schedule` builds, with arguments that show their shape over ``total_steps``
#: steps (each may be overridden with --param).
KERAS_SCHEDULE_EXAMPLES: dict[str, Callable[[int], dict[str, Any]]] = {
    "CosineDecay": lambda total: {"initial_learning_rate": 0.1, "decay_steps": total},
    "CosineDecayRestarts": lambda total: {"initial_learning_rate": 0.1, "first_decay_steps": max(1, total // 4)},
    "ExponentialDecay": lambda total: {
        "initial_learning_rate": 0.1, "decay_steps": max(1, total // 10), "decay_rate": 0.7,
    },
    "InverseTimeDecay": lambda total: {
        "initial_learning_rate": 0.1, "decay_steps": max(1, total // 10), "decay_rate": 0.5,
    },
    "PiecewiseConstantDecay": lambda total: {
        "boundaries": [total // 2, max(total // 2, 3 * total // 4)], "values": [0.1, 0.01, 0.001],
    },
    "PolynomialDecay": lambda total: {"initial_learning_rate": 0.1, "decay_steps": total},
}


def _schedule_class_and_example(name: str, total_steps: int) -> tuple[str, Any, dict[str, Any]]:
    """``(name, class, example arguments)`` of a registered schedule or of one of Keras's, by name."""
    import keras

    from keras_optkit._registry import get_entry, list_entries, normalized_name

    for kind in ("schedule", "sparsity_schedule"):
        try:
            entry = get_entry(kind, name)
        except ValueError:
            continue
        return entry.name, entry.cls, dict(entry.example)
    for keras_name, example in KERAS_SCHEDULE_EXAMPLES.items():
        if keras_name.lower() == normalized_name(name):
            return keras_name, getattr(keras.optimizers.schedules, keras_name), example(total_steps)
    raise ValueError(
        f"Unknown schedule name. Received: name={name!r}. Known: "
        f"{', '.join(entry.name for entry in list_entries('schedule'))}; Keras's {', '.join(KERAS_SCHEDULE_EXAMPLES)}; "
        f"sparsity schedules {', '.join(entry.name for entry in list_entries('sparsity_schedule'))}"
    )


def _describe(name: str, schedule: Any) -> str:
    """``Name(arg=value, ...)`` from the schedule's config (Keras's schedules have no such repr)."""
    own_repr: Any = type(schedule).__repr__
    if own_repr is not object.__repr__:
        return repr(schedule)
    arguments = ", ".join(f"{key}={value!r}" for key, value in schedule.get_config().items())
    return f"{name}({arguments})"


def _command_plot_schedule(args: argparse.Namespace) -> int:
    from keras_optkit._find_lr_command import check_output_file

    check_output_file("--output", args.output)
    start_keras()
    import numpy as np

    from keras_optkit.schedules import schedule_values
    from keras_optkit.viz import plot_schedule

    name, cls, params = _schedule_class_and_example(args.name, args.total_steps)
    overrides = dict(args.param or [])
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name} has no argument {', '.join(unknown)}. "
            f"Arguments: {', '.join(argument for argument in accepted if argument != 'self')}"
        )
    params.update(overrides)
    if "total_steps" in accepted and "total_steps" not in overrides:
        params["total_steps"] = args.total_steps
    try:
        schedule = cls(**params)
    except (ValueError, TypeError) as error:  # Keras's own messages do not name the schedule
        raise (TypeError if isinstance(error, TypeError) else ValueError)(f"{name}: {error}") from None
    values = schedule_values(schedule, args.total_steps)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{name} gives non-finite rates (inf or nan) at {bad.size} of {args.total_steps} steps, the first at "
            f"step {int(bad[0])}. Received: {_describe(name, schedule)}"
        )
    figure = plot_schedule({name: schedule}, args.total_steps, log=args.log)
    figure.savefig(args.output, dpi=120)
    print(f"Wrote {args.output} ({_describe(name, schedule)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-optkit", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of keras-optkit, Keras and Python and the backend, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="range test on digits, then OneCycle at the suggested rate vs Adam(1e-3)",
        description="Runs the learning-rate range test on scikit-learn's digits (no download), then trains the "
        "same MLP from the same initial weights twice for the same epochs: Adam under OneCycle peaking at the "
        "test's suggest('one_cycle') rate, and Adam at a constant 1e-3. Prints both runs side "
        "by side and writes schedule.png, lr_finder.png and training_curves.png into --out.",
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
        help="plot a registered schedule or one of Keras's",
        description="Builds a schedule from its example arguments updated with --param, and plots it: a "
        "registered one (see `keras-optkit list`; sparsity schedules such as PolynomialDecaySparsity too) or "
        "one of Keras's "
        f"({', '.join(KERAS_SCHEDULE_EXAMPLES)}), whose example arguments span --total-steps. If the schedule "
        "has a `total_steps` argument that --param does not set, it is --total-steps.",
    )
    plot.add_argument("name", help="schedule name, e.g. OneCycle, one_cycle or CosineDecay")
    plot.add_argument("--total-steps", type=_positive_int, default=1000, help="steps to plot (default: %(default)s)")
    plot.add_argument(
        "--param", type=_parse_param, action="append", metavar="NAME=VALUE",
        help="a constructor argument, a Python literal or a string (repeat)",
    )
    plot.add_argument("--log", action="store_true", help="logarithmic rate axis")
    plot.add_argument("-o", "--output", default="schedule.png", help="PNG path (default: %(default)s)")
    plot.set_defaults(run=_command_plot_schedule)

    finder = commands.add_parser(
        "find-lr",
        help="learning-rate range test on a CSV file or on digits",
        description="Trains a one-hidden-layer MLP on the data while the learning rate grows exponentially from "
        "--start-lr to --end-lr, stops when the smoothed loss diverges, and prints the suggested rates "
        "(suggest() for a constant rate and for the peak of OneCycle and of warmup-cosine; fastai's minimum / 10, "
        "steepest descent and valley). The CSV file needs a header row and numbers only (blank lines "
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
    """Runs the command with ``argv`` (``sys.argv[1:]`` by default) and returns its exit status: 0 on success,
    2 for an error it explains in one line (argparse exits with 2 for a bad option too)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args))
    except (ValueError, TypeError, CommandError) as error:
        print(f"keras-optkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
