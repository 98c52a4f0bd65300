"""What `tune()` returns: the best recipe, every trial as a table, plots."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import keras
import keras_tuner

from keras_optkit.tuner.recipe import build_optimizer, build_schedule


@dataclasses.dataclass
class Recipe:
    """The winning optimization recipe as ready-to-use Keras objects.

    Attributes:
        optimizer: A fresh Keras optimizer carrying ``learning_rate`` (serializable with
            ``keras.optimizers.serialize``).
        learning_rate: The float or schedule (sized for ``total_steps``).
        kernel_regularizer: A ``keras_optkit.regularizers.L1L2`` for the layers the search regularized, or None.
        regularize_layers: Which layers those are (None, a regex or a callable), for
            ``keras_optkit.regularizers.apply_regularization``.
        batch_size: The batch size the recipe was found with.
        total_steps: The number of training steps the schedule spans.
        values: The trial's hyperparameter values.
    """

    optimizer: keras.optimizers.Optimizer
    learning_rate: Any
    kernel_regularizer: Any
    regularize_layers: Any
    batch_size: int
    total_steps: int
    values: dict[str, Any]


def recipe_from_values(hypermodel: Any, values: dict[str, Any]) -> Recipe:
    """The :class:`Recipe` of a trial with hyperparameter ``values`` under ``hypermodel``'s settings."""
    from keras_optkit.regularizers import L1L2

    trial = _trial_view(values)
    steps = hypermodel.steps_for(trial)
    total = hypermodel.epochs * steps
    learning_rate = build_schedule(trial, total, steps)
    l1, l2 = float(trial.get("l1", 0.0)), float(trial.get("l2", 0.0))
    return Recipe(
        optimizer=build_optimizer(trial, learning_rate),
        learning_rate=learning_rate,
        kernel_regularizer=L1L2(l1=l1, l2=l2) if (l1 or l2) else None,
        regularize_layers=hypermodel.search_space.regularize_layers,
        batch_size=int(trial.get("batch_size", hypermodel.batch_size)),
        total_steps=total,
        values=dict(values),
    )


def _trial_view(values: dict[str, Any]) -> dict[str, Any]:
    """The keras-tuner values of one trial in the flat form `build_optimizer` / `build_schedule` read."""
    optimizer = values["optimizer"]
    schedule = values["schedule"]
    view: dict[str, Any] = {
        "optimizer": optimizer,
        "schedule": schedule,
        "learning_rate": values[f"{optimizer}/learning_rate"],
    }
    if optimizer == "sgd":
        view["momentum"] = values["sgd/momentum"]
    if optimizer == "adamw":
        view["weight_decay"] = values["adamw/weight_decay"]
    elif values.get("weight_decay/on"):
        view["weight_decay"] = values["weight_decay"]
    for key, value in values.items():
        if key.startswith(f"{schedule}/"):
            view[key.split("/", 1)[1]] = value
    for name in ("l1", "l2"):
        if values.get(f"{name}/on"):
            view[name] = values[name]
    if "batch_size" in values:
        view["batch_size"] = values["batch_size"]
    return view


class TuningResult:
    """The outcome of :func:`keras_optkit.tuner.tune`.

    Attributes:
        tuner: The keras-tuner tuner that ran the search.
        hypermodel: The :class:`OptimizationHyperModel` it searched.
        finder_results: ``{optimizer family: LRFinderResult}`` of the learning-rate range tests (empty when the
            finder was not used).
    """

    def __init__(self, tuner: Any, hypermodel: Any, finder_results: dict[str, Any]) -> None:
        self.tuner = tuner
        self.hypermodel = hypermodel
        self.finder_results = dict(finder_results)

    @property
    def objective(self) -> Any:
        return self.tuner.oracle.objective

    @property
    def epochs_used(self) -> float:
        """Epochs of the full training set the search trained: range tests and every trial, a batch counting
        ``1 / steps_per_epoch`` (validation passes not counted). At most ``budget_epochs`` when one was given."""
        budget = getattr(self.hypermodel, "budget", None)
        return 0.0 if budget is None else float(budget.used)

    def best_trial(self) -> Any:
        """The best completed, scored keras-tuner trial.

        keras-tuner's own ``get_best_trials`` pads its answer with failed trials when too few completed; they are
        never reported here.

        Raises:
            ValueError: When no trial completed with a score.
        """
        oracle = self.tuner.oracle
        completed = [
            trial for trial in oracle.trials.values()
            if trial.status == keras_tuner.engine.trial.TrialStatus.COMPLETED and trial.score is not None
        ]
        if completed:
            # keras-tuner's order: stable on the oracle's trials, best first.
            return sorted(completed, key=lambda t: t.score, reverse=self.objective.direction == "max")[0]
        statuses = sorted({str(trial.status) for trial in oracle.trials.values()})
        failure = next((t.message for t in oracle.trials.values() if getattr(t, "message", None)), None)
        reason = f" The first failure ended with: {failure.strip().splitlines()[-1]}" if failure else ""
        raise ValueError(
            f"No trial completed: there is no best recipe. Received: {len(oracle.trials)} trial(s) with status "
            f"{', '.join(statuses) or 'none'}.{reason}"
        )

    @property
    def best_hyperparameters(self) -> dict[str, Any]:
        """The best completed trial's hyperparameter values (keras-tuner's bookkeeping entries ``tuner/...``
        removed). A ValueError when no trial completed."""
        values = self.best_trial().hyperparameters.values
        return {k: v for k, v in values.items() if not k.startswith("tuner/")}

    def best_model(self) -> keras.Model:
        """The best completed trial's model, compiled, with the weights of its best epoch."""
        trial = self.best_trial()
        with warnings.catch_warnings():
            # keras-tuner reloads the checkpointed weights into a fresh model whose optimizer is not built yet;
            # Keras then skips the optimizer's slots with a warning. The model's weights are loaded.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return self.tuner.load_model(trial)

    def recipe(self) -> Recipe:
        """The winning optimizer, schedule and regularizer as fresh, serializable Keras objects."""
        return recipe_from_values(self.hypermodel, self.best_hyperparameters)

    def table(self) -> list[dict[str, Any]]:
        """One dict per trial, best first: ``trial_id``, ``status``, ``score``, ``epochs``, the flat recipe
        (``optimizer``, ``schedule``, ``learning_rate``, ``weight_decay``, ``l1``, ``l2``, ...)."""
        rows = []
        for trial in self.tuner.oracle.trials.values():
            values = trial.hyperparameters.values
            row = {
                "trial_id": trial.trial_id,
                "status": str(trial.status),
                "score": None if trial.score is None else float(trial.score),
                "epochs": values.get("tuner/epochs", self.hypermodel.epochs),
            }
            row.update({"weight_decay": 0.0, "l1": 0.0, "l2": 0.0})
            row.update(_trial_view(values))
            rows.append(row)
        reverse = self.objective.direction == "max"
        missing = -math.inf if reverse else math.inf
        rows.sort(key=lambda r: missing if r["score"] is None else r["score"], reverse=reverse)
        return rows

    def summary(self, limit: int | None = None) -> str:
        """A printable table of every trial, best first, or of the best ``limit`` trials.

        Args:
            limit: How many trials to show (an int >= 1); None (the default) shows them all. When some are left
                out, the last line says how many.

        Raises:
            TypeError: ``limit`` is not an int or None.
            ValueError: ``limit`` is below 1.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise TypeError(f"`limit` must be an int >= 1 or None. Received: limit={limit!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"`limit` must be an int >= 1 or None. Received: limit={limit!r}")
        columns = ("trial_id", "score", "optimizer", "schedule", "learning_rate", "weight_decay", "l2", "epochs")
        lines = [f"objective: {self.objective.name} ({self.objective.direction})",
                 "  ".join(f"{c:>13}" for c in columns)]
        rows = self.table()
        shown = rows if limit is None else rows[:limit]
        for row in shown:
            cells = []
            for column in columns:
                value = row.get(column)
                if isinstance(value, float):
                    cells.append(f"{value:>13.4g}")
                else:
                    cells.append(f"{'' if value is None else value!s:>13}")
            lines.append("  ".join(cells))
        if len(shown) < len(rows):
            lines.append(f"({len(rows) - len(shown)} more trial(s) not shown: summary(limit=None) shows all)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TuningResult({len(self.tuner.oracle.trials)} trials, objective={self.objective.name!r})"

    def plot(self, axes: Any = None) -> Any:
        """Objective vs learning rate and vs L2 strength, one colour per schedule, one marker per optimizer.

        Returns the two matplotlib axes.
        """
        from keras_optkit.viz.plot_tuning import plot_tuning_result

        return plot_tuning_result(self, axes=axes)
