"""`tune()`: one call from a model-building function to the best optimization recipe."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import keras
import keras_tuner

from keras_optkit import _validation as check
from keras_optkit.tuner.hypermodel import OptimizationHyperModel, objective_names
from keras_optkit.tuner.result import TuningResult
from keras_optkit.tuner.search_space import SearchSpace

TUNERS = ("hyperband", "bayesian", "random", "grid")
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
    tuner: str = "hyperband",
    max_trials: int = 10,
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
    verbose: int = 0,
    **tuner_kwargs: Any,
) -> TuningResult:
    """Searches the optimization recipe of ``build_model``'s model and returns the result.

    The search covers the optimizer, learning rate, schedule, weight decay, L1/L2 strength and optionally batch
    size of ``search_space``. With ``narrow_lr_with_finder``, a learning-rate range test
    (:func:`keras_optkit.callbacks.find_lr`, on a copy of the model, per optimizer family) first centres each
    family's learning-rate range on the finder's ``valley`` suggestion, with a ratio of ``finder_span`` between
    its ends: fewer trials are spent on rates that diverge or crawl.

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
        tuner: ``"hyperband"``, ``"bayesian"``, ``"random"`` or ``"grid"``.
        max_trials: Trials for the Bayesian, random and grid tuners (Hyperband sizes itself from ``epochs``).
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
        verbose: 0 silent, 1 keras-tuner's progress, 2 also Keras's.
        **tuner_kwargs: Passed to the keras-tuner tuner (``factor``, ``hyperband_iterations``,
            ``num_initial_points``, ``executions_per_trial``, ...).

    Returns:
        A :class:`TuningResult`.

    Raises:
        ValueError: For a bad argument, or an ``objective`` the trials do not log (naming the metrics they do).
    """
    tuner_name = check.check_choice("tuner", tuner, TUNERS)
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
            hypermodel, x, y, batch_size=batch_size, span=finder_span, num_steps=finder_steps
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
        engine = keras_tuner.Hyperband(max_epochs=epochs, **common)
    elif tuner_name == "bayesian":
        engine = keras_tuner.BayesianOptimization(max_trials=max_trials, **common)
    elif tuner_name == "random":
        engine = keras_tuner.RandomSearch(max_trials=max_trials, **common)
    else:
        engine = keras_tuner.GridSearch(max_trials=max_trials, **common)

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


def narrow_learning_rates(
    hypermodel: OptimizationHyperModel,
    x: Any,
    y: Any,
    *,
    batch_size: int,
    span: float,
    num_steps: int,
) -> dict[str, Any]:
    """Runs one learning-rate range test per optimizer family of ``hypermodel``'s space (constant rate, no
    regularization) and narrows each family's range to ``span`` around the ``valley`` suggestion, inside the
    original range. Returns ``{family: LRFinderResult}``; the hypermodel's space is replaced in place."""
    from keras_optkit.callbacks import find_lr

    space = hypermodel.search_space
    results, ranges = {}, {}
    for family in space.optimizers:
        bounds = space.learning_rate_ranges[family]
        hp = keras_tuner.HyperParameters()
        hp.Fixed("optimizer", family)
        hp.Fixed("schedule", "constant")
        for name in ("weight_decay/on", "l1/on", "l2/on"):
            hp.Fixed(name, False)
        model = hypermodel.build(hp)
        result = find_lr(
            model, x, y, batch_size=batch_size,
            start_lr=bounds.low / 100.0, end_lr=bounds.high * 100.0, num_steps=num_steps,
        )
        results[family] = result
        center = result.valley
        if center is None or not math.isfinite(center):
            continue
        center = min(max(center, bounds.low), bounds.high)
        ranges[family] = bounds.narrowed(center, span)
    hypermodel.search_space = space.with_learning_rates(ranges)
    keras.backend.clear_session()
    return results
