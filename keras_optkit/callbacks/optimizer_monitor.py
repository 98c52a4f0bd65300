"""Learning rate, weight decay, gradient norm and update/weight ratio in the training logs."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import (
    ensure_optimizer_built,
    learning_rate_logs,
    retrace_train_step,
)
from keras_optkit.callbacks._step_hooks import PREVIOUS_APPLY, STEP_HOOKS


def _global_norm(tensors: list) -> Any:
    squares = [ops.sum(ops.square(ops.cast(ops.convert_to_tensor(t), "float32"))) for t in tensors]
    return ops.sqrt(ops.sum(ops.stack(squares))) if squares else ops.zeros((), "float32")


def _gradient_target(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    # A LossScaleOptimizer hands its inner optimizer the unscaled gradients: measure those.
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


@register(
    "callback",
    "Log learning rate, weight decay, gradient norm and update/weight norm ratio every log_every steps.",
    example={"log_every": 50},
)
class OptimizerMonitor(keras.callbacks.Callback):
    r"""Put the optimizer's vital signs into the logs, every ``log_every`` steps.

    At every step :math:`s` (the optimizer's 0-based batch index: with gradient accumulation, every batch counts,
    not only those that update the weights) with :math:`s \bmod` ``log_every`` :math:`= 0`,
    the batch logs get:

    * ``learning_rate``: the rate the step used (a schedule evaluated at :math:`s`); for Keras's
      ``MultiOptimizer``, ``learning_rate_<i>`` for its i-th sub-optimizer;
    * ``weight_decay``: the optimizer's weight decay, when it has one;
    * ``grad_norm``: :math:`\lVert g_s \rVert_2` over all trainable variables, of the gradients the optimizer
      received (NaN on a step it skipped, as a ``LossScaleOptimizer`` does on non-finite gradients; the batch's
      own gradient with gradient accumulation; after a ``LossScaleOptimizer`` removed the loss scale, and after any clipping the trainer did not
      do itself);
    * ``update_ratio``: :math:`\lVert w_{s+1} - w_s \rVert_2 / \lVert w_s \rVert_2` over all trainable variables.

    Every epoch's logs get the last measured values, so ``History``, ``CSVLogger`` and
    ``keras.callbacks.TensorBoard`` record them; put this callback before those in the list. On other steps
    nothing is read back from the device (the step counter is read once per epoch and batches are counted on
    the host; after a :class:`NaNGuard` recovery rewinds the step counter, measurements resume on the right
    steps at the next epoch).

    How: during ``fit`` the optimizer's ``apply`` is shadowed (and the train step traced once more) so that each
    step also computes the gradient norm on the device. TensorFlow and PyTorch keep it in a variable the step
    assigns; JAX passes it to the host with ``jax.debug.callback`` only on logging steps. The weights of a logging
    step are copied on the device at batch begin for the update ratio. Everything is undone when ``fit`` ends.

    Args:
        log_every: Measure every ``log_every`` optimizer steps (integer >= 1).

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
        >>> x, y = np.ones((32, 4), "float32"), np.zeros((32, 1), "float32")
        >>> monitor = OptimizerMonitor(log_every=2)
        >>> history = model.fit(x, y, batch_size=8, epochs=2, callbacks=[monitor], verbose=0)
        >>> sorted(history.history)  # SGD here has no weight decay to log
        ['grad_norm', 'learning_rate', 'loss', 'update_ratio']
    """

    def __init__(self, log_every: int = 50) -> None:
        super().__init__()
        self.log_every = check.check_int("log_every", log_every, minimum=1)
        self.last: dict[str, float] = {}
        self._before: list | None = None
        self._norm_variable: Any = None  # a keras.Variable, outside JAX, while fit runs
        self._received: dict[int, float] = {}
        self._target: Any = None  # the optimizer whose apply is shadowed, while fit runs
        self._previous_apply = None
        self._rate = float("nan")
        self._step = 0

    # ---- the shadowed apply ------------------------------------------------------------------------------

    def _install(self, optimizer: keras.optimizers.Optimizer) -> None:
        target = _gradient_target(optimizer)
        original = target.apply
        backend = keras.backend.backend()
        if backend != "jax":
            self._norm_variable = keras.Variable(0.0, dtype="float32", trainable=False, name="grad_norm")
        log_every = self.log_every
        monitor = self

        def apply(grads: Any, trainable_variables: Any = None) -> Any:
            norm = _global_norm([g for g in grads if g is not None])
            if backend == "jax":
                monitor._emit_jax(norm, target._iterations, log_every)
            else:
                monitor._norm_variable.assign(norm)
            return original(grads, trainable_variables)

        self._target = target
        self._previous_apply = vars(target).get("apply")
        target.apply = apply

    def _emit_jax(self, norm: Any, iterations: Any, log_every: int) -> None:
        # Only JAX needs a host callback: its step is a pure function, a variable assigned in it is lost.
        import jax

        def receive(value: Any, step: Any) -> None:
            self._received[int(step)] = float(value)

        step = ops.convert_to_tensor(iterations)
        jax.lax.cond(
            step % log_every == 0,
            lambda: jax.debug.callback(receive, norm, step),
            lambda: None,
        )

    def _uninstall(self) -> None:
        if self._target is None:
            return
        target = self._target
        if self._previous_apply is None:
            vars(target).pop("apply", None)
        else:
            target.apply = self._previous_apply
        # A HyperparameterScheduler that installed its wrapper below this one could not remove it while this one
        # was on top; its table is empty by now: peel it off.
        installed = vars(target).get("apply")
        while installed is not None and getattr(installed, STEP_HOOKS, None) == {}:
            previous = getattr(installed, PREVIOUS_APPLY)
            if previous is None:
                vars(target).pop("apply", None)
            else:
                target.apply = previous
            installed = previous
        self._target = None

    # ---- callback ------------------------------------------------------------------------------------------

    def _read_step(self) -> None:
        # One read of the step counter per epoch; batches are counted on the host in between. The counter is the
        # one that advances every batch (`iterations` advances once per update with gradient accumulation).
        self.model  # noqa: B018  (syncs JAX state)
        self._step = int(ops.convert_to_numpy(self._target._iterations))

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        self._install(ensure_optimizer_built(model, "OptimizerMonitor"))
        self._received = {}
        self.last = {}
        retrace_train_step(model)
        self._read_step()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._read_step()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._uninstall()
        retrace_train_step(self.model)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._step % self.log_every:
            self._before = None
            return
        self._before = [ops.copy(v.value) for v in self.model.trainable_variables]
        if self._norm_variable is not None:
            # Stays NaN if the optimizer does not step (a LossScaleOptimizer that found non-finite gradients).
            self._norm_variable.assign(float("nan"))
        self._rates = learning_rate_logs(self.model.optimizer)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self._step
        self._step += 1
        if self._before is None or logs is None:
            return
        model = self.model
        after = model.trainable_variables
        update = _global_norm([a.value - b for a, b in zip(after, self._before, strict=True)])
        weight = _global_norm(self._before)
        values = {
            **self._rates,
            "update_ratio": float(ops.convert_to_numpy(update)) / max(float(ops.convert_to_numpy(weight)), 1e-30),
        }
        decay = getattr(model.optimizer, "weight_decay", None)
        if decay is not None:
            values["weight_decay"] = float(ops.convert_to_numpy(decay))
        if keras.backend.backend() == "jax":
            import jax

            jax.effects_barrier()
            values["grad_norm"] = self._received.get(step, float("nan"))
            self._received.clear()
        else:
            values["grad_norm"] = float(ops.convert_to_numpy(self._norm_variable))
        self.last = values
        logs.update(values)
        self._before = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs.update(self.last)

    def get_config(self) -> dict[str, Any]:
        return {"log_every": self.log_every}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OptimizerMonitor:
        return cls(**config)

