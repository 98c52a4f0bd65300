"""The `keras-optkit demo` job: a small model on scikit-learn's digits trained with a schedule from the package."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit.schedules import OneCycle


@dataclass
class DemoResult:
    """What the demo measured: one row per epoch, the final validation accuracy, and the files written."""

    rows: list[dict[str, float]] = field(default_factory=list)
    final_val_accuracy: float = float("nan")
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0


def load_digits_split(seed: int = 0, validation_fraction: float = 0.2) -> tuple[Any, Any, Any, Any]:
    """scikit-learn's bundled 8x8 digits (no download), scaled to [0, 1], split with a fixed seed."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("The demo needs scikit-learn: pip install 'keras-optkit[demo]'") from error
    digits = load_digits()
    features = (digits.data / 16.0).astype("float32")
    labels = digits.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(len(labels) * (1.0 - validation_fraction))
    train, val = order[:cut], order[cut:]
    return features[train], labels[train], features[val], labels[val]


def build_digits_model(seed: int = 0) -> keras.Model:
    """A small MLP for the 64-pixel digits."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


class _EpochTable(keras.callbacks.Callback):
    """Prints one row per epoch: epoch, learning rate at the epoch's last step, loss, validation accuracy."""

    def __init__(self, schedule: Any, result: DemoResult, printer: Any) -> None:
        super().__init__()
        self.schedule = schedule
        self.result = result
        self.printer = printer

    def on_train_begin(self, logs: Any = None) -> None:
        self.printer(f"{'epoch':>5}  {'learning rate':>13}  {'loss':>8}  {'val accuracy':>12}")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        # The rate used by the epoch's last step (iterations has already moved one past it).
        rate = float(ops.convert_to_numpy(self.schedule(self.model.optimizer.iterations - 1)))
        row = {
            "epoch": epoch + 1,
            "learning_rate": rate,
            "loss": float(logs["loss"]),
            "val_accuracy": float(logs["val_accuracy"]),
        }
        self.result.rows.append(row)
        self.printer(
            f"{row['epoch']:>5}  {row['learning_rate']:>13.6f}  {row['loss']:>8.4f}  {row['val_accuracy']:>12.4f}"
        )


def run_demo(
    out: str = "keras_optkit_demo",
    epochs: int = 12,
    batch_size: int = 32,
    max_learning_rate: float = 0.2,
    seed: int = 0,
    printer: Any = print,
) -> DemoResult:
    """Trains the digits MLP with SGD + momentum under a ``OneCycle`` schedule, prints the table, writes the plot."""
    started = time.perf_counter()
    result = DemoResult()
    x_train, y_train, x_val, y_val = load_digits_split(seed)
    steps_per_epoch = -(-len(x_train) // batch_size)
    schedule = OneCycle(max_learning_rate=max_learning_rate, total_steps=epochs * steps_per_epoch)
    model = build_digits_model(seed)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    printer(
        f"Training a {model.count_params()}-parameter MLP on scikit-learn digits "
        f"({len(x_train)} train / {len(x_val)} validation images) for {epochs} epochs with "
        f"SGD(momentum=0.9) and OneCycle(max_learning_rate={max_learning_rate}, total_steps={schedule.total_steps})."
    )
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[_EpochTable(schedule, result, printer)],
    )
    result.final_val_accuracy = result.rows[-1]["val_accuracy"]

    os.makedirs(out, exist_ok=True)
    try:
        from keras_optkit.viz import plot_schedule

        figure = plot_schedule({"OneCycle (demo)": schedule}, schedule.total_steps)
        axes = figure.axes[0]
        for row in result.rows:
            axes.axvline(row["epoch"] * steps_per_epoch, color="0.85", linewidth=0.8, zorder=0)
        axes.set_title("Learning rate per step (grey lines: epoch ends)")
        figure.tight_layout()
        path = os.path.join(out, "schedule.png")
        figure.savefig(path, dpi=120)
        result.files.append(path)
    except ImportError as error:
        printer(f"(no plot written: {error})")
    result.seconds = time.perf_counter() - started
    printer(f"Final validation accuracy: {result.final_val_accuracy:.4f}")
    for path in result.files:
        printer(f"Wrote {path}")
    printer(f"Done in {result.seconds:.1f} s.")
    return result
