"""Recover from a non-finite loss instead of losing the run."""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import (
    StateSnapshot,
    carry_schedule_scaling,
    check_rate_sources,
    ensure_optimizer_built,
    rate_owners,
    refuse_lost_reductions,
    scale_learning_rate,
)


@register(
    "callback",
    "On a NaN/inf loss, restore the last good weights and optimizer state, lower the learning rate, go on.",
    example={"backoff": 0.5, "max_retries": 3},
)
class NaNGuard(keras.callbacks.Callback):
    """Restore the last good state on a non-finite loss, lower the learning rate and continue.

    After every batch whose loss is finite, the guard copies the model's variables (weights, BatchNorm
    statistics), the optimizer's (slots, iteration count, learning-rate variable) and the metrics' (the running
    loss of the epoch) on the device; nothing goes to the host. When a batch ends with a non-finite loss it writes
    that copy back, so the bad step never happened and the epoch's logged loss stays finite, multiplies the
    learning rate by ``backoff`` (a float rate directly; a schedule through a
    :class:`~keras_optkit.schedules.ScaledSchedule`, which retraces the step once) and lets training continue with
    the next batch. The first ``max_retries`` bad batches in a row are handled so; one more in a row restores the
    last good state, stops training and warns. ``stopped`` and ``recoveries`` record what happened.

    Cost: one device copy of the model and optimizer state per batch (memory: one more copy of the weights and
    slots), and reading the batch loss on the host, which Keras's progress bar does anyway.

    Keras's ``TerminateOnNaN`` only stops; this one recovers. Put it before callbacks that save or log: they then
    see the restored state, and the batch's logs rewritten to the restored running values (so a
    ``TerminateOnNaN`` after it does not stop training on a batch the guard recovered from).

    Args:
        backoff: Multiplier of the learning rate at each recovery, in (0, 1).
        max_retries: Number of bad batches in a row that are recovered from (integer >= 0); the next one stops
            training.
        verbose: 0: quiet; 1: print a line at each recovery.

    Example:
        >>> guard = NaNGuard(backoff=0.5, max_retries=3)
        >>> # model.fit(x, y, callbacks=[guard, keras.callbacks.ModelCheckpoint(...)])
    """

    def __init__(self, backoff: float = 0.5, max_retries: int = 3, verbose: int = 1) -> None:
        super().__init__()
        self.backoff = check.check_in_range("backoff", backoff, 0.0, 1.0, low_inclusive=False,
                                            high_inclusive=False)
        self.max_retries = check.check_int("max_retries", max_retries, minimum=0)
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        self.stopped = False
        self.recoveries = 0
        self._in_a_row = 0
        self._snapshot: StateSnapshot | None = None
        self._metric_values: list = []
        self._carried = True
        self._first_epoch: int | None = None

    def _save(self, model: keras.Model) -> None:
        self._snapshot = StateSnapshot(model)
        self._metric_values = [ops.copy(v.value) for v in model.metrics_variables]

    def _restore(self, model: keras.Model) -> None:
        if self._snapshot is None:
            raise RuntimeError("NaNGuard has no good state to restore: training did not begin.")
        self._snapshot.restore(model)
        metrics = model.metrics_variables
        # The metrics only keep the logged running loss finite; if a metric was built after the copy was
        # taken, leave them to Keras's reset at the next epoch.
        if len(metrics) == len(self._metric_values):
            for variable, value in zip(metrics, self._metric_values, strict=True):
                variable.assign(ops.copy(value))

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        optimizer = ensure_optimizer_built(model, "NaNGuard")
        check_rate_sources(optimizer, "NaNGuard")
        self._carried = carry_schedule_scaling(model)
        self._first_epoch = None
        self.stopped = False
        self.recoveries = 0
        self._in_a_row = 0
        self._save(model)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
            if epoch > 0 and not self._carried:
                refuse_lost_reductions("NaNGuard", epoch)
        # Keras resets the metrics at each epoch start: keep the good copy in step with that.
        model = self.model
        self._metric_values = [ops.copy(v.value) for v in model.metrics_variables]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(ops.convert_to_numpy(loss))
        model = self.model
        if math.isfinite(loss):
            self._in_a_row = 0
            self._save(model)
            return
        # The snapshot holds the learning-rate variable of a float rate too: keep the rate the guard already
        # lowered, so consecutive recoveries compound.
        owners = rate_owners(model.optimizer)
        kept = [(owner._learning_rate, ops.copy(owner._learning_rate.value)) for owner in owners
                if isinstance(owner._learning_rate, keras.Variable)]
        self._restore(model)
        for variable, value in kept:
            variable.assign(value)
        if logs is not None:
            # Keras hands the same dict to the callbacks after this one (progress bar, CSVLogger,
            # TerminateOnNaN, ...): they see the restored running values, not the bad batch's.
            logs.update({name: float(ops.convert_to_numpy(value))
                         for name, value in model.get_metrics_result().items()})
        self._in_a_row += 1
        if self._in_a_row > self.max_retries:
            self.stopped = True
            model.stop_training = True
            message = (
                f"NaNGuard: the loss was not finite in {self._in_a_row} batches in a row (batch {batch}); the model "
                "holds the last good weights and optimizer state, and training stops."
            )
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            if self.verbose:
                print(message)
            return
        self.recoveries += 1
        # Every rate owner (each sub-optimizer of a MultiOptimizer) backs off.
        rates = [scale_learning_rate(model, self.backoff, "NaNGuard", rate_owner=owner) for owner in owners]
        if self.verbose:
            shown = ", ".join(f"{rate:.6g}" for rate in rates)
            print(f"NaNGuard: non-finite loss at batch {batch}; restored the last good state, learning rate now "
                  f"{shown} (retry {self._in_a_row} of {self.max_retries}).")

    def on_train_end(self, logs: dict | None = None) -> None:
        # Drop the device copies: they are a model's worth of memory, and keras-tuner deep-copies callbacks.
        self._snapshot = None
        self._metric_values = []

    def get_config(self) -> dict[str, Any]:
        return {"backoff": self.backoff, "max_retries": self.max_retries, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NaNGuard:
        return cls(**config)
