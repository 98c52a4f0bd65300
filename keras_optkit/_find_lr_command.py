"""`keras-optkit find-lr`: the learning-rate range test on a CSV file or on scikit-learn's digits.

The file and data checks need only NumPy, so the command runs them before Keras (and its backend) is imported:
a bad argument is refused in a fraction of a second. Keras is imported by the functions that build the model.
"""

from __future__ import annotations

import csv
import os
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


def load_csv(path: str, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Numeric features and the label column of a CSV file with a header row.

    Blank lines are skipped; every error names the option and, for bad values, the line numbers of the file.
    """
    if not os.path.isfile(path):
        raise ValueError(f"--csv: no such file. Received: {path!r}")
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            # (line number in the file, cells) of every record but blank lines (",," is a row of missing values)
            records = [(reader.line_num, row) for row in reader if len(row) > 1 or (row and row[0].strip())]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"--csv: cannot read the file ({error}). Received: {path!r}") from None
    if len(records) < 2:
        raise ValueError(f"--csv: the file needs a header row and at least one data row. Received: {path!r}")
    header = [name.strip() for name in records[0][1]]
    if label not in header:
        raise ValueError(f"--label: no column {label!r} in {path}. Columns: {', '.join(header)}")
    if header.count(label) > 1:
        raise ValueError(f"--label: the header names {label!r} {header.count(label)} times. Received: {path!r}")
    if len(header) < 2:
        raise ValueError(
            f"--csv: no feature columns: the only column is the label {label!r}; the model needs at least one "
            f"column to predict it from. Received: {path!r}"
        )
    lines = [line for line, _ in records[1:]]
    for line, row in records[1:]:
        if len(row) != len(header):
            raise ValueError(
                f"--csv: line {line} has {len(row)} values but the header names {len(header)} columns. "
                f"Received: {path!r}"
            )
    try:
        table = np.array([[float(value) for value in row] for _, row in records[1:]], dtype="float64")
    except ValueError as error:
        bad = next(line for line, row in records[1:] if not _all_numbers(row))
        raise ValueError(
            f"--csv: every value must be a number ({error}, line {bad}). Received: {path!r}"
        ) from None
    if not np.all(np.isfinite(table)):
        rows_with_gaps = [lines[r] for r in sorted(set(np.nonzero(~np.isfinite(table))[0]))][:5]
        raise ValueError(f"--csv: missing or non-finite values (nan, inf) on lines {rows_with_gaps}. Received: {path!r}")
    # The model trains in float32: a larger value would become inf there (and so would the loss).
    largest = float(np.finfo("float32").max)
    if np.any(np.abs(table) > largest):
        rows_too_large = [lines[r] for r in sorted(set(np.nonzero(np.abs(table) > largest)[0]))][:5]
        raise ValueError(
            f"--csv: values too large for float32 (magnitude above {largest:.4g}) on lines {rows_too_large}: "
            f"rescale them. Received: {path!r}"
        )
    column = header.index(label)
    features = np.delete(table, column, axis=1)
    return features, table[:, column], [name for name in header if name != label]


def _all_numbers(row: list[str]) -> bool:
    try:
        [float(value) for value in row]
    except ValueError:
        return False
    return True


def load_digits_features() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype("float64"), digits.target.astype("float64")


def infer_task(labels: np.ndarray, task: str) -> str:
    """``classification`` for integer labels 0..k-1 with at most 100 classes, ``regression`` otherwise."""
    if task != "auto":
        return task
    integral = np.all(labels == np.round(labels)) and labels.min() >= 0
    # The classifier has labels.max() + 1 outputs: 0..k-1 with k <= 100, not any non-negative integers.
    return "classification" if integral and labels.max() < 100 else "regression"


def build_model(
    features: int, labels: np.ndarray, task: str, hidden: int, optimizer: str, seed: int
) -> keras.Model:
    """An MLP with one hidden layer, compiled for ``task`` with a registered or Keras optimizer by name."""
    import keras

    keras.utils.set_random_seed(seed)
    if task == "classification":
        classes = int(labels.max()) + 1
        head, loss = keras.layers.Dense(classes), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        head, loss = keras.layers.Dense(1), "mean_squared_error"
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(hidden, activation="relu"), head])
    model.compile(optimizer=resolve_optimizer(optimizer), loss=loss)
    return model


#: Keras optimizers that wrap others and need constructor arguments: not buildable from a name alone.
KERAS_WRAPPERS = ("LossScaleOptimizer", "MultiOptimizer")


def keras_optimizer_classes() -> dict[str, type[keras.optimizers.Optimizer]]:
    """Keras's optimizers that can be built from a name alone: class name -> class."""
    import keras

    classes = {}
    for name in dir(keras.optimizers):
        value = getattr(keras.optimizers, name)
        if (
            isinstance(value, type) and issubclass(value, keras.optimizers.Optimizer)
            and value is not keras.optimizers.Optimizer and name not in KERAS_WRAPPERS
        ):
            classes[name] = value
    return classes


def resolve_optimizer(name: str) -> keras.optimizers.Optimizer:
    """A fresh optimizer named ``name``: a registered one (its example arguments) or Keras's (its defaults).

    Names match case-insensitively, without ``_`` or ``-``. Keras's classes are looked up directly, not through
    ``keras.optimizers.get``, which misses some (``Lamb`` in Keras 3.15) and fails with a KeyError on wrappers.
    """
    from keras_optkit._registry import get_entry, list_entries, normalized_name

    try:
        return get_entry("optimizer", name).build()
    except ValueError:
        pass
    wanted = normalized_name(name)
    keras_classes = keras_optimizer_classes()
    for class_name, cls in keras_classes.items():
        if class_name.lower() == wanted:
            return cls()
    registered = [entry.name for entry in list_entries("optimizer")]
    wrapper = next((w for w in KERAS_WRAPPERS if w.lower() == wanted), None)
    reason = (
        f"{wrapper} wraps other optimizers and needs arguments, which the command cannot give"
        if wrapper else "not a registered or Keras optimizer"
    )
    raise ValueError(
        f"--optimizer: {reason}. Received: {name!r}. Accepted: {', '.join(registered)} (see `keras-optkit "
        f"list`); Keras's {', '.join(sorted(keras_classes))}"
    )


def check_output_file(option: str, path: str) -> None:
    """Refuses, before any training, a file path the command could not write (its folder missing, a file, or
    not writable)."""
    if not path:
        return
    if os.path.isdir(path):
        raise ValueError(f"{option}: this is a folder; give a file path. Received: {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{option}: the folder {folder!r} does not exist or is not a folder. Received: {path!r}")
    check_writable_folder(option, folder, path)


def check_writable_folder(option: str, folder: str, received: str) -> None:
    """Refuses a folder where no file can be created (tried for real: permission bits do not bind root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(
            f"{option}: cannot write in {folder!r} ({error.strerror or error}). Received: {received!r}"
        ) from None


def check_range_test(result: Any) -> None:
    """Refuses a range test that measured no usable loss, instead of printing nan suggestions."""
    losses = np.asarray(result.losses, dtype="float64")
    if not np.isfinite(losses).any():
        raise ValueError(
            f"the range test's loss was non-finite (inf or nan) at every one of its {len(losses)} step(s): the "
            "data overflow in the loss (a label column with large values: rescale it) or --start-lr is far too "
            "high. No rate to suggest"
        )
    if not all(np.isfinite(rate) for rate in result.suggestions.values()):
        raise ValueError(
            f"the range test measured {int(np.isfinite(losses).sum())} finite loss(es) in {len(losses)} step(s), "
            "too few to suggest a rate: raise --num-steps, or lower --start-lr if the loss diverged at once"
        )


def standardize(features: np.ndarray) -> np.ndarray:
    scale = features.std(axis=0)
    return ((features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)).astype("float32")
