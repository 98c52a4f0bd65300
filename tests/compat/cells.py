"""Running one cell of the compatibility matrix (see matrix.py) and checking it against its reference.

A cell trains a small model for three epochs of four batches. What it is checked against:

* every cell: the weights are finite and moved, and the callback did its job, checked from outside it (the
  rate a ReduceLROnPlateau or NaNGuard must have left on each rate owner, the mean of the epoch-end weights a
  StochasticWeightAveraging must end with, the monitor's values on every batch, the range test leaving the model
  exactly as it was);
* a context other than one device: the same recipe trained on one device, uninterrupted, in one ``fit``
  (``save_load``: the same two ``fit`` calls without the file in between);
* a refused cell: the error, raised before any weight moved, matches the expected message.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import keras
import numpy as np

from tests.compat.matrix import Cell, refusal, scheduled_hyperparameter

EPOCHS, BATCHES, BATCH = 3, 4, 8
NAN_BATCH = 1  # NaNGuard cells: the loss of this batch of every epoch is NaN (a NaN sample weight)
LEARNING_RATE = 0.01

_KERAS_RATES = {"SGD": 0.05, "Lion": 0.001, "Muon": 0.01}


class Refused(Exception):
    """The cell raised where a refusal is allowed (construction, compile, or before the first batch)."""


def _base_arguments(feature: str, learning_rate: float) -> dict[str, Any]:
    if feature == "schedule":
        return {"learning_rate": keras.optimizers.schedules.ExponentialDecay(learning_rate, 4, 0.5)}
    extra = {
        "weight_decay": {"weight_decay": 0.01},
        "clipnorm": {"clipnorm": 0.5},
        "global_clipnorm": {"global_clipnorm": 0.5},
        "use_ema": {"use_ema": True, "ema_momentum": 0.9},
        "gradient_accumulation": {"gradient_accumulation_steps": 2},
    }.get(feature, {})
    return {"learning_rate": learning_rate, **extra}


def _keras_optimizer(name: str, feature: str) -> keras.optimizers.Optimizer:
    rate = _KERAS_RATES.get(name, LEARNING_RATE)
    arguments = _base_arguments(feature, rate)
    if name == "SGD":
        arguments["momentum"] = 0.9
    return getattr(keras.optimizers, name)(**arguments)


def make_optimizer(optimizer: str, wrapper: str, feature: str) -> keras.optimizers.Optimizer:
    """The cell's optimizer; the feature's arguments go to the optimizer that owns the rate."""
    from keras_optkit import get_entry

    if optimizer == "keras.MultiOptimizer":
        built = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
            _keras_optimizer("SGD", feature), {".*out.*": _keras_optimizer("Adam", feature)}))
    elif optimizer == "keras.LossScaleOptimizer":
        built = keras.optimizers.LossScaleOptimizer(_keras_optimizer("Adam", feature), initial_scale=2.0**8)
    elif optimizer.startswith("keras."):
        built = _keras_optimizer(optimizer[len("keras."):], feature)
    else:
        entry = get_entry("optimizer", optimizer)
        built = entry.build(**_base_arguments(feature, entry.example.get("learning_rate", LEARNING_RATE)))
    if wrapper != "none":
        built = get_entry("optimizer", wrapper).build(optimizer=built)
    return built


def make_data(feature: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = BATCHES * BATCH
    if feature == "sparse_gradients":
        x = rng.integers(0, 6, size=(n, 2)).astype("int32")
    else:
        x = rng.normal(size=(n, 4)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    if feature == "mixed_float16":
        # Small enough that the scaled gradients (Keras's default initial loss scale, 2**15) never overflow
        # float16 on one device: one device and MirroredStrategy (each replica half the batch, its loss halved)
        # then take the same steps, and check_trained checks that none was skipped.
        x, y = x * 0.25, y * 0.1
    return x, y


@contextlib.contextmanager
def _policy(cell: Cell) -> Any:
    previous = keras.config.dtype_policy()
    if cell.feature == "mixed_float16":
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_model(cell: Cell) -> keras.Model:
    """The cell's model, compiled; the same initial weights every time."""
    with _policy(cell):
        keras.utils.set_random_seed(0)
        if cell.feature == "sparse_gradients":
            layers = [keras.Input((2,), dtype="int32"), keras.layers.Embedding(6, 3, name="embed"),
                      keras.layers.Flatten(), keras.layers.Dense(1, name="out")]
        else:
            layers = [keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                      keras.layers.Dense(1, name="out")]
        model = keras.Sequential(layers)
        optimizer = make_optimizer(cell.optimizer, cell.wrapper, cell.feature)
        model.compile(optimizer, "mse")
    return model


# ---- callbacks and their checks ----------------------------------------------------------------------------

class _Recorder(keras.callbacks.Callback):
    """Records what the checks need, from outside the callback under test."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_weights: list[list[np.ndarray]] = []
        self.batch_logs: list[dict] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_weights.append([np.array(w) for w in self.model.trainable_weights])

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batch_logs.append(dict(logs or {}))


def make_callbacks(cell: Cell) -> list[keras.callbacks.Callback]:
    from keras_optkit import callbacks as kc
    from keras_optkit.schedules import LinearSchedule

    name = cell.callback
    if name == "HyperparameterScheduler":
        hyperparameter = scheduled_hyperparameter(cell.optimizer) or "beta_1"
        return [kc.HyperparameterScheduler(hyperparameter, LinearSchedule(0.9, 0.8, total_steps=EPOCHS * BATCHES))]
    if name == "ReduceLROnPlateau":
        # No epoch is ever an improvement: the rate halves at the end of every epoch after the first.
        return [kc.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9, verbose=0)]
    if name == "NaNGuard":
        return [kc.NaNGuard(backoff=0.5, max_retries=2, verbose=0)]
    if name == "StochasticWeightAveraging":
        return [kc.StochasticWeightAveraging(start_epoch=1)]
    if name == "OptimizerMonitor":
        return [kc.OptimizerMonitor(log_every=1)]
    if name == "MagnitudePruning":
        from keras_optkit.pruning import ConstantSparsity

        return [kc.MagnitudePruning(ConstantSparsity(0.5))]
    if name in ("none", "find_lr"):
        return []
    raise ValueError(f"no recipe for the callback {name!r}: add one to make_callbacks and _check_callback")


def _sample_weight(cell: Cell) -> np.ndarray | None:
    if cell.callback != "NaNGuard":
        return None
    weight = np.ones(BATCHES * BATCH, "float32")
    weight[NAN_BATCH * BATCH] = np.nan
    return weight


class _BatchCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.batches += 1


def _fit(model: keras.Model, cell: Cell, callbacks: list, epochs: int, initial_epoch: int = 0) -> None:
    """``fit``; an error raised before its first batch is a refusal (:class:`Refused`)."""
    x, y = make_data(cell.feature)
    counter = _BatchCounter()
    try:
        model.fit(x, y, sample_weight=_sample_weight(cell), batch_size=BATCH, epochs=epochs,
                  initial_epoch=initial_epoch, shuffle=False, verbose=0, callbacks=[counter, *callbacks])
    except (ValueError, TypeError) as error:
        if counter.batches == 0:
            raise Refused(str(error)) from error
        raise


def _find_lr(model: keras.Model, cell: Cell) -> None:
    from keras_optkit.callbacks import find_lr

    x, y = make_data(cell.feature)
    before = [np.array(v) for v in model.variables]
    try:
        result = find_lr(model, x, y, batch_size=BATCH, start_lr=1e-4, end_lr=1.0, num_steps=6)
    except (ValueError, TypeError) as error:
        after = [np.array(v) for v in model.variables]
        if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after, strict=True)):
            raise AssertionError(f"find_lr refused after moving weights: {error}") from error
        raise Refused(str(error)) from error
    assert len(result.learning_rates) == len(result.losses) >= 2, result
    after = [np.array(v) for v in model.variables]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="find_lr did not put the model back exactly")


def _rates(model: keras.Model) -> list[float]:
    from keras_optkit.callbacks._control import current_learning_rate, rate_owners

    return [current_learning_rate(owner) for owner in rate_owners(model.optimizer)]


def _check_callback(cell: Cell, model: keras.Model, recorder: _Recorder, initial_rates: list[float],
                    callbacks: list) -> None:
    name = cell.callback
    if name == "ReduceLROnPlateau":
        # Halved after epochs 2 and 3; a schedule is scaled, so the check is against the unscaled schedule
        # at the optimizer's step.
        from keras_optkit.callbacks._control import rate_owners

        for owner, rate in zip(rate_owners(model.optimizer), _rates(model), strict=True):
            schedule = owner._learning_rate
            factor = getattr(schedule, "factor", None)
            if factor is not None:
                np.testing.assert_allclose(factor, 0.25, rtol=1e-6)
            else:
                np.testing.assert_allclose(rate, 0.25 * _unscaled_rate(cell), rtol=1e-5)
    if name == "NaNGuard":
        guard = callbacks[0]
        assert guard.recoveries == EPOCHS, guard.recoveries
        assert all(np.isfinite(w).all() for w in model.get_weights())
    if name == "StochasticWeightAveraging":
        averaged = recorder.epoch_weights[1:]
        expected = [np.mean(np.stack(ws), axis=0) for ws in zip(*averaged, strict=True)]
        for got, want in zip(model.trainable_weights, expected, strict=True):
            np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
    if name == "OptimizerMonitor":
        assert len(recorder.batch_logs) == EPOCHS * BATCHES
        for logs in recorder.batch_logs:
            # NaN only on a step a LossScaleOptimizer skipped (non-finite scaled gradients).
            assert np.isfinite(logs["grad_norm"]) or cell.feature == "mixed_float16", logs
            assert any(key.startswith("learning_rate") for key in logs), logs
    if name == "MagnitudePruning":
        # Half of every Dense kernel (rounded) exactly 0 after the last step, counted from the weights.
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                kernel = np.array(layer.kernel)
                assert (kernel == 0).sum() >= round(0.5 * kernel.size), (layer.name, kernel)
    if name == "HyperparameterScheduler":
        hyperparameter = callbacks[0].hyperparameter
        # LinearSchedule(0.9, 0.8, total_steps=T) at the last step the optimizer took: u - 1 for u updates
        # (one per batch, or per accumulation; a LossScaleOptimizer skips a step on non-finite gradients).
        from keras_optkit.callbacks._control import innermost_optimizer

        updates = int(np.array(innermost_optimizer(model.optimizer).iterations))
        if cell.feature != "mixed_float16":
            assert updates == EPOCHS * BATCHES // (2 if cell.feature == "gradient_accumulation" else 1), updates
        last = 0.9 - 0.1 * (updates - 1) / (EPOCHS * BATCHES)
        values = [getattr(owner, hyperparameter) for owner in callbacks[0]._owners]
        np.testing.assert_allclose(values, last, rtol=1e-5)


def _unscaled_rate(cell: Cell) -> float:
    built = make_optimizer(cell.optimizer, cell.wrapper, cell.feature)
    from keras_optkit.callbacks._control import current_learning_rate, innermost_optimizer

    return current_learning_rate(innermost_optimizer(built))


# ---- running a cell ----------------------------------------------------------------------------------------

def train(cell: Cell) -> tuple[list[np.ndarray], _Recorder, keras.Model, list]:
    """Train ``cell`` in its context; returns the final weights (model then optimizer variables)."""
    context = cell.context
    try:
        model = make_model(cell)
    except (ValueError, TypeError) as error:
        raise Refused(str(error)) from error
    if cell.callback == "find_lr":
        _find_lr(model, cell)
    recorder = _Recorder()
    callbacks = make_callbacks(cell)
    if context in ("save_load", "two_fits", "two_fits_after_crash"):
        first = 2 if context == "two_fits_after_crash" else 1
        _fit(model, cell, [*callbacks, recorder], epochs=first)
        if context == "save_load":
            path = os.path.join(tempfile.mkdtemp(), "model.keras")
            model.save(path)
            with _policy(cell):  # a script that trains in mixed precision sets the policy before it loads
                model = keras.saving.load_model(path)
        callbacks = make_callbacks(cell)
        _fit(model, cell, [*callbacks, recorder], epochs=EPOCHS, initial_epoch=first)
    elif context == "backup_restore":
        folder = tempfile.mkdtemp()

        class Crash(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if epoch == 1:
                    raise KeyboardInterrupt("simulated crash")

        try:
            _fit(model, cell, [*callbacks, keras.callbacks.BackupAndRestore(folder), Crash()], epochs=EPOCHS)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the simulated crash did not happen")
        # A new process: a new model, optimizer and callbacks.
        model = make_model(cell)
        callbacks = make_callbacks(cell)
        recorder = _Recorder()
        _fit(model, cell, [*callbacks, keras.callbacks.BackupAndRestore(folder), recorder], epochs=EPOCHS)
    else:
        _fit(model, cell, [*callbacks, recorder], epochs=EPOCHS)
    return [np.array(v) for v in model.weights], recorder, model, callbacks


def check_trained(cell: Cell, weights: list[np.ndarray], recorder: _Recorder, model: keras.Model,
                  callbacks: list) -> None:
    assert all(np.isfinite(w).all() for w in weights), f"{cell.id}: weights not finite"
    if cell.context == "mirrored":
        # Each replica keeps its own copy of a mirrored variable: they must hold one value.
        for variable in model.optimizer.variables:
            copies = [np.array(v) for v in (getattr(variable.value, "values", None) or [])]
            for copy in copies[1:]:
                np.testing.assert_allclose(copy, copies[0], rtol=1e-6, atol=1e-7, err_msg=variable.path)
    if cell.feature == "mixed_float16" and cell.callback != "NaNGuard" and cell.context == "mirrored":
        # No step skipped for overflow (a NaNGuard cell's NaN batch is skipped on purpose): each replica's half
        # batch overflows differently from one device's whole batch, so a skipped step would make the comparison
        # with one device meaningless. (JAX's DataParallel computes on the global batch: it skips as one device.)
        scaler = model.optimizer
        assert isinstance(scaler, keras.optimizers.LossScaleOptimizer), type(scaler)
        assert float(np.array(scaler.dynamic_scale)) >= scaler.initial_scale, f"{cell.id}: a step overflowed"
    if cell.context in ("one_device", "mirrored", "data_parallel"):
        _check_callback(cell, model, recorder, [], callbacks)


def tolerance(cell: Cell) -> dict[str, float]:
    if cell.context in ("mirrored", "data_parallel"):
        if cell.feature == "mixed_float16":
            return {"rtol": 2e-2, "atol": 2e-3}  # float16 sums in another order
        return {"rtol": 1e-5, "atol": 2e-6}  # float32 sums in another order: a few roundings over 12 steps
    return {"rtol": 2e-4, "atol": 2e-5}


def reference_cell(cell: Cell) -> Cell:
    """The run ``cell`` must equal: one device in one fit; for ``save_load``, the same two fits in memory."""
    import dataclasses

    if cell.context == "save_load":
        return dataclasses.replace(cell, context="two_fits")
    if cell.context == "backup_restore" and cell.callback == "ReduceLROnPlateau":
        # Each fit starts a new plateau watch (as with Keras's callback): the resumed run is a second fit from
        # the restored weights and optimizer state.
        return dataclasses.replace(cell, context="two_fits_after_crash")
    return dataclasses.replace(cell, context="one_device")


def expected_refusal(cell: Cell) -> str | None:
    reason = refusal(cell)
    return reason.match if reason else None
