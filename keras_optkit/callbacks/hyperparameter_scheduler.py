"""Any optimizer hyperparameter (momentum, beta_1, weight_decay, ...) or tracked variable driven by a schedule."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import (
    ensure_optimizer_built,
    innermost_optimizer,
    is_multi_optimizer,
    retrace_train_step,
    training_optimizer,
)
from keras_optkit.callbacks._step_hooks import attach_step_value, detach_step_value
from keras_optkit.schedules.linear_schedule import LinearSchedule
from keras_optkit.schedules.one_cycle import OneCycle

_Schedule = keras.optimizers.schedules.LearningRateSchedule
def _optimizer_chain(optimizer: keras.optimizers.Optimizer) -> list[keras.optimizers.Optimizer]:
    chain = [optimizer]
    while getattr(chain[-1], "inner_optimizer", None) is not None:
        chain.append(chain[-1].inner_optimizer)
    return chain


def _attribute_owners(optimizer: keras.optimizers.Optimizer, name: str) -> list[keras.optimizers.Optimizer]:
    """The optimizers whose ``name`` the schedule drives: one, or each sub-optimizer of a ``MultiOptimizer``
    that has ``name`` (a ``ValueError`` if none has it)."""
    if not is_multi_optimizer(optimizer):
        return [_attribute_owner(optimizer, name)]
    owners, errors = [], []
    for sub_optimizer in innermost_optimizer(optimizer).optimizers:
        if not sub_optimizer.built:  # a sub-optimizer that got no variables is never stepped
            continue
        try:
            owners.append(_attribute_owner(sub_optimizer, name))
        except ValueError as error:
            errors.append(str(error))
    if not owners:
        raise ValueError(f"No sub-optimizer of the MultiOptimizer can take `{name}`: {errors[0]}")
    return owners


def _attribute_owner(optimizer: keras.optimizers.Optimizer, name: str) -> keras.optimizers.Optimizer:
    """The first optimizer, from the outermost wrapper inward, holding ``name`` as a number."""
    chain = _optimizer_chain(optimizer)
    for candidate in chain:
        value = getattr(candidate, name, None)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return candidate
    holders = [type(c).__name__ for c in chain if name in vars(c) and vars(c)[name] is None]
    if holders:
        raise ValueError(
            f"`{name}` is None on {', '.join(holders)}, so that optimizer skips it entirely. Create the optimizer with "
            f"`{name}` set to a number (the schedule replaces it during training). "
            f"Received: hyperparameter={name!r}"
        )
    known = "; ".join(
        f"{type(candidate).__name__}: "
        + (", ".join(f"{key}={value!r}" for key, value in sorted(vars(candidate).items())
                     if not key.startswith("_") and isinstance(value, float)) or "none")
        for candidate in chain
    )
    raise ValueError(
        f"`hyperparameter` must name a float attribute of the optimizer. Received: hyperparameter={name!r}. "
        f"Float attributes: {known}"
    )


@register(
    "callback",
    "Drive any optimizer hyperparameter (momentum, beta_1, weight_decay, ...) or tracked variable by a schedule.",
    example={"hyperparameter": "momentum", "schedule": LinearSchedule(0.95, 0.85, total_steps=1000)},
)
class HyperparameterScheduler(keras.callbacks.Callback):
    r"""Set an optimizer hyperparameter, or a variable of the model, from a schedule during training.

    With ``frequency="step"`` the value at training step :math:`t` (the optimizer's ``iterations`` before the
    step: the step learning-rate schedules see) is :math:`h_t = \text{schedule}(t)`; with ``frequency="epoch"``
    it is :math:`h = \text{schedule}(e)` for the whole of epoch :math:`e`.

    * **An optimizer attribute** (``"momentum"``). Keras's optimizers read their hyperparameters as Python floats,
      which a compiled step freezes. Per step, the callback shadows the optimizer's ``apply`` during ``fit``: each
      step computes ``schedule(iterations)`` as a tensor inside the step and hands it to the update in place of
      the float (the step is traced once more at the start and at the end of ``fit``). This works with optimizers
      that compute with the value through ``keras.ops`` (or, on PyTorch, torch functions): all of Keras's (SGD,
      RMSprop, Adam, AdamW, Nadam, Lion, ...) and all of this package's, ``beta_1`` and ``beta_2`` of the Adam
      family included. One that turns it into a Python number inside its step raises a ``TypeError`` at the first
      step, on TensorFlow, JAX and PyTorch alike (an eager PyTorch step could take the number; a compiled
      TensorFlow or JAX step would freeze it): schedule it per epoch. Per epoch, the float is set at the start of the epoch and the step is retraced when
      the value changed: one trace (an XLA compilation under ``jit_compile=True``) per change.
    * **A** ``keras.Variable`` **that the model or its optimizer tracks** (e.g. the strength ``.l2`` of
      :class:`keras_optkit.regularizers.L2`): assigned before each step (or epoch); the trainers read tracked
      variables at every step, so nothing is retraced. With ``steps_per_execution=k`` it changes every ``k``
      steps.

    For a wrapped optimizer (``keras.optimizers.LossScaleOptimizer``, this package's Lookahead, Ranger, ...) the
    attribute is looked up on the wrapper first, then inward; the first optimizer holding a number owns it. One
    holding ``None`` (Adam's ``weight_decay``) is an error: create the optimizer with it set. Python comparisons
    such as ``momentum != 0`` inside the step see the value the optimizer was created with, so SGD must be
    created with ``momentum > 0``. A scheduled ``beta_1`` enters Adam's bias correction as
    :math:`1 - \beta_{1,t}^{\,t}` (what PyTorch does when its OneCycleLR cycles ``betas``), in every optimizer of
    the Adam family; this package's compute that correction from a scheduled beta in float32 (about 1e-5
    relative near beta = 1) instead of in float64.

    The epoch logs get, under the hyperparameter's name (the variable's name), the value of the epoch's last
    step. After training, the attribute holds the last step's value as a float, so a later ``fit`` without the
    callback, ``get_config`` and ``model.save`` see it. One scheduler per attribute: a second one for the same
    attribute of the same optimizer replaces the first. If ``fit`` stops on an exception (an interrupt), the
    optimizer keeps the per-step hook until this callback's next ``fit`` or ``on_train_end()``. Keras's ``LearningRateScheduler`` only drives the
    learning rate, once per epoch; for PyTorch's ``OneCycleLR(cycle_momentum=True)`` see
    :meth:`one_cycle_momentum`.

    Args:
        hyperparameter: The name of a float attribute of the optimizer (``"momentum"``, ``"beta_1"``,
            ``"beta_2"``, ``"epsilon"``, ``"weight_decay"``, ...), or a ``keras.Variable`` tracked by the model or
            its optimizer. The learning rate is not one: give the optimizer a schedule as ``learning_rate``.
        schedule: A ``keras.optimizers.schedules.LearningRateSchedule`` (this package's or Keras's) or a Python
            callable of one argument. Per step it is called inside the compiled step with the step as a float32
            scalar tensor, so a callable must compute with ``keras.ops``; per epoch it is called with the epoch
            index (a Python ``int``).
        frequency: ``"step"`` or ``"epoch"``.
        verbose: 0: quiet; 1: print the value at the start of each epoch.

    Example:
        >>> import keras
        >>> from keras_optkit.callbacks import HyperparameterScheduler
        >>> from keras_optkit.schedules import OneCycle
        >>> steps = 10 * 100  # epochs x steps per epoch
        >>> optimizer = keras.optimizers.SGD(OneCycle(0.1, steps), momentum=0.9)
        >>> callback = HyperparameterScheduler.one_cycle_momentum(steps)
        >>> # model.compile(optimizer, ...); model.fit(..., epochs=10, callbacks=[callback])

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1 -- learning rate, batch size,
        momentum, and weight decay", arXiv:1803.09820 (2018) (cyclical momentum);
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", arXiv:1711.05101 (2019) (scheduled
        weight decay).
    """

    def __init__(
        self,
        hyperparameter: str | keras.Variable,
        schedule: keras.optimizers.schedules.LearningRateSchedule | Callable[[Any], Any],
        frequency: str = "step",
        verbose: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(hyperparameter, str):
            if not hyperparameter.isidentifier():
                raise ValueError(
                    "`hyperparameter` must be an attribute name such as 'momentum'. "
                    f"Received: hyperparameter={hyperparameter!r}"
                )
            if hyperparameter == "learning_rate":
                raise ValueError(
                    "`hyperparameter` cannot be 'learning_rate': give the optimizer a LearningRateSchedule as "
                    f"`learning_rate` instead. Received: hyperparameter={hyperparameter!r}"
                )
        elif not isinstance(hyperparameter, keras.Variable):
            raise TypeError(
                "`hyperparameter` must be an optimizer attribute name (str) or a keras.Variable. "
                f"Received: hyperparameter={hyperparameter!r}"
            )
        if not callable(schedule):
            raise TypeError(
                "`schedule` must be a keras.optimizers.schedules.LearningRateSchedule or a callable of one "
                f"argument. Received: schedule={schedule!r}"
            )
        self.hyperparameter = hyperparameter
        self.schedule = schedule
        self.frequency = check.check_choice("frequency", frequency, ("step", "epoch"))
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        self._owners: list = []
        self._counter: Any = None  # the optimizer whose step count the schedule reads, while fit runs
        self._hooks: list[dict] | None = None
        self._hook_ran = False
        self._steps_run = 0
        self._traced_value: float | None = None

    @property
    def _label(self) -> str:
        if isinstance(self.hyperparameter, str):
            return self.hyperparameter
        return self.hyperparameter.name

    def _value_at(self, index: int) -> float:
        if self.frequency == "step":
            return float(ops.convert_to_numpy(self.schedule(ops.convert_to_tensor(float(index), "float32"))))
        return float(ops.convert_to_numpy(self.schedule(index)))

    def _iterations(self) -> int:
        # The counter the learning rate's schedule reads; through `self.model` so JAX state is synced first.
        return int(ops.convert_to_numpy(innermost_optimizer(self.model.optimizer).iterations))

    def _step_tensor(self) -> Any:
        # Runs inside the traced step, where the optimizer's variables are live.
        self._hook_ran = True
        step = ops.cast(self._counter.iterations, "float32")
        return ops.cast(self.schedule(step), "float32")

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._hooks is not None:  # left by a fit that ended in an exception
            self._detach()
        model = self.model
        optimizer = training_optimizer(model, type(self).__name__)
        self._counter = innermost_optimizer(optimizer)
        self._steps_run = 0
        self._hook_ran = False
        self._traced_value = None
        if isinstance(self.hyperparameter, keras.Variable):
            tracked = list(model.variables) + list(optimizer.variables)
            if not any(variable is self.hyperparameter for variable in tracked):
                raise ValueError(
                    "`hyperparameter` must be a variable the model (or its optimizer) tracks: a train step only "
                    "sees those (on JAX, assigning any other variable does nothing). Create it with "
                    "`layer.add_weight(..., trainable=False)` in a layer of the model. "
                    f"Received: hyperparameter={self.hyperparameter.path!r}"
                )
            return
        name = self.hyperparameter
        # A MultiOptimizer learns its sub-optimizers when it is built.
        ensure_optimizer_built(model, type(self).__name__)
        self._owners = _attribute_owners(optimizer, name)
        for owner in self._owners:
            if name == "momentum" and getattr(owner, name) == 0:
                raise ValueError(
                    f"{type(owner).__name__} was created with momentum=0, so it keeps no momentum state and "
                    "ignores `momentum`. Create it with momentum > 0 (the schedule replaces the value). "
                    f"Received: hyperparameter={name!r}"
                )
        if self.frequency == "step":
            self._hooks = [attach_step_value(owner, name, self._step_tensor) for owner in self._owners]
            retrace_train_step(model)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.frequency == "epoch":
            value = self._value_at(epoch)
            if isinstance(self.hyperparameter, keras.Variable):
                self.model  # noqa: B018  (syncs JAX state so the trainer re-reads the assigned variable)
                self.hyperparameter.assign(ops.cast(value, self.hyperparameter.dtype))
            else:
                for owner in self._owners:
                    setattr(owner, self.hyperparameter, value)
                if value != self._traced_value:
                    retrace_train_step(self.model)
                    self._traced_value = value
        elif self.verbose > 0:
            value = self._value_at(self._iterations())
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: HyperparameterScheduler setting {self._label} to {value:.6g}.")

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.frequency == "step" and isinstance(self.hyperparameter, keras.Variable):
            value = self.schedule(ops.convert_to_tensor(float(self._iterations()), "float32"))
            self.hyperparameter.assign(ops.cast(value, self.hyperparameter.dtype))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._steps_run += 1
        if self._hooks is not None and not self._hook_ran:
            self._detach()
            raise RuntimeError(
                f"HyperparameterScheduler could not reach `{self.hyperparameter}` of "
                f"{', '.join(type(owner).__name__ for owner in self._owners)}: the train step did not call its `apply` (an optimizer wrapper "
                "that steps it another way?). Schedule it with frequency='epoch' instead."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        if self.frequency == "epoch":
            logs[self._label] = self._value_at(epoch)
        else:
            logs[self._label] = self._value_at(max(self._iterations() - 1, 0))

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._hooks is None:
            return
        self._detach()
        if self._steps_run:
            for owner in self._owners:
                setattr(owner, self.hyperparameter, self._value_at(self._iterations() - 1))
        # The compiled step still computes the schedule: a later fit must not reuse it.
        retrace_train_step(self.model)

    def _detach(self) -> None:
        if self._hooks is None:
            return
        for owner, hooks in zip(self._owners, self._hooks, strict=True):
            detach_step_value(owner, hooks, self.hyperparameter, self._step_tensor)
        self._hooks = None

    @classmethod
    def one_cycle_momentum(
        cls,
        total_steps: int,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
        hyperparameter: str = "momentum",
    ) -> HyperparameterScheduler:
        r"""The momentum half of PyTorch's ``OneCycleLR(cycle_momentum=True)``, to pair with a
        :class:`~keras_optkit.schedules.OneCycle` learning rate of the same ``total_steps`` and ``pct_start``.

        Momentum moves against the learning rate: from ``max_momentum`` down to ``base_momentum`` at step
        :math:`pT - 1` (the learning rate's peak), then back up to ``max_momentum`` at step :math:`T - 1`
        (with ``three_phase=True``: back up by step :math:`2pT - 2`, then constant), with the same cosine or
        linear annealing as the learning rate. After step :math:`T - 1` it holds ``max_momentum`` (PyTorch raises
        an error there). This is a ``OneCycle`` whose start and end are ``max_momentum`` and whose peak is
        ``base_momentum``. For Adam-family optimizers pass ``hyperparameter="beta_1"`` (PyTorch cycles
        ``betas[0]``).

        Args:
            total_steps: Steps in the cycle (>= 2), as for the learning rate's ``OneCycle``.
            base_momentum: Lowest momentum, at the learning rate's peak, in (0, 1).
            max_momentum: Momentum at the start and the end, in [``base_momentum``, 1).
            pct_start: Fraction of the cycle spent lowering the momentum, in (0, 1).
            anneal_strategy: ``"cos"`` or ``"linear"``.
            three_phase: Use the three-phase variant.
            hyperparameter: The attribute to drive: ``"momentum"`` (SGD, RMSprop) or ``"beta_1"`` (Adam family).
        """
        base_momentum = check.check_in_range(
            "base_momentum", base_momentum, 0.0, 1.0, low_inclusive=False
        )
        max_momentum = check.check_in_range("max_momentum", max_momentum, 0.0, 1.0, low_inclusive=False)
        if max_momentum < base_momentum:
            raise ValueError(
                "`max_momentum` must be >= `base_momentum`. "
                f"Received: max_momentum={max_momentum!r}, base_momentum={base_momentum!r}"
            )
        # OneCycle starts at peak / div_factor and ends at that / final_div_factor: div_factor < 1 makes the
        # "peak" a trough, and final_div_factor = 1 brings the end back to the start.
        schedule = OneCycle(
            max_learning_rate=base_momentum,
            total_steps=total_steps,
            pct_start=pct_start,
            div_factor=base_momentum / max_momentum,
            final_div_factor=1.0,
            anneal_strategy=anneal_strategy,
            three_phase=three_phase,
        )
        return cls(hyperparameter, schedule, frequency="step")

    def get_config(self) -> dict[str, Any]:
        if not isinstance(self.hyperparameter, str):
            raise TypeError(
                "A HyperparameterScheduler driving a keras.Variable cannot be serialized: the variable belongs "
                f"to one model. Received: hyperparameter={self.hyperparameter.path!r}"
            )
        if not isinstance(self.schedule, _Schedule):
            raise TypeError(
                "Only a HyperparameterScheduler whose schedule is a LearningRateSchedule can be serialized. "
                f"Received: schedule={self.schedule!r}"
            )
        return {
            "hyperparameter": self.hyperparameter,
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "frequency": self.frequency,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HyperparameterScheduler:
        config = dict(config)
        if isinstance(config.get("schedule"), dict):
            config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
