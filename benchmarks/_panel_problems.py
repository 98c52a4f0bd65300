"""The problems of the learning-rate panel (benchmarks/lr_panel.py): data, model, optimizer, batch size.

Every data set is scikit-learn's bundled data or generated here from a fixed seed: nothing is downloaded. Each
problem is small on purpose (a few thousand parameters to a few tens of thousands, a few hundred steps), so the
whole panel runs in minutes on two CPU cores.

Half of the problems are marked ``design`` (the suggestion rules are fitted on them), the other half ``report``
(the rules are only measured there). The halves mix model kinds, tasks, optimizers and batch sizes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Problem:
    """One panel problem.

    Attributes:
        name: Short identifier.
        half: ``"design"`` or ``"report"``.
        task: ``"classification"`` (score: validation accuracy in %) or ``"regression"`` (score: 100 x the
            validation R^2, floored at 0).
        model: Kind of model, for the tables.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9), ``"radam"`` or ``"adabelief"``.
        batch_size: Batch size of the training runs and of the range test.
        steps: Optimizer steps of every training run.
        data: ``data(seed) -> (x_train, y_train, x_val, y_val)``.
        build: ``build(input_shape, outputs) -> keras.Model`` (uncompiled).
        grid_start: log10 of the lowest rate of the ground-truth grid (None: the optimizer family's default).
    """

    name: str
    half: str
    task: str
    model: str
    optimizer: str
    batch_size: int
    steps: int
    data: Callable[[], tuple[Any, Any, Any, Any]]
    build: Callable[[tuple[int, ...], int], keras.Model]
    grid_start: float | None = None

    @property
    def outputs(self) -> int:
        return 1 if self.task == "regression" else int(self.data()[1].max()) + 1


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """The panel's optimizer ``name`` at a constant ``learning_rate``."""
    from keras_optkit.optimizers import AdaBelief, RAdam

    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=1e-2)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    if name == "radam":
        return RAdam(learning_rate)
    if name == "adabelief":
        return AdaBelief(learning_rate)
    raise ValueError(f"Unknown panel optimizer. Received: {name!r}")


# ---- data ---------------------------------------------------------------------------------------------------


def _split(x: np.ndarray, y: np.ndarray, validation_fraction: float = 0.25, seed: int = 0):
    order = np.random.default_rng(seed).permutation(len(x))
    count = int(round(len(x) * validation_fraction))
    val, train = order[:count], order[count:]
    return x[train], y[train], x[val], y[val]


def _standardize(x_train: np.ndarray, x_val: np.ndarray):
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    return ((x_train - mean) / std).astype("float32"), ((x_val - mean) / std).astype("float32")


def digits_flat():
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = (data.data / 16.0).astype("float32"), data.target.astype("int32")
    return _split(x, y)


def digits_images():
    x_train, y_train, x_val, y_val = digits_flat()
    return x_train.reshape(-1, 8, 8, 1), y_train, x_val.reshape(-1, 8, 8, 1), y_val


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x_train, y_train, x_val, y_val = _split(data.data, data.target.astype("int32"))
    x_train, x_val = _standardize(x_train, x_val)
    return x_train, y_train, x_val, y_val


def diabetes():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x_train, y_train, x_val, y_val = _split(data.data, data.target)
    x_train, x_val = _standardize(x_train, x_val)
    mean, std = y_train.mean(), y_train.std()
    return x_train, ((y_train - mean) / std).astype("float32"), x_val, ((y_val - mean) / std).astype("float32")


def friedman():
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=2000, n_features=10, noise=0.5, random_state=0)
    x_train, y_train, x_val, y_val = _split(x, y)
    x_train, x_val = _standardize(x_train, x_val)
    mean, std = y_train.mean(), y_train.std()
    return x_train, ((y_train - mean) / std).astype("float32"), x_val, ((y_val - mean) / std).astype("float32")


def blobs_classification():
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=3000, n_features=20, n_informative=10, n_redundant=4, n_classes=4, n_clusters_per_class=2,
        class_sep=1.0, random_state=0,
    )
    x_train, y_train, x_val, y_val = _split(x, y.astype("int32"))
    x_train, x_val = _standardize(x_train, x_val)
    return x_train, y_train, x_val, y_val


def waveforms(length: int = 64, count: int = 2400, seed: int = 1):
    """Noisy 1-D signals, four classes: sine, square, sawtooth and triangle waves of random frequency and
    phase."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length, endpoint=False)
    labels = rng.integers(0, 4, size=count)
    frequency = rng.uniform(2.0, 6.0, size=(count, 1))
    phase = rng.uniform(0.0, 1.0, size=(count, 1))
    cycle = (frequency * t[None, :] + phase) % 1.0
    shapes = np.stack(
        [np.sin(2 * np.pi * cycle), np.sign(np.sin(2 * np.pi * cycle)), 2 * cycle - 1, 1 - 4 * np.abs(cycle - 0.5)]
    )
    signal = shapes[labels, np.arange(count)] + rng.normal(0.0, 0.6, size=(count, length))
    x = signal[..., None].astype("float32")
    return _split(x, labels.astype("int32"))


def chirp_regression(length: int = 48, count: int = 2400, seed: int = 2):
    """Noisy 1-D signals whose target is their (random) frequency: a 1-D regression."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length, endpoint=False)
    frequency = rng.uniform(1.0, 8.0, size=(count, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, 1))
    x = np.sin(2 * np.pi * frequency * t[None, :] + phase) + rng.normal(0.0, 0.5, size=(count, length))
    y = (frequency[:, 0] - 4.5) / 2.0
    return _split(x[..., None].astype("float32"), y.astype("float32"))


def counting_sequences(length: int = 20, count: int = 2400, seed: int = 3):
    """Sequences of 0/1 values with noise; the class is whether more than half of the values are 1, read from
    left to right (a task a recurrent model must integrate)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(count, length))
    x = bits + rng.normal(0.0, 0.3, size=(count, length))
    y = (bits.sum(axis=1) * 2 > length).astype("int32")
    return _split(x[..., None].astype("float32"), y)


def digits_rows():
    """Digits as sequences of 8 rows of 8 pixels, each row with a one-hot of its position appended."""
    x_train, y_train, x_val, y_val = digits_flat()

    def rows(x: np.ndarray) -> np.ndarray:
        positions = np.broadcast_to(np.eye(8, dtype="float32"), (len(x), 8, 8))
        return np.concatenate([x.reshape(-1, 8, 8), positions], axis=-1)

    return rows(x_train), y_train, rows(x_val), y_val


# ---- models ---------------------------------------------------------------------------------------------------


def _head(x: Any, outputs: int) -> Any:
    return keras.layers.Dense(outputs)(x)


def mlp(widths: tuple[int, ...]) -> Callable[[tuple[int, ...], int], keras.Model]:
    def build(shape: tuple[int, ...], outputs: int) -> keras.Model:
        inputs = keras.Input(shape)
        x = inputs
        for width in widths:
            x = keras.layers.Dense(width, activation="relu")(x)
        return keras.Model(inputs, _head(x, outputs))

    return build


def cnn2d(batch_norm: bool, widths: tuple[int, ...] = (16, 32)) -> Callable[[tuple[int, ...], int], keras.Model]:
    def build(shape: tuple[int, ...], outputs: int) -> keras.Model:
        inputs = keras.Input(shape)
        x = inputs
        for filters in widths:
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation("relu")(x)
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, _head(x, outputs))

    return build


def cnn1d(batch_norm: bool, widths: tuple[int, ...] = (8, 16)) -> Callable[[tuple[int, ...], int], keras.Model]:
    def build(shape: tuple[int, ...], outputs: int) -> keras.Model:
        inputs = keras.Input(shape)
        x = inputs
        for filters in widths:
            x = keras.layers.Conv1D(filters, 5, padding="same", use_bias=not batch_norm)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation("relu")(x)
            x = keras.layers.MaxPooling1D(2)(x)
        x = keras.layers.GlobalAveragePooling1D()(x)
        return keras.Model(inputs, _head(x, outputs))

    return build


def gru(units: int) -> Callable[[tuple[int, ...], int], keras.Model]:
    def build(shape: tuple[int, ...], outputs: int) -> keras.Model:
        inputs = keras.Input(shape)
        x = keras.layers.GRU(units)(inputs)
        return keras.Model(inputs, _head(x, outputs))

    return build


def attention(width: int) -> Callable[[tuple[int, ...], int], keras.Model]:
    def build(shape: tuple[int, ...], outputs: int) -> keras.Model:
        inputs = keras.Input(shape)
        x = keras.layers.Dense(width)(inputs)
        attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=width // 2)(x, x)
        x = keras.layers.LayerNormalization()(x + attended)
        x = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(width, activation="relu")(x))
        return keras.Model(inputs, _head(x, outputs))

    return build


PROBLEMS = (
    Problem("digits_mlp", "design", "classification", "MLP 64-128-10", "adam", 64, 300, digits_flat,
            mlp((128,))),
    Problem("digits_cnn2d_bn", "report", "classification", "2-D CNN 16-32 + BatchNorm", "sgd", 32, 300, digits_images,
            cnn2d(True)),
    Problem("digits_cnn2d", "design", "classification", "2-D CNN 8-16", "adamw", 48, 200, digits_images,
            cnn2d(False, (8, 16))),
    Problem("digits_mlp_sgd", "report", "classification", "MLP 64-64-64-10", "sgd", 16, 300, digits_flat,
            mlp((64, 64))),
    Problem("cancer_mlp", "design", "classification", "MLP 30-32-2", "sgd", 16, 200, breast_cancer,
            mlp((32,))),
    Problem("blobs_mlp", "report", "classification", "MLP 20-64-64-4", "adabelief", 256, 300,
            blobs_classification, mlp((64, 64))),
    Problem("waves_cnn1d", "design", "classification", "1-D CNN 8-16", "adam", 32, 250, waveforms,
            cnn1d(False)),
    Problem("waves_cnn1d_bn", "report", "classification", "1-D CNN 8-16 + BatchNorm", "radam", 32, 250,
            waveforms, cnn1d(True)),
    # Its best rate lay at the top of the default grid (1e-4 .. 3): the grid starts a decade higher.
    Problem("counting_gru", "design", "classification", "GRU 24", "radam", 64, 300, counting_sequences,
            gru(24), grid_start=-3.0),
    Problem("digits_attention", "report", "classification", "attention block on rows", "adamw", 64, 300,
            digits_rows, attention(32)),
    Problem("friedman_mlp", "design", "regression", "MLP 10-64-64-1", "adabelief", 128, 300, friedman,
            mlp((64, 64))),
    Problem("diabetes_mlp", "report", "regression", "MLP 10-32-1", "adam", 32, 200, diabetes, mlp((32,))),
    Problem("chirp_cnn1d_bn", "design", "regression", "1-D CNN 8-16 + BatchNorm", "sgd", 32, 250,
            chirp_regression, cnn1d(True)),
    Problem("chirp_cnn1d", "report", "regression", "1-D CNN 8-16", "adamw", 24, 250, chirp_regression,
            cnn1d(False)),
)

BY_NAME = {problem.name: problem for problem in PROBLEMS}
