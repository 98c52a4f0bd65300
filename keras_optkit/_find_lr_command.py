"""`keras-optkit find-lr`: the learning-rate range test on a CSV file or on scikit-learn's digits."""

from __future__ import annotations

import csv
import os
from typing import Any

import keras
import numpy as np

from keras_optkit._registry import get_entry


def load_csv(path: str, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Numeric features and the label column of a CSV file with a header row."""
    if not os.path.isfile(path):
        raise ValueError(f"--csv: no such file. Received: {path!r}")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise ValueError(f"--csv: the file needs a header row and at least one data row. Received: {path!r}")
    header = [name.strip() for name in rows[0]]
    if label not in header:
        raise ValueError(f"--label: no column {label!r} in {path}. Columns: {', '.join(header)}")
    try:
        table = np.array([[float(value) for value in row] for row in rows[1:] if row], dtype="float64")
    except ValueError as error:
        raise ValueError(f"--csv: every value must be a number ({error}). Received: {path!r}") from None
    if not np.all(np.isfinite(table)):
        rows_with_gaps = sorted({int(r) + 2 for r in np.nonzero(~np.isfinite(table))[0]})[:5]
        raise ValueError(f"--csv: missing or non-finite values (nan, inf) on lines {rows_with_gaps}. Received: {path!r}")
    if table.shape[1] != len(header):
        raise ValueError(f"--csv: rows have {table.shape[1]} values but the header names {len(header)} columns")
    column = header.index(label)
    features = np.delete(table, column, axis=1)
    return features, table[:, column], [name for name in header if name != label]


def load_digits_features() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype("float64"), digits.target.astype("float64")


def infer_task(labels: np.ndarray, task: str) -> str:
    """``classification`` for integer labels 0..k-1 with at most 100 classes, ``regression`` otherwise."""
    if task != "auto":
        return task
    integral = np.all(labels == np.round(labels)) and labels.min() >= 0
    return "classification" if integral and len(np.unique(labels)) <= 100 else "regression"


def build_model(features: int, labels: np.ndarray, task: str, hidden: int, optimizer: str, seed: int) -> Any:
    """An MLP with one hidden layer, compiled for ``task`` with a registered or Keras optimizer by name."""
    keras.utils.set_random_seed(seed)
    if task == "classification":
        classes = int(labels.max()) + 1
        head, loss = keras.layers.Dense(classes), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        head, loss = keras.layers.Dense(1), "mean_squared_error"
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(hidden, activation="relu"), head])
    try:
        built = get_entry("optimizer", optimizer).build()
    except (KeyError, ValueError):
        try:
            built = keras.optimizers.get(optimizer)
        except ValueError:
            raise ValueError(
                f"--optimizer: not a registered or Keras optimizer (see `keras-optkit list`). Received: {optimizer!r}"
            ) from None
    model.compile(optimizer=built, loss=loss)
    return model


def standardize(features: np.ndarray) -> np.ndarray:
    scale = features.std(axis=0)
    return ((features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)).astype("float32")
