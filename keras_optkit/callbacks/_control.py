"""Reading and changing the training state of any compiled model: the shared ground of the callbacks.

Three facts about Keras 3 shape everything here:

* A learning rate is either a variable (the optimizer was given a float) or a schedule. Keras refuses to set a
  float on an optimizer built with a schedule; the schedule itself can be replaced by another schedule.
* On JAX the train step is a pure function of the model and optimizer variables it is handed. A value that is not
  one of those variables (a Python float, or a variable the model and optimizer do not track) is frozen into the
  compiled step when it is traced, so changing it takes a new trace. `Callback.model` syncs the JAX state back into
  the variables before a callback reads it, and the trainer re-reads the variables after a callback touched them.
* Wrapping optimizers (Keras's `LossScaleOptimizer`, this package's wrappers) forward `learning_rate` to the
  optimizer they wrap, which is the one that owns it. Keras's `MultiOptimizer` has no learning rate of its own
  (its `learning_rate` raises): each of its sub-optimizers owns one, and a callback that changes "the" rate
  changes each of them.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit.schedules.scaled_schedule import ScaledSchedule

_Schedule = keras.optimizers.schedules.LearningRateSchedule


def innermost_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that owns the learning rate: ``optimizer`` with every wrapper peeled off."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


_MultiOptimizer = getattr(keras.optimizers, "MultiOptimizer", None)  # Keras >= 3.11


def is_multi_optimizer(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether ``optimizer`` (after its wrappers are peeled off) is a Keras ``MultiOptimizer``."""
    return _MultiOptimizer is not None and isinstance(innermost_optimizer(optimizer), _MultiOptimizer)


def rate_owners(optimizer: keras.optimizers.Optimizer) -> list[keras.optimizers.Optimizer]:
    """The optimizers that own a learning rate: the innermost one, or each sub-optimizer of a ``MultiOptimizer``.

    A ``MultiOptimizer`` given a selector function learns its sub-optimizers when it is built: build it first
    (:func:`ensure_optimizer_built`).
    """
    optimizer = innermost_optimizer(optimizer)
    if is_multi_optimizer(optimizer):
        return [innermost_optimizer(sub) for sub in optimizer.optimizers]
    return [optimizer]


def learning_rate_logs(optimizer: keras.optimizers.Optimizer) -> dict[str, float]:
    """The current rate(s) as log entries: ``learning_rate``, or ``learning_rate_<i>`` for the i-th sub-optimizer
    of a ``MultiOptimizer`` (in the order of its ``optimizers``)."""
    owners = rate_owners(optimizer)
    if is_multi_optimizer(optimizer):
        return {f"learning_rate_{i}": current_learning_rate(owner) for i, owner in enumerate(owners)}
    return {"learning_rate": current_learning_rate(owners[0])}


def check_rate_sources(optimizer: keras.optimizers.Optimizer, owner: str) -> None:
    """A ``TypeError`` naming ``owner`` unless every rate is a float (a variable) or a schedule."""
    for rate_owner in rate_owners(optimizer):
        source = rate_owner._learning_rate
        if not isinstance(source, (keras.Variable, _Schedule)):
            raise TypeError(
                f"{owner} needs a learning rate given as a float or a LearningRateSchedule. "
                f"Received: learning_rate={source!r}"
            )


def refuse_multi_optimizer(optimizer: keras.optimizers.Optimizer, owner: str, instead: str) -> None:
    """A ``ValueError`` naming ``owner`` when ``optimizer`` is a ``MultiOptimizer``; ``instead`` says what to do."""
    if is_multi_optimizer(optimizer):
        raise ValueError(
            f"{owner} does not support Keras's MultiOptimizer: {instead} "
            f"Received: optimizer={type(innermost_optimizer(optimizer)).__name__}"
        )


def gradient_accumulation_steps(optimizer: keras.optimizers.Optimizer) -> int | None:
    """``gradient_accumulation_steps`` of ``optimizer`` or of any optimizer it wraps (``None`` if none has it)."""
    while optimizer is not None:
        steps = getattr(optimizer, "gradient_accumulation_steps", None)
        if steps:
            return steps
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None


def compiled_optimizer(model: keras.Model, owner: str) -> keras.optimizers.Optimizer:
    """``model.optimizer``, or a ``ValueError`` naming ``owner`` if the model is not compiled with one."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(f"{owner} needs a model compiled with an optimizer. Received: model={model!r}")
    return optimizer


def training_optimizer(model: keras.Model, owner: str) -> keras.optimizers.Optimizer:
    """:func:`compiled_optimizer`, asked for when training begins: also refuses (``ValueError``) an optimizer
    Keras would train wrongly under a tf.distribute strategy with several replicas (``clipnorm``,
    ``global_clipnorm`` or gradient accumulation on Keras's own optimizers: see
    :func:`keras_optkit.optimizers._distribute.refuse_per_replica_arguments`), so that no callback of this package
    takes part in such a run."""
    from keras_optkit.optimizers._distribute import refuse_per_replica_arguments

    optimizer = compiled_optimizer(model, owner)
    refuse_per_replica_arguments(optimizer, user=owner)
    return optimizer


def learning_rate_source(optimizer: keras.optimizers.Optimizer) -> Any:
    """What drives the learning rate: a ``keras.Variable`` (float rate), a schedule, or a callable."""
    # Keras keeps the variable or the schedule in `_learning_rate`; the public `learning_rate` property
    # returns the schedule's value instead, so it cannot tell the two apart.
    return innermost_optimizer(optimizer)._learning_rate


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the next step will use (a schedule is evaluated at ``optimizer.iterations``)."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


def retrace_train_step(model: keras.Model) -> None:
    """Make the next training step trace again (and see Python-level changes to the optimizer).

    `fit` looks `model.train_function` up on every step, so this also takes effect in the middle of a `fit`.
    """
    if getattr(model, "train_function", None) is None:
        return
    if keras.backend.backend() != "jax":
        model.make_train_function(force=True)
        return
    # jax.jit keys its trace cache on the function it wraps, and a bound method compares equal to every other
    # bound method of the same object and function: wrapping `model.train_step` again would find the old
    # trace, with the old Python values in it. A fresh `functools.partial` compares equal to nothing else, so
    # it gets a trace of its own, and no other compiled function in the process is thrown away.
    object.__setattr__(model, "train_step", functools.partial(type(model).train_step, model))
    try:
        model.make_train_function(force=True)
    finally:
        object.__delattr__(model, "train_step")


def set_learning_rate(model: keras.Model, value: float, owner: str) -> None:
    """Set a float learning rate (the optimizer must have been built with a float, not a schedule)."""
    source = learning_rate_source(compiled_optimizer(model, owner))
    if not isinstance(source, keras.Variable):
        raise TypeError(
            f"{owner} can only set a learning rate given as a float; this optimizer's learning rate is "
            f"{type(source).__name__}. Received: learning_rate={source!r}"
        )
    source.assign(value)


def scale_learning_rate(
    model: keras.Model, factor: float, owner: str, rate_owner: keras.optimizers.Optimizer | None = None
) -> float:
    """Multiply the learning rate by ``factor`` and return the new current rate.

    The rate is that of ``rate_owner`` (one of :func:`rate_owners`), by default of the only one (a
    ``MultiOptimizer`` must name which). A float rate is a variable and is assigned in place. A schedule is
    wrapped once in a :class:`ScaledSchedule` whose factor is multiplied on later calls; its shape is kept and the
    factor is saved with the optimizer. As a schedule is read when the step is traced, this retraces the train
    step once per call.
    """
    if rate_owner is None:
        (rate_owner,) = rate_owners(compiled_optimizer(model, owner))
    source = rate_owner._learning_rate
    if isinstance(source, keras.Variable):
        source.assign(ops.convert_to_numpy(source) * factor)
    elif isinstance(source, ScaledSchedule):
        rate_owner.learning_rate = ScaledSchedule(source.schedule, source.factor * factor)
        retrace_train_step(model)
    elif isinstance(source, _Schedule):
        rate_owner.learning_rate = ScaledSchedule(source, factor)
        retrace_train_step(model)
    else:
        raise TypeError(
            f"{owner} can scale a float learning rate or a LearningRateSchedule, not "
            f"{type(source).__name__}. Received: learning_rate={source!r}"
        )
    return current_learning_rate(rate_owner)


def carry_schedule_scaling(model: keras.Model) -> bool:
    """Wrap every schedule-driven rate in a :class:`ScaledSchedule` at factor 1, now, so that later reductions
    live in the optimizer's config (a ``.keras`` file keeps them); returns whether every schedule was already
    wrapped, i.e. whether reductions made before this fit were carried into it.

    A weights backup (``keras.callbacks.BackupAndRestore``, ``save_weights``) does not hold a schedule: a fit
    resumed from one starts with the unwrapped schedule again, and this returns False.
    """
    carried = True
    for rate_owner in rate_owners(model.optimizer):
        source = rate_owner._learning_rate
        if isinstance(source, _Schedule) and not isinstance(source, ScaledSchedule):
            carried = False
            rate_owner.learning_rate = ScaledSchedule(source, 1.0)
    if not carried:
        retrace_train_step(model)  # once, however many rate owners were wrapped
    return carried


def refuse_lost_reductions(owner: str, epoch: int) -> None:
    """The ``ValueError`` for a fit that resumes at ``epoch`` with a schedule whose reductions were not carried."""
    raise ValueError(
        f"{owner}: this fit starts at epoch {epoch} (resumed by BackupAndRestore, or initial_epoch) with a "
        f"learning-rate schedule that does not carry the {owner}'s earlier reductions (they live in the "
        "optimizer's schedule, which a weights backup does not save): it would train at the unreduced rate. "
        "Continue from a `.keras` file saved after an epoch (it keeps the reduced schedule), or give the "
        "optimizer a float learning rate (saved with the weights)."
    )


class StateSnapshot:
    """A copy, on the device, of every model and optimizer variable (weights, BatchNorm statistics, slots,
    iteration count, learning-rate variable).

    Taking one copies device memory to device memory; nothing is moved to the host. ``restore`` writes the copy
    back, so training continues exactly as if the steps since the snapshot had not happened.
    """

    def __init__(self, model: keras.Model) -> None:
        self._variables = _stateful_variables(model)
        # ops.copy, not a reference: on JAX the trainer donates the buffers it is handed.
        self._values = [ops.copy(variable.value) for variable in self._variables]

    def restore(self, model: keras.Model) -> None:
        """Write the snapshot back into ``model`` (the same model, with the same optimizer)."""
        variables = _stateful_variables(model)
        if [id(v) for v in variables] != [id(v) for v in self._variables]:
            raise ValueError(
                "The model's variables changed since the snapshot was taken (was the optimizer rebuilt or the "
                "model recompiled?); it cannot be restored."
            )
        for variable, value in zip(variables, self._values, strict=True):
            # A copy again: on JAX the next step donates the buffers it is handed, and the snapshot must
            # survive to be restored a second time.
            variable.assign(ops.copy(value))

    def numpy(self) -> list[np.ndarray]:
        """The snapshot as NumPy arrays, in the order of the model's then the optimizer's variables."""
        return [ops.convert_to_numpy(value) for value in self._values]


def _stateful_variables(model: keras.Model) -> list:
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        seen = {id(v) for v in variables}
        variables += [v for v in optimizer.variables if id(v) not in seen]
    return variables


def ensure_optimizer_built(model: keras.Model, owner: str) -> keras.optimizers.Optimizer:
    """Build the optimizer's slots now (if `fit` has not yet), so its state can be saved before training (and
    refuse what :func:`training_optimizer` refuses)."""
    optimizer = training_optimizer(model, owner)
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return optimizer
