"""Keras's ReduceLROnPlateau, for a learning rate that is a float or any schedule."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import (
    carry_schedule_scaling,
    check_rate_sources,
    current_learning_rate,
    ensure_optimizer_built,
    learning_rate_logs,
    rate_owners,
    refuse_lost_reductions,
    scale_learning_rate,
)


@register(
    "callback",
    "Cut the learning rate (a float or any schedule) by a factor when a metric stops improving.",
    example={"monitor": "val_loss", "factor": 0.5, "patience": 3},
)
class ReduceLROnPlateau(keras.callbacks.Callback):
    r"""Multiply the learning rate by ``factor`` when the monitored metric has stopped improving.

    The rules are those of ``keras.callbacks.ReduceLROnPlateau``, checked at the end of every epoch:

    * The first value is an improvement. Afterwards, in ``"min"`` mode a value is an improvement when
      :math:`x + \delta < x_{best}`, in ``"max"`` mode when :math:`x - \delta > x_{best}`
      (:math:`\delta` = ``min_delta``; both sides are rounded to float32 before comparing, as Keras does). An
      improvement resets the wait counter and becomes the best value.
    * Otherwise, outside cooldown, the wait counter grows by one; once it reaches ``patience``, the learning rate
      :math:`\eta` (its current value) becomes :math:`\max(\eta \cdot \text{factor}, \text{min\_lr})`, unless
      :math:`\eta \le` ``min_lr`` already; after a reduction the counter restarts and ``cooldown`` epochs follow
      in which the counter stays at zero (an improvement during cooldown still becomes the best value).
    * ``mode="auto"`` minimizes ``loss`` / ``val_loss`` and, for any other name, follows the direction of the
      compiled metric of that name (``accuracy`` is maximized); it raises a ``ValueError`` when there is none.

    The epoch logs get the learning rate the epoch ended with, under ``"learning_rate"`` (for Keras's
    ``MultiOptimizer``, ``"learning_rate_<i>"`` for its i-th sub-optimizer, each reduced on its own).

    Each ``fit`` starts a new watch (no best value, wait counter at zero), as Keras's callback does; a fit resumed
    by ``keras.callbacks.BackupAndRestore`` too. A float rate is a variable, saved with the weights, so the resumed
    run continues from the reduced rate. A schedule's reductions live in the optimizer's schedule, which a weights
    backup does not save: a fit that starts past epoch 0 with a schedule that does not carry them raises a
    ``ValueError`` before its first batch, instead of training at the unreduced rate (a ``.keras`` file carries
    them).

    Where this differs from Keras's: the learning rate may be a ``LearningRateSchedule`` (Keras's callback raises
    a ``TypeError`` then). The schedule is wrapped in a :class:`keras_optkit.schedules.ScaledSchedule` whose factor
    is multiplied at each reduction, so its shape is kept, the train step is retraced once per reduction, and
    ``model.save`` keeps the reduced factor. ``min_lr`` then bounds the rate at the moment of the reduction: the
    factor is chosen so the current rate lands at :math:`\max(\eta \cdot \text{factor}, \text{min\_lr})`, and a
    decaying schedule may go lower afterwards. Invalid arguments raise (Keras warns and falls back to ``"auto"``
    for an unknown mode, takes the absolute value of ``min_delta`` and accepts ``factor <= 0``). PyTorch's
    ``ReduceLROnPlateau`` defaults to a relative threshold; this callback's ``min_delta`` is absolute, as in Keras.

    Args:
        monitor: Name of the metric to monitor, as in the logs (``"val_loss"``, ``"val_accuracy"``, ``"loss"``).
        factor: Multiplier of the learning rate at each reduction, in (0, 1).
        patience: Number of epochs without improvement before a reduction (integer >= 0).
        verbose: 0: quiet; 1: print a message at each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: Smallest change that counts as an improvement (>= 0).
        cooldown: Epochs after a reduction during which the wait counter stays at zero (integer >= 0).
        min_lr: Lower bound of the learning rate (>= 0).

    Raises:
        TypeError: When training starts, if the learning rate is neither a float nor a ``LearningRateSchedule``
            (e.g. a plain callable).
        ValueError: At the first epoch end, if ``mode="auto"`` cannot tell the direction of ``monitor``.

    Example:
        >>> import keras
        >>> from keras_optkit.callbacks import ReduceLROnPlateau
        >>> from keras_optkit.schedules import WarmupCosineDecay
        >>> optimizer = keras.optimizers.Adam(WarmupCosineDecay(1e-3, total_steps=10_000, warmup_steps=500))
        >>> callback = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3)
        >>> # model.compile(optimizer, ...); model.fit(..., validation_data=..., callbacks=[callback])

    References:
        Keras ``keras.callbacks.ReduceLROnPlateau`` (the rules above); PyTorch
        ``torch.optim.lr_scheduler.ReduceLROnPlateau``. There is no paper behind the heuristic.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"`monitor` must be the name of a metric (str). Received: monitor={monitor!r}")
        self.monitor = monitor
        self.factor = check.check_in_range("factor", factor, 0.0, 1.0, low_inclusive=False)
        self.patience = check.check_int("patience", patience, minimum=0)
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        self.mode = check.check_choice("mode", mode, ("auto", "min", "max"))
        self.min_delta = check.check_non_negative("min_delta", min_delta)
        self.cooldown = check.check_int("cooldown", cooldown, minimum=0)
        self.min_lr = check.check_non_negative("min_lr", min_lr)
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0
        self._direction: str | None = None
        self._carried = True
        self._first_epoch: int | None = None

    def in_cooldown(self) -> bool:
        """Whether the callback is in its cooldown period."""
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0
        check_rate_sources(ensure_optimizer_built(self.model, type(self).__name__), type(self).__name__)
        self._carried = carry_schedule_scaling(self.model)
        self._first_epoch = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
            if epoch > 0 and not self._carried:
                refuse_lost_reductions(type(self).__name__, epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._direction is None:
            # As in Keras, resolved at the first epoch end: compiled metrics are only built by then.
            self._direction = self._resolve_direction()
        logs = logs if logs is not None else {}
        logs.update(learning_rate_logs(self.model.optimizer))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _is_improvement(self, current: float) -> bool:
        if self.best is None:
            return True
        # Keras compares through `keras.ops` on float32 tensors; rounding the same way gives the same decisions.
        if self._direction == "min":
            return bool(np.float32(current + self.min_delta) < np.float32(self.best))
        return bool(np.float32(current - self.min_delta) > np.float32(self.best))

    def _reduce(self, epoch: int) -> bool:
        # Each rate owner (one, or each sub-optimizer of a MultiOptimizer) is reduced on its own, down to min_lr.
        model = self.model
        reduced = []
        for owner in rate_owners(model.optimizer):
            old_lr = current_learning_rate(owner)
            if not old_lr > np.float32(self.min_lr):
                continue
            new_lr = max(old_lr * self.factor, self.min_lr)
            if isinstance(owner._learning_rate, keras.Variable):
                owner._learning_rate.assign(new_lr)
            else:
                new_lr = scale_learning_rate(model, new_lr / old_lr, type(self).__name__, rate_owner=owner)
            reduced.append(f"{new_lr:.6g}")
        if reduced and self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {', '.join(reduced)}.")
        return bool(reduced)

    def _resolve_direction(self) -> str:
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        direction = "min" if name == "loss" else None
        for metric in _compiled_metrics(self.model):
            # Keras's metrics say which way is better in `_direction` ("up" for accuracies); Keras reads it too.
            if metric.name == name and hasattr(metric, "_direction"):
                direction = "max" if metric._direction == "up" else "min"
        if direction is None:
            raise ValueError(
                f"ReduceLROnPlateau cannot tell whether `{self.monitor}` should be minimized or maximized: pass "
                f"mode='min' or mode='max'. Received: monitor={self.monitor!r}, mode='auto'"
            )
        return direction

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ReduceLROnPlateau:
        return cls(**config)


def _compiled_metrics(model: keras.Model) -> list:
    """The model's metrics, with the containers `compile` creates (which hold a `.metrics` list) opened."""
    found = []
    for metric in getattr(model, "metrics", []):
        inner = getattr(metric, "metrics", None)
        found.extend(inner if isinstance(inner, list) else [metric])
    return found
