"""Stop training once a time budget has passed."""

from __future__ import annotations

import datetime
import time
from typing import Any

import keras

from keras_optkit import _validation as check
from keras_optkit._registry import register


@register(
    "callback",
    "Stop training once a time budget has passed, checked after each epoch or each batch (TF-Addons).",
    example={"seconds": 3600},
)
class TimeStopping(keras.callbacks.Callback):
    """Stop training once ``seconds`` have passed since the start of ``fit``.

    The clock starts at the beginning of each ``fit``. With ``check_every="epoch"`` (TF-Addons' behaviour) it is
    read at the end of every epoch, after validation, so training stops after the epoch that crossed the budget.
    With ``check_every="batch"`` it is also read after every training batch and training stops in the middle of
    the epoch (Keras still runs that epoch's validation and ``on_epoch_end``); this suits one long epoch, as in
    a notebook. Either way the budget can be exceeded by up to one epoch (or one batch) plus validation.

    Differences from TF-Addons' ``TimeStopping``: the ``check_every`` option; the clock is ``time.monotonic``
    (not the wall clock, which can jump); the message reports the time actually trained.

    Args:
        seconds: The time budget in seconds (> 0). Defaults to one day.
        verbose: 0: quiet; 1: print a message when training is stopped.
        check_every: ``"epoch"`` or ``"batch"``.

    Attributes:
        stopped_epoch: Index (from 0) of the epoch in which training was stopped, or ``None`` if the budget was
            not reached during the last ``fit``.

    Example:
        >>> from keras_optkit.callbacks import TimeStopping
        >>> callback = TimeStopping(seconds=15 * 60, check_every="batch")
        >>> # model.fit(..., epochs=1000, callbacks=[callback]): at most about 15 minutes of training

    References:
        TensorFlow Addons ``tfa.callbacks.TimeStopping``.
    """

    def __init__(self, seconds: float = 86400, verbose: int = 0, check_every: str = "epoch") -> None:
        super().__init__()
        self.seconds = check.check_positive("seconds", seconds)
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        self.check_every = check.check_choice("check_every", check_every, ("epoch", "batch"))
        self.stopped_epoch: int | None = None
        # The clock is an attribute so that tests can drive it.
        self._clock = time.monotonic
        self._epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stopped_epoch = None
        self._started = self._clock()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.check_every == "batch":
            self._check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check()

    def _check(self) -> None:
        if self.stopped_epoch is not None:
            return
        elapsed = self._clock() - self._started
        if elapsed >= self.seconds:
            # Only now touch `self.model`: on JAX reading it syncs the whole training state.
            self.model.stop_training = True
            self.stopped_epoch = self._epoch
            self._elapsed = elapsed

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch is not None and self.verbose > 0:
            trained = datetime.timedelta(seconds=round(self._elapsed))
            budget = datetime.timedelta(seconds=round(self.seconds))
            print(f"Timed stopping at epoch {self.stopped_epoch + 1} after training for {trained} "
                  f"(budget {budget}).")

    def get_config(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "verbose": self.verbose, "check_every": self.check_every}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeStopping:
        return cls(**config)
