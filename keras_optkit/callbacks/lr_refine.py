"""A second, short sweep after the range test: train a few candidate rates briefly and keep the best."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from keras_optkit import _validation as check
from keras_optkit.callbacks._control import (
    StateSnapshot,
    ensure_optimizer_built,
    learning_rate_source,
    refuse_multi_optimizer,
    set_learning_rate,
)
from keras_optkit.callbacks.lr_finder_result import LRFinderResult

__all__ = ["RefinedRate", "refine_lr"]

#: Candidates are ``result.suggest(schedule) * 10 ** exponent``; chosen, with the default ``score``, on the design
#: half of benchmarks/lr_panel.py (``design-refine``).
REFINE_EXPONENTS = (-1.0, 0.0, 0.5)
_SCORES = ("train_loss", "val_loss")
_SCHEDULES = ("constant", "one_cycle", "cosine", "warmup_cosine")


class RefinedRate(NamedTuple):
    """What :func:`refine_lr` measured: the chosen ``rate``, the ``candidates`` tried and their ``losses``
    (``inf`` for a candidate rejected as unstable)."""

    rate: float
    candidates: tuple[float, ...]
    losses: tuple[float, ...]


def _multipliers(schedule: str, steps: int) -> np.ndarray:
    """The rate of each of ``steps`` steps divided by the peak, for the schedule compressed to ``steps``."""
    from keras_optkit.schedules import OneCycle, WarmupCosineDecay, schedule_values

    if schedule == "constant" or steps < 2:
        return np.ones(steps)
    if schedule == "one_cycle":
        return schedule_values(OneCycle(1.0, total_steps=steps), steps)
    return schedule_values(WarmupCosineDecay(1.0, total_steps=steps, warmup_steps=max(steps // 10, 1)), steps)


class _TrialRates(keras.callbacks.Callback):
    """Sets each step's rate, records the batch losses, and stops after ``len(rates)`` steps."""

    def __init__(self, rates: np.ndarray) -> None:
        super().__init__()
        self.rates = rates
        self.losses: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        model = self.model
        set_learning_rate(model, float(self.rates[len(self.losses)]), "refine_lr")
        model.reset_metrics()  # so that logs["loss"] is the batch's own loss

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", math.nan))
        self.losses.append(loss)
        if not math.isfinite(loss) or len(self.losses) >= len(self.rates):
            self.model.stop_training = True


def refine_lr(
    model: keras.Model,
    x: Any,
    y: Any,
    result: LRFinderResult,
    schedule: str = "constant",
    steps: int = 50,
    validation_data: tuple[Any, Any] | None = None,
    score: str = "train_loss",
    exponents: tuple[float, ...] = REFINE_EXPONENTS,
    batch_size: int = 32,
    seed: int = 0,
) -> RefinedRate:
    r"""Chooses among a few rates around ``result.suggest(schedule)`` by training each briefly.

    The candidates are :math:`\eta_k = \hat\eta \cdot 10^{e_k}` with :math:`\hat\eta` =
    ``result.suggest(schedule)`` and :math:`e_k` in ``exponents``. Each is trained for ``steps`` batches from
    the model's current weights and optimizer state, under ``schedule`` compressed to ``steps`` steps
    (``"constant"``: :math:`\eta_k` all along; ``"one_cycle"`` / ``"cosine"``: a OneCycle / WarmupCosineDecay
    peaking at :math:`\eta_k`), on the same batches (one fixed shuffle of ``x``). Its score is the mean
    training loss of the last quarter of the steps (``score="train_loss"``), or the loss on ``validation_data``
    after the steps (``score="val_loss"``). A candidate is rejected when that score is not finite or is above
    the loss before training (the first batch's loss, or the validation loss); the rate returned is the
    accepted candidate with the lowest score, or :math:`\hat\eta` itself if none is accepted. The model and
    its optimizer are restored exactly after every candidate (and if training raises).

    Cost: ``len(exponents) * steps`` training steps (3 x 50 by default), plus, with ``"val_loss"``, one
    evaluation of ``validation_data`` per candidate and one before. On benchmarks/lr_panel.py's panel the
    steps were a fifth of each problem's training steps (40-60), so the sweep cost 0.6 of a training run.

    Args:
        model: A model compiled with an optimizer whose learning rate is a float (it is set every step).
        x: Training inputs (arrays, or a structure of arrays).
        y: Training targets.
        result: The :class:`LRFinderResult` of a range test on this model (``find_lr``).
        schedule: ``"constant"``, ``"one_cycle"`` or ``"cosine"`` (``"warmup_cosine"``): the schedule the
            rate is for, as in :meth:`LRFinderResult.suggest`.
        steps: Training steps per candidate (integer >= 1).
        validation_data: ``(x_val, y_val)`` to score the candidates on with ``score="val_loss"``; ``None``
            otherwise.
        score: ``"train_loss"`` (the default, chosen on the panel's design half, where it scored better by
            median + worst / 2 of the regret) or ``"val_loss"`` (needs ``validation_data``). The training loss
            favours the higher candidates, which may diverge in a run much longer than ``steps``; see
            benchmarks/README.md.
        exponents: The candidates' exponents (non-empty, finite numbers).
        batch_size: Batch size (integer >= 1).
        seed: Seed of the one shuffle of ``x`` shared by all candidates (integer >= 0).

    Returns:
        A :class:`RefinedRate`: ``rate`` (the rate to train at, or the peak of the schedule), ``candidates``
        and their ``losses``.

    Raises:
        TypeError: For a ``result`` that is not an :class:`LRFinderResult`, an optimizer whose learning rate
            is a schedule, or arguments of the wrong type.
        ValueError: For invalid arguments, or a range test with no rate to suggest.

    Example:
        >>> import keras, numpy as np
        >>> from keras_optkit.callbacks import find_lr, refine_lr
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
        >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
        >>> y = x @ np.ones((4, 1), "float32")
        >>> found = find_lr(model, x, y, batch_size=32, start_lr=1e-4, end_lr=10.0, num_steps=40)
        >>> refined = refine_lr(model, x, y, found, steps=10)
        >>> len(refined.candidates), refined.rate in refined.candidates
        (3, True)

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (arXiv:1506.01186):
        the range test the candidates are centred on. K. Jamieson and A. Talwalkar, "Non-stochastic Best Arm
        Identification and Hyperparameter Optimization", AISTATS 2016 (arXiv:1502.07943): judging
        configurations by short trials, as successive halving does in its first round.
    """
    if not isinstance(result, LRFinderResult):
        raise TypeError(f"`result` must be an LRFinderResult (from find_lr). Received: result={result!r}")
    schedule = check.check_choice("schedule", schedule, _SCHEDULES)
    steps = check.check_int("steps", steps, minimum=1)
    batch_size = check.check_int("batch_size", batch_size, minimum=1)
    seed = check.check_int("seed", seed, minimum=0)
    if isinstance(exponents, (str, bytes)) or not hasattr(exponents, "__iter__"):
        raise TypeError(f"`exponents` must be a sequence of numbers. Received: exponents={exponents!r}")
    exponents = tuple(check.check_number("exponents", e) for e in exponents)
    if not exponents or not all(math.isfinite(e) for e in exponents):
        raise ValueError(f"`exponents` must be a non-empty sequence of finite numbers. Received: exponents={exponents!r}")
    score = check.check_choice("score", score, _SCORES)
    if (score == "val_loss") != (validation_data is not None):
        raise ValueError(
            "`validation_data` is used with score='val_loss' and only then. "
            f"Received: score={score!r}, validation_data={'None' if validation_data is None else 'given'}"
        )
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2):
        raise ValueError(
            "`validation_data` must be a pair (x_val, y_val) or None. "
            f"Received: validation_data of type {type(validation_data).__name__}"
        )
    leaves = keras.tree.flatten(x)
    if not leaves or not hasattr(leaves[0], "shape") or len(leaves[0].shape) == 0:
        raise TypeError(f"`x` must be arrays. Received: x of type {type(x).__name__}")
    if y is None:
        raise ValueError("`y` is needed. Received: y=None")
    optimizer = ensure_optimizer_built(model, "refine_lr")
    refuse_multi_optimizer(optimizer, "refine_lr", "run it on a model compiled with one optimizer.")
    if not isinstance(learning_rate_source(optimizer), keras.Variable):
        raise TypeError(
            "refine_lr sets the rate every step and needs an optimizer compiled with a float learning rate. "
            f"Received: learning_rate={learning_rate_source(optimizer)!r}"
        )
    anchor = result.suggest(schedule)
    family = "cosine" if schedule == "warmup_cosine" else schedule
    shape = _multipliers(family, steps)
    samples = int(leaves[0].shape[0])
    order = np.random.default_rng(seed).permutation(samples)
    x_fixed = keras.tree.map_structure(lambda a: ops.convert_to_numpy(a)[order], x)
    y_fixed = keras.tree.map_structure(lambda a: ops.convert_to_numpy(a)[order], y)
    epochs = math.ceil(steps / math.ceil(samples / batch_size))

    def evaluate(x_val: Any, y_val: Any) -> float:
        logs = model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0, return_dict=True)
        return float(logs["loss"])

    candidates = tuple(float(anchor * 10.0**e) for e in exponents)
    snapshot = StateSnapshot(model)
    losses = []
    try:
        before = evaluate(*validation_data) if validation_data is not None else math.inf
        for rate in candidates:
            trial = _TrialRates(rate * shape)
            try:
                model.fit(x_fixed, y_fixed, batch_size=batch_size, epochs=epochs, shuffle=False,
                          callbacks=[trial], verbose=0)
                if validation_data is not None:
                    loss, reference = evaluate(*validation_data), before
                else:
                    tail = trial.losses[-max(1, len(trial.losses) // 4):]
                    loss, reference = float(np.mean(tail)), trial.losses[0]
            finally:
                snapshot.restore(model)
            stable = math.isfinite(loss) and len(trial.losses) >= steps and loss <= reference
            losses.append(loss if stable else math.inf)
    finally:
        snapshot.restore(model)
    accepted = [i for i, loss in enumerate(losses) if math.isfinite(loss)]
    rate = candidates[min(accepted, key=losses.__getitem__)] if accepted else float(anchor)
    return RefinedRate(float(rate), candidates, tuple(losses))
