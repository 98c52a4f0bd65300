"""Training many copies of one panel problem at once, for benchmarks/lr_panel.py (JAX backend).

A run is (seed, learning-rate sequence): the seed fixes the initial weights and the order of the batches, the
sequence gives the rate of every step (a constant, or a schedule's values times its peak). All runs of a problem
share one compiled program: ``jax.vmap`` over the runs of a chunk, ``jax.lax.scan`` over the steps, with the
model's ``stateless_call`` and the optimizer's ``stateless_apply``, the rate written into the optimizer's
learning-rate variable before each step. This is what ``model.fit`` computes for each run, without one trace and
one Python loop per run, which would make the panel take hours instead of minutes on two cores.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from _panel_problems import Problem, make_optimizer

CHUNK = 48


def schedule_multipliers(schedule: str, steps: int) -> np.ndarray:
    """The rate of each step divided by the peak rate, for the panel's three schedule families."""
    from keras_optkit.schedules import OneCycle, WarmupCosineDecay, schedule_values

    if schedule == "constant":
        return np.ones(steps)
    if schedule == "one_cycle":
        return np.asarray(schedule_values(OneCycle(1.0, total_steps=steps), steps), dtype="float64")
    if schedule == "cosine":
        warmup = WarmupCosineDecay(1.0, total_steps=steps, warmup_steps=steps // 10)
        return np.asarray(schedule_values(warmup, steps), dtype="float64")
    raise ValueError(f"Unknown panel schedule. Received: {schedule!r}")


def batch_indices(seed: int, samples: int, batch_size: int, steps: int) -> np.ndarray:
    """The sample indices of every step's batch: a fresh permutation per epoch, the last partial batch
    dropped."""
    rng = np.random.default_rng(10_000 + seed)
    per_epoch = max(samples // batch_size, 1)
    epochs = math.ceil(steps / per_epoch)
    order = np.concatenate([rng.permutation(samples)[: per_epoch * batch_size] for _ in range(epochs)])
    return order[: steps * batch_size].reshape(steps, batch_size)


def initial_state(problem: Problem, seed: int, data: tuple) -> tuple[keras.Model, Any, list, list]:
    """A freshly built model for ``seed``, its optimizer, and the initial values of its variables."""
    keras.utils.set_random_seed(seed)
    x_train = data[0]
    model = problem.build(tuple(x_train.shape[1:]), problem.outputs)
    optimizer = make_optimizer(problem.optimizer, 1e-3)
    optimizer.build(model.trainable_variables)
    return model, optimizer, [v.value for v in model.trainable_variables], [
        v.value for v in model.non_trainable_variables
    ]


def score(problem: Problem, predictions: np.ndarray, y_val: np.ndarray) -> float:
    """Validation accuracy in %, or 100 x R^2 floored at 0; a non-finite prediction scores 0."""
    if not np.all(np.isfinite(predictions)):
        return 0.0
    if problem.task == "classification":
        return float(100.0 * np.mean(np.argmax(predictions, axis=-1) == y_val))
    residual = np.sum((predictions.reshape(-1) - y_val) ** 2)
    total = np.sum((y_val - y_val.mean()) ** 2)
    return float(max(0.0, 100.0 * (1.0 - residual / total)))


def validation_loss(problem: Problem, predictions: np.ndarray, y_val: np.ndarray) -> float:
    """The validation loss (cross-entropy from logits, or mean squared error); ``inf`` when not finite."""
    if not np.all(np.isfinite(predictions)):
        return math.inf
    if problem.task == "classification":
        logits = predictions - predictions.max(axis=-1, keepdims=True)
        log_probabilities = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        value = -np.mean(log_probabilities[np.arange(len(y_val)), y_val.astype(int)])
    else:
        value = np.mean((predictions.reshape(-1) - y_val) ** 2)
    return float(value) if np.isfinite(value) else math.inf


def train_runs(
    problem: Problem, runs: list[tuple[int, np.ndarray]], steps: int | None = None, measure: str = "score"
) -> list[float]:
    """The validation score (``measure="score"``) or loss (``"loss"``) of each run ``(seed, rate of every
    step)`` of ``problem``, trained for ``steps`` steps (default: the problem's); ``"train_tail"``: the mean
    training loss of the last quarter of the steps (``inf`` when not finite), what ``refine_lr`` scores without
    ``validation_data``."""
    steps = problem.steps if steps is None else steps
    if measure not in ("score", "loss", "train_tail"):
        raise ValueError(f"measure must be 'score', 'loss' or 'train_tail'. Received: measure={measure!r}")
    measured = score if measure == "score" else validation_loss
    tail = max(1, steps // 4)
    import jax
    import jax.numpy as jnp

    if keras.backend.backend() != "jax":
        raise RuntimeError("The panel's training runs need KERAS_BACKEND=jax.")
    data = problem.data()
    x_train, y_train, x_val, y_val = (np.asarray(a) for a in data)
    seeds = sorted({seed for seed, _ in runs})
    states = {seed: initial_state(problem, seed, data) for seed in seeds}
    model, optimizer = states[seeds[0]][0], states[seeds[0]][1]
    rate_index = [i for i, v in enumerate(optimizer.variables) if v is optimizer._learning_rate]
    if len(rate_index) != 1:
        raise RuntimeError(f"Cannot find the learning-rate variable of {optimizer.name}")
    rate_index = rate_index[0]
    optimizer_start = [v.value for v in optimizer.variables]
    if problem.task == "classification":
        loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        loss_object = keras.losses.MeanSquaredError()
    x_train_j, y_train_j = jnp.asarray(x_train), jnp.asarray(y_train)

    def loss_fn(trainable, non_trainable, x, y):
        outputs, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_object(y, outputs), non_trainable

    gradient_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def one_step(state, inputs):
        trainable, non_trainable, optimizer_vars = state
        indices, rate = inputs
        (loss, non_trainable), grads = gradient_fn(
            trainable, non_trainable, x_train_j[indices], y_train_j[indices]
        )
        optimizer_vars = list(optimizer_vars)
        optimizer_vars[rate_index] = rate.astype(optimizer_vars[rate_index].dtype)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return (trainable, non_trainable, optimizer_vars), loss

    def train_one(trainable, non_trainable, optimizer_vars, indices, rates):
        state, losses = jax.lax.scan(one_step, (trainable, non_trainable, optimizer_vars), (indices, rates))
        if measure == "train_tail":
            return jnp.mean(losses[-tail:])
        trainable, non_trainable, _ = state
        outputs, _ = model.stateless_call(trainable, non_trainable, jnp.asarray(x_val), training=False)
        return outputs

    train_chunk = jax.jit(jax.vmap(train_one))
    stack = lambda arrays: [jnp.stack(parts) for parts in zip(*arrays, strict=True)]  # noqa: E731
    scores: list[float] = []
    for start in range(0, len(runs), CHUNK):
        chunk = runs[start : start + CHUNK]
        padded = chunk + [chunk[-1]] * (CHUNK - len(chunk)) if len(runs) > CHUNK else chunk
        trainable = stack([states[seed][2] for seed, _ in padded])
        non_trainable = stack([states[seed][3] for seed, _ in padded])
        optimizer_vars = stack([optimizer_start for _ in padded])
        indices = jnp.asarray(
            np.stack([batch_indices(seed, len(x_train), problem.batch_size, steps) for seed, _ in padded])
        )
        rates = jnp.asarray(np.stack([np.asarray(r, dtype="float32") for _, r in padded]))
        predictions = np.asarray(train_chunk(trainable, non_trainable, optimizer_vars, indices, rates))
        if measure == "train_tail":
            scores += [float(v) if math.isfinite(float(v)) else math.inf for v in predictions[: len(chunk)]]
        else:
            scores += [measured(problem, predictions[i], y_val) for i in range(len(chunk))]
    return scores


def range_test(problem: Problem, seed: int) -> dict[str, Any]:
    """``find_lr`` (default sweep: 1e-7 to 10 in 100 steps) on a fresh model of ``problem`` built with ``seed``,
    its optimizer and batch size; returns the measurements."""
    from keras_optkit.callbacks import find_lr

    x_train, y_train, _, _ = problem.data()
    keras.utils.set_random_seed(seed)
    model = problem.build(tuple(x_train.shape[1:]), problem.outputs)
    loss = (
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if problem.task == "classification"
        else keras.losses.MeanSquaredError()
    )
    model.compile(make_optimizer(problem.optimizer, 1e-3), loss=loss)
    result = find_lr(model, x_train, y_train, batch_size=problem.batch_size)
    keras.backend.clear_session()
    return {
        "learning_rates": result.learning_rates.tolist(),
        "losses": result.losses.tolist(),
        "smoothed_losses": result.smoothed_losses.tolist(),
        "diverged": result.diverged,
    }
