"""A keras-tuner HyperModel that searches how a user's model is optimized, not how it is built."""

from __future__ import annotations

import inspect
import json
import math
import zlib
from collections.abc import Callable
from typing import Any

import keras
import keras_tuner
import numpy as np

from keras_optkit import _validation as check
from keras_optkit.tuner.recipe import build_optimizer, build_schedule
from keras_optkit.tuner.search_space import SearchSpace
from keras_optkit.tuner.sparsity import build_pruning

#: A diverged objective that is minimized is reported as this many times the worst finite value of the trial.
DIVERGED_FACTOR = 10.0
#: ... and as this when the trial never produced a finite value.
DIVERGED_FALLBACK = 1e6


def _takes_hp(build_model: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(build_model).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [
        p for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return bool(positional)


def trial_seed(seed: int, values: dict[str, Any]) -> int:
    """A weight-initialization seed determined by ``seed`` and the trial's hyperparameter values."""
    text = json.dumps({k: values[k] for k in sorted(values)}, sort_keys=True, default=str)
    return (int(seed) * 1_000_003 + zlib.crc32(text.encode())) % (2**31 - 1)


class OptimizationHyperModel(keras_tuner.HyperModel):
    """Searches the optimizer, learning rate, schedule, weight decay and L1/L2 strength of a user's model.

    ``build_model`` builds the architecture (with or without an ``hp`` argument, so architecture
    hyperparameters can be searched together with the recipe). Each trial then:

    1. seeds Keras from ``seed`` and the trial's values (same seed, same trial: same weights);
    2. adds the trial's L1/L2 to the layers chosen by ``search_space.regularize_layers`` with
       :func:`keras_optkit.regularizers.apply_regularization` (a Keras 3 layer ignores a regularizer set after
       it was built);
    3. compiles with the trial's optimizer and schedule, the schedule spanning ``epochs x steps_per_epoch``
       (a schedule family that cannot fit the shortest trial's run is left out of the space, with a warning:
       see :meth:`SearchSpace.fitted_to`);
    4. in ``fit``, when Hyperband continues a trial from its saved weights, moves ``optimizer.iterations`` to
       ``initial_epoch x steps_per_epoch`` so a step-based schedule continues where it stopped instead of
       warming up again (the optimizer's moments restart from zero, as keras-tuner reloads weights only);
    5. reports a diverged epoch (non-finite loss or objective) as a finite, bad value
       (:data:`DIVERGED_FACTOR` x the worst finite value of the trial for a minimized metric, 0 or the worst
       value for a maximized one), and stops the trial: BayesianOptimization would otherwise rank NaN as the
       best score and sample next to it;
    6. stops the whole search (a ``keras_tuner.errors.FatalValueError``, a ValueError) at the end of the first
       epoch that does not log the objective, naming the metrics that were logged: keras-tuner would otherwise
       fail every trial, one after the other.

    It works with every keras-tuner tuner. :func:`keras_optkit.tuner.tune` builds it for you.

    Args:
        build_model: ``build_model()`` or ``build_model(hp)`` returning an uncompiled (or compiled: its loss
            and metrics are then reused when ``loss`` is None) Keras model.
        search_space: A :class:`SearchSpace` (default ``SearchSpace()``).
        loss: The loss to compile with (None: the loss ``build_model`` compiled with).
        metrics: Metrics to compile with.
        epochs: Training epochs of a full trial (the schedule's horizon). With Hyperband, its ``max_epochs``.
        steps_per_epoch: Optimizer steps per epoch, or None to derive it from ``train_samples`` and the batch
            size.
        train_samples: Number of training examples (used with the trial's batch size when ``steps_per_epoch``
            is None).
        batch_size: Batch size when the search space does not search it.
        objective: The objective keras-tuner optimizes (a name or ``keras_tuner.Objective``), for the
            divergence handling.
        seed: Base seed of the weight initialization.
        jit_compile: Passed to ``compile``.
        budget: An :class:`EpochBudget` every trial's training batches are counted in (and stopped by, once its
            limit is reached); a fresh unlimited one when None.
        verbose: 1 prints one line per finished trial (its recipe, score and epochs, and the best so far);
            0 prints nothing.
    """

    def __init__(
        self,
        build_model: Callable[..., keras.Model],
        search_space: SearchSpace | None = None,
        loss: Any = None,
        metrics: Any = None,
        epochs: int = 10,
        steps_per_epoch: int | None = None,
        train_samples: int | None = None,
        batch_size: int = 32,
        objective: Any = "val_loss",
        seed: int = 0,
        jit_compile: Any = "auto",
        budget: EpochBudget | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(name="optimization_hypermodel", tunable=True)
        if not callable(build_model):
            raise TypeError(f"`build_model` must be callable. Received: build_model={build_model!r}")
        if search_space is not None and not isinstance(search_space, SearchSpace):
            raise TypeError(
                f"`search_space` must be a SearchSpace. Received: search_space={search_space!r}"
            )
        self.build_model = build_model
        self.search_space = search_space or SearchSpace()
        self.loss = loss
        self.metrics = metrics
        self.epochs = check.check_int("epochs", epochs, minimum=1)
        self.steps_per_epoch = (
            None if steps_per_epoch is None else check.check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        )
        self.train_samples = (
            None if train_samples is None else check.check_int("train_samples", train_samples, minimum=1)
        )
        if self.steps_per_epoch is None and self.train_samples is None:
            raise ValueError(
                "Give `steps_per_epoch` or `train_samples`: the schedules span epochs x steps per epoch. "
                "Received: steps_per_epoch=None, train_samples=None"
            )
        self.batch_size = check.check_int("batch_size", batch_size, minimum=1)
        self.search_space = self.search_space.fitted_to(self.shortest_run())
        self.objective = _as_objective(objective)
        self.seed = check.check_int("seed", seed, minimum=0)
        self.jit_compile = jit_compile
        self._takes_hp = _takes_hp(build_model)
        if budget is not None and not isinstance(budget, EpochBudget):
            raise TypeError(f"`budget` must be an EpochBudget or None. Received: budget={budget!r}")
        self.budget = budget if budget is not None else EpochBudget()
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        self._finished = 0
        self._best: tuple[float, int] | None = None

    # ---- keras-tuner interface ---------------------------------------------------------------------------

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        values = self.search_space.declare(hp)
        keras.utils.set_random_seed(trial_seed(self.seed, values))
        model = self.build_model(hp) if self._takes_hp else self.build_model()
        if not isinstance(model, keras.Model):
            raise TypeError(f"`build_model` must return a keras.Model. Received: {model!r}")
        loss, metrics = self._loss_and_metrics(model)
        model = self._regularize(model, values)
        steps = self.steps_for(values)
        optimizer = build_optimizer(values, build_schedule(values, self.epochs * steps, steps))
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=self.jit_compile)
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        values = hp.values
        if "batch_size" in values:
            kwargs["batch_size"] = values["batch_size"]
        initial_epoch = int(kwargs.get("initial_epoch", 0) or 0)
        if initial_epoch > 0:
            optimizer = model.optimizer
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            optimizer.iterations.assign(initial_epoch * self.steps_for(self._trial_values(hp)))
        batch_cost = 1.0 / self.steps_for(self._trial_values(hp))
        if not self.budget.fits(batch_cost):
            raise keras_tuner.errors.FailedTrialError(
                f"The epoch budget is spent: {self.budget.used:.4g} of budget_epochs={self.budget.limit:g}."
            )
        guard = DivergenceGuard(self.objective)
        counter = BudgetCounter(self.budget, batch_cost)
        kwargs["callbacks"] = [guard, counter] + list(kwargs.get("callbacks") or [])
        # A searched sparsity prunes over the trial's whole horizon (the steps its schedule spans).
        pruning = build_pruning(values, self.steps_for(self._trial_values(hp)) * self.epochs)
        if pruning is not None:
            kwargs["callbacks"].append(pruning)
        history = model.fit(*args, **kwargs)
        self._report(values, history, counter.batches * batch_cost)
        return history

    def _report(self, values: dict[str, Any], history: Any, epochs: float) -> None:
        """Keeps the best score so far and, with ``verbose``, prints one line for the trial just finished."""
        self._finished += 1
        name = self.objective.name
        scores = [float(v) for v in (getattr(history, "history", None) or {}).get(name, [])]
        scores = [v for v in scores if math.isfinite(v)]
        maximize = self.objective.direction == "max"
        score = (max if maximize else min)(scores) if scores else None
        if score is not None and (
            self._best is None or (score > self._best[0] if maximize else score < self._best[0])
        ):
            self._best = (score, self._finished)
        if not self.verbose:
            return
        scored = "no score" if score is None else f"{name} {score:.4g}"
        best = "none yet" if self._best is None else f"{self._best[0]:.4g} (trial {self._best[1]})"
        limit = "" if self.budget.limit is None else f" of {self.budget.limit:g}"
        print(
            f"trial {self._finished}: {describe_recipe(values)} -> {scored} in {epochs:.3g} epochs; "
            f"best so far {best}; {self.budget.used:.3g}{limit} epochs used",
            flush=True,
        )

    # ---- helpers -------------------------------------------------------------------------------------------

    def steps_for(self, values: dict[str, Any]) -> int:
        """Optimizer steps per epoch for a trial with ``values``."""
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        batch = int(values.get("batch_size", self.batch_size))
        return max(math.ceil(self.train_samples / batch), 1)  # type: ignore[operator]  # given when steps_per_epoch is not

    def shortest_run(self) -> int:
        """Optimizer steps of the shortest full trial (``epochs`` x the fewest steps per epoch of the searched
        batch sizes)."""
        batch_sizes = self.search_space.batch_sizes or (self.batch_size,)
        return self.epochs * min(self.steps_for({"batch_size": batch}) for batch in batch_sizes)

    def _trial_values(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        return {"batch_size": hp.values["batch_size"]} if "batch_size" in hp.values else {}

    def _loss_and_metrics(self, model: keras.Model) -> tuple[Any, Any]:
        if self.loss is not None:
            return self.loss, self.metrics
        config = model.get_compile_config() if getattr(model, "compiled", False) else None
        if not config or config.get("loss") is None:
            raise ValueError(
                "Give `loss`, or compile the model in `build_model` so its loss can be reused. "
                "Received: loss=None and an uncompiled model"
            )
        loss = keras.saving.deserialize_keras_object(config["loss"])
        metrics = self.metrics
        if metrics is None and config.get("metrics") is not None:
            metrics = keras.saving.deserialize_keras_object(config["metrics"])
        return loss, metrics

    def _regularize(self, model: keras.Model, values: dict[str, Any]) -> keras.Model:
        l1, l2 = float(values.get("l1", 0.0)), float(values.get("l2", 0.0))
        if l1 == 0.0 and l2 == 0.0:
            return model
        from keras_optkit.regularizers import L1L2, apply_regularization

        return apply_regularization(
            model, kernel_regularizer=L1L2(l1=l1, l2=l2), layers=self.search_space.regularize_layers
        )


def _as_objective(objective: Any) -> keras_tuner.Objective:
    if isinstance(objective, keras_tuner.Objective):
        return objective
    if isinstance(objective, str) and objective:
        direction = "max" if any(k in objective for k in ("acc", "auc", "precision", "recall")) else "min"
        return keras_tuner.Objective(objective, direction)
    raise ValueError(
        f"`objective` must be a metric name or a keras_tuner.Objective. Received: objective={objective!r}"
    )


def objective_names(objective: keras_tuner.Objective) -> list[str]:
    """The metric names ``objective`` reads (several for a ``keras_tuner.MultiObjective``)."""
    return list(getattr(objective, "name_to_direction", None) or [objective.name])


def missing_objective_message(objective: keras_tuner.Objective, logged: Any) -> str:
    """The error for an objective that is not among the ``logged`` metric names."""
    missing = [name for name in objective_names(objective) if name not in logged]
    hints = []
    if any(name.startswith("val_") for name in missing):
        hints.append("a val_ metric needs validation data")
    hints.append("a metric other than the loss needs `metrics=[...]` (or the model's compiled metrics)")
    return (
        f"`objective` must name a metric the trials log ({'; '.join(hints)}). "
        f"Received: objective={', '.join(map(repr, missing))}; logged metrics: "
        f"{', '.join(sorted(logged)) or 'none'}"
    )


class DivergenceGuard(keras.callbacks.Callback):
    """Replaces non-finite epoch metrics with a finite, bad value before keras-tuner reads them, and stops the
    trial.

    Put first in the callback list: the logs dict is shared, so keras-tuner's own callbacks and History, which
    come later, see the replaced values.

    Raises:
        keras_tuner.errors.FatalValueError: (a ValueError) At the end of an epoch whose logs lack the
            objective: keras-tuner would fail the trial, and every later one, without stopping the search.
    """

    def __init__(self, objective: keras_tuner.Objective) -> None:
        super().__init__()
        self.objective = objective
        self._worst: dict[str, float] = {}
        self.diverged = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        if not all(name in logs for name in objective_names(self.objective)):
            raise keras_tuner.errors.FatalValueError(missing_objective_message(self.objective, logs))
        for key, value in list(logs.items()):
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            maximize = key == self.objective.name and self.objective.direction == "max"
            if np.isfinite(number):
                previous = self._worst.get(key)
                worse = min if maximize else max
                self._worst[key] = number if previous is None else worse(previous, number)
                continue
            self.diverged = True
            self.model.stop_training = True
            worst = self._worst.get(key)
            if maximize:
                logs[key] = min(worst, 0.0) if worst is not None else 0.0
            else:
                logs[key] = DIVERGED_FACTOR * abs(worst) if worst else DIVERGED_FALLBACK


def describe_recipe(values: dict[str, Any]) -> str:
    """A trial's recipe on one line: optimizer, schedule, learning rate, and the strengths that are on."""
    optimizer = values.get("optimizer", "?")
    parts = [str(optimizer), str(values.get("schedule", "?"))]
    rate = values.get(f"{optimizer}/learning_rate")
    if rate is not None:
        parts.append(f"lr {float(rate):.3g}")
    if optimizer == "sgd" and "sgd/momentum" in values:
        parts.append(f"momentum {float(values['sgd/momentum']):.3g}")
    if optimizer == "adamw" and "adamw/weight_decay" in values:
        parts.append(f"weight decay {float(values['adamw/weight_decay']):.3g}")
    for name, label in (("weight_decay", "weight decay"), ("l1", "l1"), ("l2", "l2")):
        if values.get(f"{name}/on") and name in values:
            parts.append(f"{label} {float(values[name]):.3g}")
    if "batch_size" in values:
        parts.append(f"batch {values['batch_size']}")
    return ", ".join(parts)


class EpochBudget:
    """Training epochs a search has spent, against an optional hard limit.

    An epoch is one pass over the full training set: a batch costs ``1 / steps_per_epoch`` of an epoch at its
    batch size, whether it belongs to a trial or to a learning-rate range test. Validation and evaluation
    passes are not counted (they do not train).

    Args:
        limit: The most epochs the search may spend (> 0), or None for no limit (the epochs are still counted).
    """

    def __init__(self, limit: float | None = None) -> None:
        self.limit = None if limit is None else check.check_positive("budget_epochs", limit)
        self.used = 0.0

    def remaining(self) -> float:
        """Epochs left (``inf`` without a limit)."""
        return math.inf if self.limit is None else max(self.limit - self.used, 0.0)

    def fits(self, epochs: float) -> bool:
        """Whether ``epochs`` more can be spent without going over the limit."""
        # The tolerance absorbs the rounding of summed batch fractions (1/steps_per_epoch each).
        return self.limit is None or self.used + epochs <= self.limit * (1.0 + 1e-9)

    def spend(self, epochs: float) -> None:
        self.used += float(epochs)

    def __repr__(self) -> str:
        return f"EpochBudget(used={self.used:.4g}, limit={self.limit!r})"


class BudgetCounter(keras.callbacks.Callback):
    """Counts each training batch in an :class:`EpochBudget` and stops training when the next batch would
    not fit in it.

    Keras runs at least one batch per ``fit``: the caller checks that one fits before calling ``fit``.
    """

    def __init__(self, budget: EpochBudget, batch_cost: float) -> None:
        super().__init__()
        self.budget = budget
        self.batch_cost = float(batch_cost)
        self.batches = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches += 1
        self.budget.spend(self.batch_cost)
        if not self.budget.fits(self.batch_cost):
            self.model.stop_training = True
