"""What `tune()` searches: learning rate, schedule, optimizer, weight decay, L1 / L2 strength, batch size."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import keras

from keras_optkit import _validation as check
from keras_optkit._registry import get_entry, list_entries, normalized_name
from keras_optkit.tuner.sparsity import sparsity_range

#: Schedule families: name -> one-line description. Each has its own conditional hyperparameters.
SCHEDULE_FAMILIES = {
    "constant": "the learning rate itself, all along",
    "warmup_cosine": "WarmupCosineDecay: linear warmup over a searched fraction of training, cosine decay to 0",
    "one_cycle": "OneCycle at the learning rate as peak, with a searched warmup fraction (runs of 3 steps or more)",
    "exponential": "Keras ExponentialDecay once per epoch by a searched rate",
    "cosine_restarts": "CosineAnnealingWarmRestarts with a searched number of cycles",
}

#: The shortest run, in optimizer steps, the ``one_cycle`` family fits: a step before the peak, the peak, a step
#: after it.
ONE_CYCLE_MIN_STEPS = 3

#: Keras's own optimizer families: family name -> class name in ``keras.optimizers`` (any name registered in
#: keras_optkit.optimizers is accepted as well). Names match case-insensitively, without ``_`` or ``-``.
KERAS_OPTIMIZER_CLASSES = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD",
    "adafactor": "Adafactor",
    "lamb": "Lamb",
    "lion": "Lion",
    "muon": "Muon",
    "schedule_free_adamw": "ScheduleFreeAdamW",
}
KERAS_OPTIMIZERS = tuple(KERAS_OPTIMIZER_CLASSES)


@dataclasses.dataclass(frozen=True)
class LogRange:
    """A log-uniform range ``[low, high]``; with ``include_zero`` a Boolean gate may switch the value off (0)."""

    low: float
    high: float
    include_zero: bool = False

    def validate(self, field: str) -> LogRange:
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(
                    f"`{field}` bounds must be numbers > 0. Received: {field}.{bound}={value!r}"
                )
        if not self.low <= self.high:
            raise ValueError(
                f"`{field}` must have low <= high. Received: {field}=({self.low!r}, {self.high!r})"
            )
        return self

    def narrowed(self, center: float, span: float) -> LogRange:
        """A range of ratio ``span`` (high / low) centred, in log scale, on ``center``."""
        half = math.sqrt(span)
        return LogRange(center / half, center * half, self.include_zero)


@overload
def _as_range(field: str, value: Any, include_zero: bool, optional: Literal[False]) -> LogRange: ...
@overload
def _as_range(field: str, value: Any, include_zero: bool, optional: bool = True) -> LogRange | None: ...
def _as_range(field: str, value: Any, include_zero: bool, optional: bool = True) -> LogRange | None:
    if value is None and optional:
        return None
    if isinstance(value, LogRange):
        return value.validate(field)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return LogRange(value[0], value[1], include_zero).validate(field)
    expected = "None or a (low, high) pair" if optional else "a (low, high) pair"
    raise TypeError(f"`{field}` must be {expected}. Received: {field}={value!r}")


def _searchable_optimizers() -> list[str]:
    """Registered optimizers that can be built from a learning rate alone (wrappers need an inner optimizer)."""
    return [e.name for e in list_entries("optimizer") if "optimizer" not in e.example]


def _optimizer_family(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"`optimizers` entries must be non-empty strings. Received: {name!r}")
    for family, class_name in KERAS_OPTIMIZER_CLASSES.items():
        if normalized_name(name) == normalized_name(family):
            if not hasattr(keras.optimizers, class_name):
                raise ValueError(
                    f"The optimizer family {family!r} needs keras.optimizers.{class_name}, which Keras "
                    f"{keras.__version__} does not have: upgrade Keras or leave it out of `optimizers`. "
                    f"Received: {name!r}"
                )
            return family
    known = list(KERAS_OPTIMIZERS) + _searchable_optimizers()
    try:
        family = get_entry("optimizer", name).name
    except ValueError:
        family = None  # type: ignore[assignment]  # refused just below
    if family not in known:
        raise ValueError(
            f"Unknown optimizer family in `optimizers`. Received: {name!r}. Known: {', '.join(known)}"
        )
    return family


@dataclasses.dataclass
class SearchSpace:
    """A declarative search space over the optimization recipe of a model.

    Every field has a sensible default, so ``SearchSpace()`` searches Adam, AdamW and SGD with momentum, five
    schedule families, the learning rate, weight decay and L2. Hyperparameters that belong to one family (SGD's
    momentum, OneCycle's warmup fraction, the L2 strength when L2 is switched off) are declared in keras-tuner
    conditional scopes, so a trial only carries the ones its choices use.

    Hyperparameter names: ``optimizer``, ``schedule``, ``<optimizer>/learning_rate`` (one range per optimizer
    family, since good rates differ by orders of magnitude between Adam and SGD), ``sgd/momentum``,
    ``<schedule>/...``, ``adamw/weight_decay``, ``weight_decay/on`` and ``weight_decay``, ``l1/on`` and ``l1``, ``l2/on`` and ``l2``,
    ``batch_size``, ``sparsity``.

    Args:
        learning_rate: ``(low, high)`` log-uniform range, or a dict ``{optimizer family: (low, high)}`` for
            per-family ranges (families missing from the dict use ``(1e-4, 1e-1)``). Always searched: None is
            refused (a TypeError), as every trial trains at some rate.
        optimizers: Optimizer families: Keras's ``"adam"``, ``"adamw"``, ``"sgd"`` (SGD with a searched
            momentum), ``"adafactor"``, ``"lamb"``, ``"lion"``, ``"muon"`` and ``"schedule_free_adamw"`` (Keras's
            class names are accepted too: ``"ScheduleFreeAdamW"``), and any optimizer registered in
            ``keras_optkit.optimizers`` by name (``"RAdam"``, ``"Adan"``, ...). Muon is Keras's: its Muon step
            on every 2-D kernel, the output layer's included (Keras's default; its ``exclude_layers`` is not
            searched), and its AdamW step on the other variables, both decayed by the searched weight decay.
            ScheduleFreeAdamW replaces a decaying schedule: search it with ``schedules=["constant"]`` (or a
            warmup) to use it as its authors intend.
        schedules: Schedule families, from :data:`SCHEDULE_FAMILIES`.
        weight_decay: ``(low, high)`` log-uniform decoupled weight decay (with the value 0 possible), or None for
            none. AdamW always decays: its range is searched as ``adamw/weight_decay`` without the "off" gate
            (``(1e-5, 1e-2)`` when this is None).
        l1: ``(low, high)`` log-uniform L1 strength (0 possible), or None for no L1.
        l2: ``(low, high)`` log-uniform L2 strength (0 possible), or None for no L2.
        regularize_layers: Which layers get the L1/L2 regularizers: None (every layer with a kernel), a regex on
            layer names, or a callable ``layer -> bool`` (see ``keras_optkit.regularizers.apply_regularization``).
        batch_sizes: Batch sizes to choose from, or None to keep the one given to ``fit``.
        sparsity: The final sparsity of gradual magnitude pruning: a ``(low, high)`` uniform range (bounds in
            [0, 1)), or None (no pruning). A trial prunes every Dense and Conv kernel with
            :func:`build_pruning`'s :class:`~keras_optkit.callbacks.MagnitudePruning`, so the search weighs the
            sparsity against the rest of the recipe (put the sparsity in the objective to prefer sparser models).

    Raises:
        ValueError: For an empty list, an unknown family, or a range with low > high or a bound <= 0.
        TypeError: For a range that is not a ``(low, high)`` pair (``learning_rate=None`` included).
    """

    learning_rate: Any = (1e-4, 1e-1)
    optimizers: Sequence[str] = ("adam", "adamw", "sgd")
    schedules: Sequence[str] = ("constant", "warmup_cosine", "one_cycle", "exponential", "cosine_restarts")
    weight_decay: Any = (1e-5, 1e-2)
    l1: Any = None
    l2: Any = (1e-6, 1e-2)
    regularize_layers: str | Callable[[keras.layers.Layer], bool] | None = None
    batch_sizes: Sequence[int] | None = None
    sparsity: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.optimizers, str) or not list(self.optimizers):
            raise ValueError(
                f"`optimizers` must be a non-empty list of names. Received: optimizers={self.optimizers!r}"
            )
        self.optimizers = tuple(dict.fromkeys(_optimizer_family(name) for name in self.optimizers))
        if isinstance(self.schedules, str) or not list(self.schedules):
            raise ValueError(
                f"`schedules` must be a non-empty list of names. Received: schedules={self.schedules!r}"
            )
        for name in self.schedules:
            check.check_choice("schedules", name, tuple(SCHEDULE_FAMILIES))
        self.schedules = tuple(dict.fromkeys(self.schedules))
        if isinstance(self.learning_rate, dict):
            unknown = [name for name in self.learning_rate if _optimizer_family(name) not in self.optimizers]
            if unknown:
                raise ValueError(
                    "`learning_rate` has ranges for optimizers that are not searched. "
                    f"Received: learning_rate keys {unknown!r}, optimizers={list(self.optimizers)!r}"
                )
            ranges = {_optimizer_family(k): v for k, v in self.learning_rate.items()}
            self.learning_rate_ranges: dict[str, LogRange] = {
                family: _as_range(f"learning_rate[{family!r}]", ranges.get(family, (1e-4, 1e-1)), False,
                                  optional=False)
                for family in self.optimizers
            }
        elif isinstance(self.learning_rate, (LogRange, tuple, list)):
            bounds = _as_range("learning_rate", self.learning_rate, False, optional=False)
            self.learning_rate_ranges = dict.fromkeys(self.optimizers, bounds)
        else:
            # Every trial trains at some rate, so there is no "no learning rate" (None) to search.
            raise TypeError(
                "`learning_rate` must be a (low, high) pair or a dict {optimizer family: (low, high)}. "
                f"Received: learning_rate={self.learning_rate!r}"
            )
        self.weight_decay_range = _as_range("weight_decay", self.weight_decay, True)
        self.l1_range = _as_range("l1", self.l1, True)
        self.l2_range = _as_range("l2", self.l2, True)
        if self.regularize_layers is not None and not (
            isinstance(self.regularize_layers, str) or callable(self.regularize_layers)
        ):
            raise TypeError(
                "`regularize_layers` must be None, a regex string or a callable. "
                f"Received: regularize_layers={self.regularize_layers!r}"
            )
        if isinstance(self.regularize_layers, str):
            try:
                re.compile(self.regularize_layers)
            except re.error as error:
                raise ValueError(
                    f"`regularize_layers` is not a valid regex ({error}). "
                    f"Received: regularize_layers={self.regularize_layers!r}"
                ) from None
        if self.batch_sizes is not None:
            if isinstance(self.batch_sizes, (str, int)) or not list(self.batch_sizes):
                raise ValueError(
                    "`batch_sizes` must be None or a non-empty list of integers. "
                    f"Received: batch_sizes={self.batch_sizes!r}"
                )
            self.batch_sizes = tuple(check.check_int("batch_sizes", b, minimum=1) for b in self.batch_sizes)
        self.sparsity_range = sparsity_range(self.sparsity)

    def fitted_to(self, total_steps: int) -> SearchSpace:
        """This space for runs of ``total_steps`` optimizer steps or more (the shortest trial's run).

        A run shorter than :data:`ONE_CYCLE_MIN_STEPS` cannot hold a cycle: ``one_cycle`` is then left out of
        the schedules with a warning (a ValueError if it is the only one). Returns ``self`` when nothing is left
        out.
        """
        total_steps = check.check_int("total_steps", total_steps, minimum=1)
        if total_steps >= ONE_CYCLE_MIN_STEPS or "one_cycle" not in self.schedules:
            return self
        schedules = [name for name in self.schedules if name != "one_cycle"]
        if not schedules:
            raise ValueError(
                f"The one_cycle schedule needs a run of at least {ONE_CYCLE_MIN_STEPS} steps (epochs x steps per "
                f"epoch), and it is the only one in `schedules`: add another or train longer. Received: "
                f"schedules={list(self.schedules)!r}, total_steps={total_steps}"
            )
        warnings.warn(
            f"The one_cycle schedule is left out of the search: a run of {total_steps} step(s) (epochs x steps "
            f"per epoch) is too short for a cycle (at least {ONE_CYCLE_MIN_STEPS}).",
            stacklevel=3,
        )
        copy = dataclasses.replace(self, schedules=schedules)
        copy.learning_rate_ranges = dict(self.learning_rate_ranges)
        return copy

    def with_learning_rates(self, ranges: dict[str, LogRange]) -> SearchSpace:
        """A copy whose per-family learning-rate ranges are replaced by ``ranges``."""
        copy = dataclasses.replace(self)
        copy.learning_rate_ranges = {**self.learning_rate_ranges, **ranges}
        return copy

    # ---- declaring hyperparameters -------------------------------------------------------------------------

    def declare(self, hp: Any) -> dict[str, Any]:
        """Declares this space's hyperparameters on ``hp`` (a ``keras_tuner.HyperParameters``) and returns the
        values the current trial uses, unused ones omitted."""
        values: dict[str, Any] = {}
        optimizer = hp.Choice("optimizer", list(self.optimizers))
        values["optimizer"] = optimizer
        for family in self.optimizers:
            with hp.conditional_scope("optimizer", [family]):
                bounds = self.learning_rate_ranges[family]
                rate = hp.Float(f"{family}/learning_rate", bounds.low, bounds.high, sampling="log")
                momentum = (
                    hp.Float("sgd/momentum", 0.8, 0.99) if family == "sgd" else None
                )
            if family == optimizer:
                values["learning_rate"] = rate
                if momentum is not None:
                    values["momentum"] = momentum
        schedule = hp.Choice("schedule", list(self.schedules))
        values["schedule"] = schedule
        for family in self.schedules:
            with hp.conditional_scope("schedule", [family]):
                extra = self._declare_schedule(hp, family)
            if family == schedule:
                values.update(extra)
        if "adamw" in self.optimizers:
            # AdamW always decays: its decay has no "off" gate.
            bounds = self.weight_decay_range or LogRange(1e-5, 1e-2)
            with hp.conditional_scope("optimizer", ["adamw"]):
                decay = hp.Float("adamw/weight_decay", bounds.low, bounds.high, sampling="log")
            if optimizer == "adamw":
                values["weight_decay"] = decay
        others = [family for family in self.optimizers if family != "adamw"]
        if self.weight_decay_range is not None and others:
            with hp.conditional_scope("optimizer", others):
                decay = self._declare_strength(hp, "weight_decay", self.weight_decay_range)
            if optimizer in others:
                values["weight_decay"] = decay
        for name, strength_bounds in (("l1", self.l1_range), ("l2", self.l2_range)):
            if strength_bounds is not None:
                values[name] = self._declare_strength(hp, name, strength_bounds)
        if self.batch_sizes is not None:
            values["batch_size"] = hp.Choice("batch_size", list(self.batch_sizes))
        if self.sparsity_range is not None:
            values["sparsity"] = hp.Float("sparsity", *self.sparsity_range)
        return values

    @staticmethod
    def _declare_strength(hp: Any, name: str, bounds: LogRange) -> float:
        # Log-uniform cannot reach 0, so "off" is a Boolean gate whose "on" branch holds the log-uniform value.
        on = hp.Boolean(f"{name}/on", default=True)
        with hp.conditional_scope(f"{name}/on", [True]):
            value = hp.Float(name, bounds.low, bounds.high, sampling="log")
        return value if on else 0.0

    @staticmethod
    def _declare_schedule(hp: Any, family: str) -> dict[str, Any]:
        if family == "warmup_cosine":
            return {"warmup_fraction": hp.Float("warmup_cosine/warmup_fraction", 0.0, 0.2)}
        if family == "one_cycle":
            return {"pct_start": hp.Float("one_cycle/pct_start", 0.1, 0.5)}
        if family == "exponential":
            return {"decay_rate": hp.Float("exponential/decay_rate", 0.5, 0.99)}
        if family == "cosine_restarts":
            return {"cycles": hp.Int("cosine_restarts/cycles", 1, 4)}
        return {}
