"""The learning-rate range test: train briefly under exponentially growing rates, then put every
variable back."""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import (
    StateSnapshot,
    ensure_optimizer_built,
    gradient_accumulation_steps,
    innermost_optimizer,
    learning_rate_source,
    refuse_multi_optimizer,
    retrace_train_step,
    set_learning_rate,
    training_optimizer,
)
from keras_optkit.callbacks.lr_finder_result import LRFinderResult

__all__ = ["LRFinder", "LRFinderResult", "find_lr"]

_Schedule = keras.optimizers.schedules.LearningRateSchedule


def _check_sweep(
    start_lr: Any, end_lr: Any, num_steps: Any, smoothing: Any, diverge_threshold: Any
) -> tuple[float, float, int, float, float]:
    start_lr = check.check_positive("start_lr", start_lr)
    end_lr = check.check_positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(
            f"`end_lr` must be > `start_lr`. Received: start_lr={start_lr!r}, end_lr={end_lr!r}"
        )
    num_steps = check.check_int("num_steps", num_steps, minimum=2)
    smoothing = check.check_in_range("smoothing", smoothing, 0.0, 1.0)
    diverge_threshold = check.check_number("diverge_threshold", diverge_threshold)
    if diverge_threshold <= 1.0:
        raise ValueError(
            f"`diverge_threshold` must be > 1. Received: diverge_threshold={diverge_threshold!r}"
        )
    return start_lr, end_lr, num_steps, smoothing, diverge_threshold


@keras.saving.register_keras_serializable(package="keras_optkit", name="LRFinderSweep")
class _SweepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The sweep as a schedule of the optimizer's iteration count, while a schedule-driven optimizer
    is tested.

    Computed inside the compiled step, so it needs no retrace per batch. ``first_iteration`` is the
    count when the test began: the test's step ``i`` is iteration ``first_iteration + i``. It is
    serializable so that a checkpoint written during the test (e.g. by ``ModelCheckpoint``) loads.
    """

    def __init__(
        self, start_lr: float, end_lr: float, num_steps: int, first_iteration: int
    ) -> None:
        self.start_lr = float(start_lr)
        self.end_lr = float(end_lr)
        self.num_steps = int(num_steps)
        self.first_iteration = int(first_iteration)

    def __call__(self, step: Any) -> Any:
        test_step = ops.cast(step, "float32") - float(self.first_iteration)
        last = float(self.num_steps - 1)
        progress = ops.clip(test_step, 0.0, last) / last
        return self.start_lr * ops.exp(progress * math.log(self.end_lr / self.start_lr))

    def get_config(self) -> dict[str, Any]:
        return {
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "num_steps": self.num_steps,
            "first_iteration": self.first_iteration,
        }


@register(
    "callback",
    "Learning-rate range test: exponential sweep, smoothed loss, divergence stop, exact restore.",
    example={"start_lr": 1e-6, "end_lr": 1.0, "num_steps": 50},
)
class LRFinder(keras.callbacks.Callback):
    r"""The learning-rate range test: a short run under exponentially growing rates, then the
    model put back exactly as it was.

    Step :math:`i = 0, \dots, N-1` (:math:`N` = ``num_steps``) trains one batch at

    .. math:: \eta_i = \eta_{start} \, (\eta_{end} / \eta_{start})^{i / (N - 1)}

    and records the batch's loss :math:`\ell_i` and its smoothed value (an exponential moving
    average with bias correction, :math:`\beta` = ``smoothing``):

    .. math::
        a_i = \beta a_{i-1} + (1 - \beta)\, \ell_i, \quad a_{-1} = 0,
        \qquad s_i = a_i / (1 - \beta^{i+1}).

    The run stops after step :math:`N-1`, or as soon as :math:`s_i` is not finite or exceeds
    ``diverge_threshold`` times the lowest :math:`s` so far. When training ends, the weights, the
    BatchNorm statistics, the random-seed state and the optimizer's whole state (slots, iteration
    count, learning rate) are written back bit for bit. The measurements and the suggested rates
    are in :attr:`result` (:class:`LRFinderResult`).

    How the rate is driven: a float rate (a variable) is assigned before each batch. A schedule
    (this package's or Keras's) is swapped for the sweep written as a schedule of the optimizer's
    iteration count, counted from the iteration the test started at, as a float cannot be set on
    an optimizer built with a schedule; the train step is retraced, and retraced again once the
    original schedule object is put back. Wrapping optimizers
    (``keras.optimizers.LossScaleOptimizer``, :class:`keras_optkit.optimizers.Lookahead`) are
    driven through the optimizer they wrap.

    The recorded losses are the batches' own: the model's metrics are reset before each batch, so
    the running mean Keras logs after it holds that batch only. Recovering a batch's loss from two
    consecutive running means (:math:`n_i m_i - n_{i-1} m_{i-1}`, :math:`n` the samples seen)
    loses float32 precision as the epoch goes on, and needs the batch sizes, which the callback
    does not see. So the epoch-level logs of a run with this callback hold the last batch's values,
    which is harmless as the run is undone.

    Give ``fit`` at least ``num_steps`` batches (:func:`find_lr` does): a run that ends before the
    sweep does warns, and its result covers only the rates reached.

    Differences from fastai's ``lr_find``: the last step uses exactly ``end_lr`` (fastai's sweep
    stops one step short of it); the state is restored in memory rather than through a saved file.
    ``torch-lr-finder`` smooths without bias correction and stops at 5 times the best loss. Losses
    are assumed positive, as the divergence test compares ratios.

    Args:
        start_lr: Rate of the first step (> 0).
        end_lr: Rate of the last step (> ``start_lr``).
        num_steps: Number of steps of the sweep (integer >= 2).
        smoothing: :math:`\beta` of the moving average, in [0, 1) (0: no smoothing).
        diverge_threshold: Stop once the smoothed loss exceeds this multiple of its minimum (> 1).

    Raises:
        TypeError: When training starts, if the learning rate is neither a float nor a
            ``LearningRateSchedule``.
        ValueError: When training starts, if the model was compiled with ``steps_per_execution`` > 1
            (the rate must change between batches).

    Example:
        >>> import keras, numpy as np
        >>> from keras_optkit.callbacks import LRFinder
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
        >>> finder = LRFinder(start_lr=1e-4, end_lr=1.0, num_steps=10)
        >>> x, y = np.ones((80, 4), "float32"), np.zeros((80, 1), "float32")
        >>> _ = model.fit(x, y, batch_size=8, callbacks=[finder], verbose=0)
        >>> len(finder.result.learning_rates), round(float(model.optimizer.learning_rate), 6)
        (10, 0.01)

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        arXiv:1506.01186, section 3.3 (the range test, there with a linear sweep). The exponential
        sweep, the smoothing and the divergence stop follow fastai's ``lr_find``
        (https://docs.fast.ai/callback.schedule.html).
    """

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_steps: int = 100,
        smoothing: float = 0.98,
        diverge_threshold: float = 4.0,
    ) -> None:
        super().__init__()
        (
            self.start_lr,
            self.end_lr,
            self.num_steps,
            self.smoothing,
            self.diverge_threshold,
        ) = _check_sweep(start_lr, end_lr, num_steps, smoothing, diverge_threshold)
        self.result: LRFinderResult | None = None
        self._snapshot: StateSnapshot | None = None
        self._original_schedule: Any = None
        self._start_run()

    def learning_rate_at(self, step: int) -> float:
        """The rate of step ``step`` of the sweep (0-based)."""
        progress = min(max(step, 0), self.num_steps - 1) / (self.num_steps - 1)
        return self.start_lr * (self.end_lr / self.start_lr) ** progress

    def _start_run(self) -> None:
        self._step = 0
        self._average = 0.0
        self._best = math.inf
        self._diverged = False
        self._rates: list[float] = []
        self._losses: list[float] = []
        self._smoothed: list[float] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        optimizer = ensure_optimizer_built(model, type(self).__name__)
        if int(getattr(model, "steps_per_execution", 1) or 1) != 1:
            raise ValueError(
                "LRFinder changes the learning rate between batches and needs a model compiled "
                f"with steps_per_execution=1. Received: steps_per_execution="
                f"{model.steps_per_execution!r}"
            )
        refuse_multi_optimizer(
            optimizer, "LRFinder",
            "the range test sweeps one learning rate, and each sub-optimizer has its own. Run it on a model "
            "compiled with one sub-optimizer (for the group whose rate you are choosing).",
        )
        accumulation = gradient_accumulation_steps(optimizer)
        if accumulation:
            raise ValueError(
                "LRFinder changes the rate every batch, and an optimizer with gradient accumulation updates the "
                "weights only every gradient_accumulation_steps batches. Run the range test without it, with a "
                "batch size of batch_size * gradient_accumulation_steps (the same gradient per update). "
                f"Received: gradient_accumulation_steps={accumulation!r}"
            )
        source = learning_rate_source(optimizer)
        if not isinstance(source, (keras.Variable, _Schedule)):
            raise TypeError(
                "LRFinder needs a learning rate given as a float or a LearningRateSchedule. "
                f"Received: learning_rate={source!r}"
            )
        self._start_run()
        self.result = None
        self._snapshot = StateSnapshot(model)
        self._original_schedule = None
        if isinstance(source, _Schedule):
            owner = innermost_optimizer(optimizer)
            first_iteration = int(ops.convert_to_numpy(owner.iterations))
            self._original_schedule = source
            owner.learning_rate = _SweepSchedule(
                self.start_lr, self.end_lr, self.num_steps, first_iteration
            )
            retrace_train_step(model)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        # Through `self.model`: on JAX it syncs the state, so the trainer re-reads what is set here.
        model = self.model
        if self._original_schedule is None:
            set_learning_rate(model, self.learning_rate_at(self._step), type(self).__name__)
        model.reset_metrics()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not logs or "loss" not in logs:
            raise ValueError(f"LRFinder needs the batch loss in the logs. Received: logs={logs!r}")
        loss = float(logs["loss"])
        self._average = self.smoothing * self._average + (1.0 - self.smoothing) * loss
        smoothed = self._average / (1.0 - self.smoothing ** (self._step + 1))
        self._rates.append(self.learning_rate_at(self._step))
        self._losses.append(loss)
        self._smoothed.append(smoothed)
        self._step += 1
        if not math.isfinite(smoothed) or smoothed > self.diverge_threshold * self._best:
            self._diverged = True
        else:
            self._best = min(self._best, smoothed)
        if self._diverged or self._step >= self.num_steps:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._snapshot is not None and not self._diverged and self._step < self.num_steps:
            warnings.warn(
                f"LRFinder: training ended after {self._step} of num_steps={self.num_steps} steps "
                f"(rates up to {self.learning_rate_at(self._step - 1):.3g} of end_lr="
                f"{self.end_lr:g}); give fit at least num_steps batches, as find_lr does.",
                stacklevel=2,
            )
        self.restore()

    def restore(self) -> None:
        """Put back the state saved when training began and collect :attr:`result` (once; later
        calls do nothing). Called when training ends; :func:`find_lr` also calls it when training
        raised."""
        if self._snapshot is None:
            return
        model = self.model
        if self._original_schedule is not None:
            innermost_optimizer(model.optimizer).learning_rate = self._original_schedule
            self._original_schedule = None
            retrace_train_step(model)
        self._snapshot.restore(model)
        self._snapshot = None
        self.result = LRFinderResult(
            self._rates, self._losses, self._smoothed, diverged=self._diverged
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "num_steps": self.num_steps,
            "smoothing": self.smoothing,
            "diverge_threshold": self.diverge_threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LRFinder:
        return cls(**config)


def find_lr(
    model: keras.Model,
    x: Any,
    y: Any = None,
    batch_size: int = 32,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float = 0.98,
    diverge_threshold: float = 4.0,
    verbose: int = 0,
) -> LRFinderResult:
    """Runs the learning-rate range test (:class:`LRFinder`) on a compiled model and returns its
    result.

    Trains ``num_steps`` batches (fewer if the loss diverges), going through the data again as
    often as needed, then restores the model and its optimizer exactly, even when training raised.

    Args:
        model: A model compiled with an optimizer and a loss.
        x: Input arrays (with ``y``), a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``
            yielding ``(inputs, targets)``.
        y: Targets, when ``x`` holds arrays; ``None`` otherwise.
        batch_size: Batch size for arrays (integer >= 1); datasets keep their own batching.
        start_lr: As in :class:`LRFinder`.
        end_lr: As in :class:`LRFinder`.
        num_steps: As in :class:`LRFinder`.
        smoothing: As in :class:`LRFinder`.
        diverge_threshold: As in :class:`LRFinder`.
        verbose: Passed to ``fit`` (0: quiet).

    Returns:
        The :class:`LRFinderResult`.

    Raises:
        ValueError: For a model compiled without an optimizer, an invalid sweep, ``y`` missing for
            arrays or given with a dataset.
        TypeError: For ``x`` of an unsupported kind.

    Example:
        >>> import keras, numpy as np
        >>> from keras_optkit.callbacks import find_lr
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.Adam(1e-3), loss="mse")
        >>> x, y = np.ones((64, 4), "float32"), np.zeros((64, 1), "float32")
        >>> result = find_lr(model, x, y, batch_size=16, start_lr=1e-5, end_lr=1.0, num_steps=20)
        >>> len(result.learning_rates) <= 20
        True
    """
    training_optimizer(model, "find_lr")
    batch_size = check.check_int("batch_size", batch_size, minimum=1)
    verbose = check.check_int("verbose", verbose, minimum=0)
    finder = LRFinder(start_lr, end_lr, num_steps, smoothing, diverge_threshold)
    fit_arguments = _fit_arguments(x, y, batch_size, finder.num_steps)
    try:
        model.fit(**fit_arguments, callbacks=[finder], verbose=verbose)
    finally:
        finder.restore()
    if finder.result is None:  # fit returned without training (it raises otherwise)
        raise RuntimeError("find_lr: the range test did not run.")
    return finder.result


def _fit_arguments(x: Any, y: Any, batch_size: int, num_steps: int) -> dict[str, Any]:
    """``fit`` arguments giving at least ``num_steps`` batches (the callback stops at
    ``num_steps``)."""
    is_tf_dataset = type(x).__module__.startswith("tensorflow") and hasattr(x, "repeat")
    if is_tf_dataset or isinstance(x, keras.utils.PyDataset):
        if y is not None:
            raise ValueError(
                "`y` must be None when `x` is a dataset (it yields the targets). "
                f"Received: y of type {type(y).__name__}"
            )
        if is_tf_dataset:
            # A dataset keeps its own order (fit would only warn that it cannot shuffle it).
            return {"x": x.repeat(), "epochs": 1, "steps_per_epoch": num_steps, "shuffle": False}
        batches = x.num_batches
        if batches is None:
            return {"x": x, "epochs": 1, "steps_per_epoch": num_steps}
        return {"x": x, "epochs": math.ceil(num_steps / max(batches, 1))}
    leaves = keras.tree.flatten(x)
    if not leaves or not hasattr(leaves[0], "shape") or len(leaves[0].shape) == 0:
        raise TypeError(
            "`x` must be arrays, a tf.data.Dataset or a keras.utils.PyDataset. "
            f"Received: x of type {type(x).__name__}"
        )
    if y is None:
        raise ValueError("`y` is needed when `x` holds arrays. Received: y=None")
    samples = int(leaves[0].shape[0])
    if samples < 1:
        raise ValueError(f"`x` holds no samples. Received: x with shape {tuple(leaves[0].shape)}")
    batches_per_epoch = math.ceil(samples / batch_size)
    return {
        "x": x,
        "y": y,
        "batch_size": batch_size,
        "epochs": math.ceil(num_steps / batches_per_epoch),
    }
