"""`tune()`: one call from a model-building function to the best optimization recipe."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import keras
import keras_tuner

from keras_optkit import _validation as check
from keras_optkit.tuner.hypermodel import EpochBudget, OptimizationHyperModel, objective_names
from keras_optkit.tuner.lr_narrowing import (
    narrow_learning_rates,
    suggested_trials,
)
from keras_optkit.tuner.result import TuningResult
from keras_optkit.tuner.search_space import SearchSpace

TUNERS = ("hyperband", "bayesian", "random", "grid")
#: The tuner of a search given a ``budget_epochs`` and no ``tuner`` (chosen on the design half of
#: benchmarks/lr_panel.py's classification problems; see benchmarks/README.md).
BUDGET_TUNER = "random"
#: ``max_trials`` when it is not given and no budget ends the search.
DEFAULT_MAX_TRIALS = 10
# With a budget and no ``max_trials``, the budget ends the search: keras-tuner needs a number.
_UNLIMITED_TRIALS = 1_000_000
# Arguments keras-tuner would let override what this function searches or sets up.
_RESERVED_TUNER_ARGUMENTS = ("optimizer", "hypermodel", "max_epochs")


def is_distributed_worker() -> bool:
    """True in a process that keras-tuner's distributed mode runs as a worker (``KERASTUNER_TUNER_ID`` set and
    not ``chief``)."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    return bool(tuner_id) and tuner_id != "chief"


def _sample_count(x: Any) -> int | None:
    if isinstance(x, dict):
        x = next(iter(x.values()))
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        x = x[0]
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] is not None:
        return int(shape[0])
    return None


def _steps_of(x: Any) -> int | None:
    try:
        return int(len(x))  # keras.utils.PyDataset, a finite tf.data.Dataset
    except TypeError:
        return None


def tune(
    build_model: Callable[..., keras.Model],
    x: Any,
    y: Any = None,
    *,
    validation_data: Any = None,
    search_space: SearchSpace | None = None,
    tuner: str | None = None,
    max_trials: int | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    objective: Any = "val_loss",
    loss: Any = None,
    metrics: Any = None,
    narrow_lr_with_finder: bool = True,
    finder_span: float = 30.0,
    finder_steps: int = 100,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    directory: str | os.PathLike | None = None,
    project_name: str = "keras_optkit",
    overwrite: bool = True,
    seed: int = 0,
    jit_compile: Any = "auto",
    budget_epochs: float | None = None,
    verbose: int = 1,
    **tuner_kwargs: Any,
) -> TuningResult:
    """Searches the optimization recipe of ``build_model``'s model and returns the result.

    The search covers the optimizer, learning rate, schedule, weight decay, L1/L2 strength and optionally batch
    size of ``search_space``. With ``narrow_lr_with_finder``, a learning-rate range test
    (:func:`keras_optkit.callbacks.find_lr`, on a copy of the model, per optimizer family) first narrows each
    family's learning-rate range to the rates :meth:`LRFinderResult.suggest` gives for the searched schedules,
    widened by a factor ``sqrt(finder_span)`` on each side: fewer trials are spent on rates that diverge or crawl.

    With ``budget_epochs``, the search is held to that many epochs of the full training set, range tests and
    every trial included (each batch counts ``1 / steps_per_epoch``; validation passes are not counted): the
    range tests take at most a fifth of it (``FINDER_BUDGET_SHARE`` in ``keras_optkit.tuner.lr_narrowing``, fewer
    steps each, or none when a test would get fewer than its ``FINDER_MIN_STEPS``), a trial starts only while at
    least one epoch is left, and
    the trial running when the budget runs out is stopped after the last batch that fits. Without a ``tuner``,
    such a search is a random search (:data:`BUDGET_TUNER`) in the narrowed ranges whose first trials are, per
    optimizer family, OneCycle at ``suggest("one_cycle")`` (or the first searched schedule ``suggest`` knows),
    and without ``max_trials`` it runs until the budget stops it. Chosen against Hyperband's brackets on the
    design half of benchmarks/lr_panel.py's classification problems (5 problems x 3 seeds; criterion: median
    gap + worst gap / 2 to a 30-trial random search given three times the epochs): random 0.22 + 2.67 / 2,
    Hyperband 0.00 + 12.33 / 2. On the other five problems it ended a median 0.89 points below that search's
    best score (Hyperband 1.56), within half a point in 7 of 15 searches (benchmarks/README.md). The random,
    Bayesian and grid searches also end at ``max_trials``.
    :attr:`TuningResult.epochs_used` says what was spent, with or without a budget.

    It absorbs keras-tuner 1.4.8's traps: ``seed=0`` is a real seed (keras-tuner treats 0 as "no seed"; the
    oracle gets ``seed + 1``); diverged trials get a finite, bad score; Hyperband's continued trials continue
    their schedule; a distributed worker never deletes the shared project directory (``overwrite`` is ignored
    there); ``optimizer``/``loss``/``metrics`` cannot be overridden through ``tuner_kwargs``.

    Distributed search: run the same script in every process with keras-tuner's variables set
    (``KERASTUNER_TUNER_ID=chief`` or ``tuner0``, ``tuner1``, ...; ``KERASTUNER_ORACLE_IP``,
    ``KERASTUNER_ORACLE_PORT``); the chief serves the oracle and returns when the workers are done.

    Args:
        build_model: ``build_model()`` or ``build_model(hp)`` returning a Keras model.
        x, y: Training data: arrays (``y`` given), a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``.
        validation_data: Passed to ``fit``; needed for a ``val_*`` objective (a ValueError without it).
        search_space: A :class:`SearchSpace` (default ``SearchSpace()``).
        tuner: ``"hyperband"``, ``"bayesian"``, ``"random"`` or ``"grid"``; None: ``"hyperband"``, or
            :data:`BUDGET_TUNER` with ``budget_epochs``.
        max_trials: Trials for the Bayesian, random and grid tuners (Hyperband sizes itself from ``epochs``);
            None: 10 (:data:`DEFAULT_MAX_TRIALS`), or no limit but the budget with ``budget_epochs``.
        epochs: Epochs of a full trial (Hyperband's ``max_epochs``).
        batch_size: Batch size for array data when the space does not search it.
        objective: What to optimize, a metric name (``val_loss``, ``val_accuracy``, ...) or a
            ``keras_tuner.Objective``. One the trials do not log stops the search with a ValueError at the end
            of the first epoch (before anything runs for a ``val_*`` one without ``validation_data``).
        loss, metrics: Compile arguments (None: those ``build_model`` compiled with).
        narrow_lr_with_finder: Run the LR finder first to narrow the learning-rate ranges.
        finder_span: Ratio high / low of a narrowed learning-rate range.
        finder_steps: Steps of each learning-rate range test.
        callbacks: Extra callbacks for every trial (keras-tuner deep-copies them per trial).
        directory, project_name, overwrite: Where keras-tuner keeps its trials (a temporary directory when
            None).
        seed: Seeds the oracle and each trial's weights: the same seed gives the same trials on one machine.
        jit_compile: Passed to ``compile``.
        budget_epochs: The most epochs of the full training set the whole search may train (>= 1), range tests
            included; None: no limit.
        verbose: 1 (default) prints one line per range test and per finished trial (its recipe, score and
            epochs, and the best so far); 2 also keras-tuner's and Keras's progress; 0 prints nothing.
        **tuner_kwargs: Passed to the keras-tuner tuner (``factor``, ``hyperband_iterations``,
            ``num_initial_points``, ``executions_per_trial``, ...).

    Returns:
        A :class:`TuningResult`.

    Raises:
        ValueError: For a bad argument, an ``objective`` the trials do not log (naming the metrics they do), or
            a ``budget_epochs`` in keras-tuner's distributed mode (each process would count only its own
            trials).
    """
    budget = EpochBudget(budget_epochs)
    if budget.limit is not None and budget.limit < 1.0:
        raise ValueError(
            f"`budget_epochs` must be >= 1: a trial starts only while a full epoch is left. "
            f"Received: budget_epochs={budget_epochs!r}"
        )
    if budget.limit is not None and os.environ.get("KERASTUNER_TUNER_ID"):
        raise ValueError(
            "`budget_epochs` is not supported in keras-tuner's distributed mode: each process would count only "
            f"its own trials. Received: budget_epochs={budget_epochs!r}, KERASTUNER_TUNER_ID="
            f"{os.environ['KERASTUNER_TUNER_ID']!r}"
        )
    if tuner is None:
        tuner = BUDGET_TUNER if budget.limit is not None else "hyperband"
    tuner_name = check.check_choice("tuner", tuner, TUNERS)
    verbose = check.check_int("verbose", verbose, minimum=0)
    if max_trials is None:
        max_trials = DEFAULT_MAX_TRIALS if budget.limit is None else _UNLIMITED_TRIALS
    max_trials = check.check_int("max_trials", max_trials, minimum=1)
    epochs = check.check_int("epochs", epochs, minimum=1)
    batch_size = check.check_int("batch_size", batch_size, minimum=1)
    seed = check.check_int("seed", seed, minimum=0)
    finder_span = check.check_number("finder_span", finder_span)
    if not finder_span > 1.0:
        raise ValueError(f"`finder_span` must be > 1. Received: finder_span={finder_span!r}")
    for name in _RESERVED_TUNER_ARGUMENTS:
        if name in tuner_kwargs:
            raise ValueError(
                f"`{name}` cannot be passed to the tuner: tune() sets it (the searched recipe would be "
                f"silently overridden otherwise). Received: {name}={tuner_kwargs[name]!r}"
            )
    space = search_space or SearchSpace()
    if not isinstance(space, SearchSpace):
        raise TypeError(f"`search_space` must be a SearchSpace. Received: search_space={space!r}")

    samples = _sample_count(x) if y is not None or _steps_of(x) is None else None
    steps = _steps_of(x) if samples is None else None
    if samples is None and steps is None:
        raise ValueError(
            "Cannot tell the number of steps per epoch of `x`: give arrays, a finite tf.data.Dataset or a "
            f"PyDataset. Received: x={type(x).__name__}"
        )
    if space.batch_sizes is not None and samples is None:
        raise ValueError(
            "`search_space.batch_sizes` needs array data (a dataset fixes its own batch size). "
            f"Received: x={type(x).__name__}"
        )

    hypermodel = OptimizationHyperModel(
        build_model,
        space,
        loss=loss,
        metrics=metrics,
        epochs=epochs,
        steps_per_epoch=steps,
        train_samples=samples,
        batch_size=batch_size,
        objective=objective,
        seed=seed,
        jit_compile=jit_compile,
        budget=budget,
        verbose=verbose,
    )
    validation_names = [name for name in objective_names(hypermodel.objective) if name.startswith("val_")]
    if validation_data is None and validation_names:
        # Known before any training: keras-tuner would run (and fail) every trial first.
        raise ValueError(
            "`objective` names a validation metric, which no trial logs without `validation_data`: give "
            "validation_data, or an objective on the training data (e.g. 'loss'). "
            f"Received: objective={', '.join(map(repr, validation_names))}, validation_data=None"
        )
    finder_results = {}
    if narrow_lr_with_finder:
        finder_results = narrow_learning_rates(
            hypermodel, x, y, batch_size=batch_size, span=finder_span, num_steps=finder_steps, verbose=verbose
        )

    if directory is None:
        directory = tempfile.mkdtemp(prefix="keras_optkit_tune_")
    if is_distributed_worker():
        # keras-tuner deletes the project directory on overwrite: a worker would delete the chief's.
        overwrite = False
    common = {
        "hypermodel": hypermodel,
        "objective": hypermodel.objective,
        # keras-tuner treats seed=0 as "no seed" (random); shift so every seed, 0 included, is a real one.
        "seed": seed + 1,
        "directory": os.fspath(directory),
        "project_name": project_name,
        "overwrite": overwrite,
        **tuner_kwargs,
    }
    if tuner_name == "hyperband":
        if budget.limit is not None:
            # One Hyperband iteration (its default) may end long before the budget: repeat the brackets until
            # the budget stops the search.
            common.setdefault("hyperband_iterations", 10_000)
        engine = keras_tuner.Hyperband(max_epochs=epochs, **common)
    elif tuner_name == "bayesian":
        engine = keras_tuner.BayesianOptimization(max_trials=max_trials, **common)
    elif tuner_name == "random":
        engine = keras_tuner.RandomSearch(max_trials=max_trials, **common)
    else:
        engine = keras_tuner.GridSearch(max_trials=max_trials, **common)

    first_trials = []
    if finder_results and tuner_name in ("random", "bayesian"):
        first_trials = suggested_trials(hypermodel.search_space, finder_results)
    if budget.limit is not None or first_trials:
        _steer_oracle(engine.oracle, budget, first_trials)

    callbacks = list(callbacks or [])
    for callback in callbacks:
        # keras-tuner deep-copies the callbacks for every trial; one that already served a `fit` still holds
        # that model, which would be deep-copied with it.
        if getattr(callback, "_model", None) is not None:
            callback.set_model(None)
    fit_kwargs: dict[str, Any] = {
        "epochs": epochs,
        "validation_data": validation_data,
        "callbacks": callbacks,
        "verbose": 1 if verbose >= 2 else 0,
    }
    if samples is not None:
        fit_kwargs["batch_size"] = batch_size
    engine.search(x, y, **fit_kwargs) if y is not None else engine.search(x, **fit_kwargs)
    return TuningResult(engine, hypermodel, finder_results)


def _steer_oracle(oracle: Any, budget: EpochBudget, first_trials: list[dict[str, Any]]) -> None:
    """Makes ``oracle`` stop the search once less than an epoch of ``budget`` is left, and hand out
    ``first_trials`` before its own picks."""
    pick = oracle.populate_space
    queue = list(first_trials)
    status = keras_tuner.engine.trial.TrialStatus

    def populate_space(trial_id: str) -> dict[str, Any]:
        if not budget.fits(1.0):
            return {"status": status.STOPPED, "values": None}
        if queue:
            return {"status": status.RUNNING, "values": queue.pop(0)}
        return pick(trial_id)

    oracle.populate_space = populate_space
