"""The `keras-optkit demo` job: the learning-rate range test on scikit-learn's digits, then OneCycle at the
suggested rate against Keras's Adam(1e-3), same model, same initial weights, same epochs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit.callbacks import find_lr
from keras_optkit.schedules import OneCycle


@dataclass
class DemoResult:
    """What the demo measured.

    ``rows`` has one dict per epoch: ``epoch``, ``learning_rate`` (OneCycle's rate at the epoch's last step) and
    ``loss`` / ``val_accuracy`` of each run, prefixed ``one_cycle_`` and ``adam_``.
    """

    suggested_learning_rate: float = float("nan")
    lr_finder_summary: str = ""
    rows: list[dict[str, float]] = field(default_factory=list)
    one_cycle_val_accuracy: float = float("nan")
    adam_val_accuracy: float = float("nan")
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
    """A small MLP for the 64-pixel digits (128 ReLU units, softmax).

    Seeds Keras's global random state with ``keras.utils.set_random_seed(seed)``, so every call with the same seed
    gives the same initial weights (inside a keras-tuner search too: pass a different seed per trial to vary them).
    """
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


_LOSS = "sparse_categorical_crossentropy"


def run_demo(
    out: str = "keras_optkit_demo",
    epochs: int = 8,
    batch_size: int = 32,
    seed: int = 0,
    finder_steps: int = 100,
    printer: Any = print,
    verbose: int = 0,
) -> DemoResult:
    """Finds a learning rate with the range test, then trains OneCycle at it against Adam(1e-3).

    Both runs use Adam, the same MLP with the same initial weights and the same epochs; only the learning rate
    differs: OneCycle peaking at the range test's ``suggest("one_cycle")`` (the rate it suggests as the peak of
    a cycle, see :meth:`keras_optkit.callbacks.LRFinderResult.suggest`), or the constant 1e-3 of Keras's
    default. fastai's ``valley`` suggestion is a rate to train at constantly; as the peak of a cycle that spends
    most steps far below it, it trains too little (on digits, 5 seeds: 0.917-0.978 validation accuracy, against
    0.975-0.992 with fastai's ``minimum``, the lowest-loss rate / 10).
    Prints a side-by-side table as the epochs go and writes ``schedule.png``, ``lr_finder.png`` and
    ``training_curves.png`` into ``out`` (when matplotlib is installed).

    Args:
        out: Folder for the pictures.
        epochs: Training epochs of each run.
        batch_size: Batch size of the range test and of both runs.
        seed: Seed of the data split, the initial weights and the shuffling.
        finder_steps: Steps of the range test (1e-7 to 10).
        printer: Where the lines go (``print``, or ``list.append`` to collect them).
        verbose: 1 shows Keras's progress bar during the range test.
    """
    started = time.perf_counter()
    result = DemoResult()
    x_train, y_train, x_val, y_val = load_digits_split(seed)
    steps_per_epoch = -(-len(x_train) // batch_size)

    one_cycle_model = build_digits_model(seed)
    one_cycle_model.compile(keras.optimizers.Adam(1e-3), _LOSS, metrics=["accuracy"])
    printer(
        f"Digits: {len(x_train)} training and {len(x_val)} validation images, an MLP of "
        f"{one_cycle_model.count_params()} parameters, Adam, batch size {batch_size}, {epochs} epochs."
    )
    printer(f"1. Learning-rate range test: {finder_steps} steps from 1e-7 to 10 ...")
    finder = find_lr(
        one_cycle_model, x_train, y_train, batch_size=batch_size, num_steps=finder_steps, verbose=verbose
    )
    result.lr_finder_summary = finder.summary()
    result.suggested_learning_rate = float(finder.suggest("one_cycle"))
    printer(result.lr_finder_summary)

    # The range test restored the weights and the optimizer: OneCycle starts from the same initial weights.
    schedule = OneCycle(max_learning_rate=result.suggested_learning_rate, total_steps=epochs * steps_per_epoch)
    one_cycle_model.compile(keras.optimizers.Adam(schedule), _LOSS, metrics=["accuracy"])
    adam_model = build_digits_model(seed)
    adam_model.compile(keras.optimizers.Adam(1e-3), _LOSS, metrics=["accuracy"])
    printer(
        f"2. OneCycle(max_learning_rate={result.suggested_learning_rate:.3g}) against the constant Adam(1e-3), "
        "epoch by epoch:"
    )
    printer(f"{'':>5}  {'OneCycle at the suggested rate':^36}  {'Adam(1e-3)':^20}")
    printer(f"{'epoch':>5}  {'rate':>10} {'loss':>10} {'val acc':>12}   {'loss':>8} {'val acc':>10}")
    for epoch in range(epochs):
        logs = {}
        for name, model in (("one_cycle", one_cycle_model), ("adam", adam_model)):
            history = model.fit(
                x_train, y_train, validation_data=(x_val, y_val), batch_size=batch_size,
                initial_epoch=epoch, epochs=epoch + 1, verbose=0,
            )
            logs[f"{name}_loss"] = float(history.history["loss"][-1])
            logs[f"{name}_val_accuracy"] = float(history.history["val_accuracy"][-1])
        rate = float(ops.convert_to_numpy(schedule((epoch + 1) * steps_per_epoch - 1)))
        row = {"epoch": epoch + 1, "learning_rate": rate, **logs}
        result.rows.append(row)
        printer(
            f"{row['epoch']:>5}  {rate:>10.2e} {row['one_cycle_loss']:>10.4f} {row['one_cycle_val_accuracy']:>12.4f}"
            f"   {row['adam_loss']:>8.4f} {row['adam_val_accuracy']:>10.4f}"
        )
    result.one_cycle_val_accuracy = result.rows[-1]["one_cycle_val_accuracy"]
    result.adam_val_accuracy = result.rows[-1]["adam_val_accuracy"]
    difference = result.one_cycle_val_accuracy - result.adam_val_accuracy
    verdict = "ahead of" if difference > 0 else ("level with" if difference == 0 else "behind")
    printer(
        f"Final validation accuracy: OneCycle {result.one_cycle_val_accuracy:.4f}, Adam(1e-3) "
        f"{result.adam_val_accuracy:.4f}: OneCycle is {verdict} the constant rate by {abs(difference) * 100:.2f} "
        "points."
    )
    try:
        result.files = _write_pictures(out, finder, schedule, result.rows, steps_per_epoch)
    except ImportError as error:
        printer(f"(no pictures written: {error})")
    result.seconds = time.perf_counter() - started
    for path in result.files:
        printer(f"Wrote {path}")
    printer(f"Done in {result.seconds:.1f} s.")
    return result


def _write_pictures(out: str, finder: Any, schedule: OneCycle, rows: list[dict], steps_per_epoch: int) -> list:
    import matplotlib.pyplot as plt

    from keras_optkit.viz import plot_schedule

    os.makedirs(out, exist_ok=True)
    files = []

    def save(figure: Any, name: str) -> None:
        figure.tight_layout()
        path = os.path.join(out, name)
        figure.savefig(path, dpi=120)
        plt.close(figure)
        files.append(path)

    figure = plot_schedule({"OneCycle at the suggested rate": schedule, "Adam(1e-3)": 1e-3}, schedule.total_steps)
    axes = figure.axes[0]
    for row in rows:
        axes.axvline(row["epoch"] * steps_per_epoch, color="0.85", linewidth=0.8, zorder=0)
    axes.set_title("Learning rate per step (grey lines: epoch ends)")
    save(figure, "schedule.png")

    axes = finder.plot()
    axes.set_title("Learning-rate range test on digits")
    save(axes.figure, "lr_finder.png")

    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [row["epoch"] for row in rows]
    for prefix, label in (("one_cycle", "OneCycle at the suggested rate"), ("adam", "Adam(1e-3)")):
        loss_axes.plot(epochs, [row[f"{prefix}_loss"] for row in rows], marker="o", label=label)
        accuracy_axes.plot(epochs, [row[f"{prefix}_val_accuracy"] for row in rows], marker="o", label=label)
    loss_axes.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss")
    accuracy_axes.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    save(figure, "training_curves.png")
    return files
