"""Argument checks shared by every object in the package.

Each check raises early, at construction, with a message that names the argument and shows the value received:
``ValueError("`beta_1` must be in [0, 1). Received: beta_1=1.5")``. Wrong types raise ``TypeError``.
Each check returns the value (converted to ``float`` or ``int``) so ``__init__`` can store what it validated.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras

# Training computes in float32: a hyperparameter beyond its range is inf there (1e300 is finite in float64 only),
# and a positive one below its smallest normal number is 0 or a denormal that kernels flush to 0.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38


def _received(name: str, value: Any) -> str:
    return f"Received: {name}={value!r}"


def check_number(name: str, value: Any) -> float:
    """Returns ``value`` as a finite ``float`` that float32 can hold; ``TypeError`` for non-numbers (``bool``
    included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number. {_received(name, value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite. {_received(name, value)}")
    if abs(value) > FLOAT32_MAX:
        raise ValueError(
            f"`{name}` must fit in float32 (|{name}| <= {FLOAT32_MAX:.4g}), the precision training computes in. "
            f"{_received(name, value)}"
        )
    return value


def check_bool(name: str, value: Any) -> bool:
    """A ``bool`` (``0``/``1`` and other truthy values are refused: they usually mean a misplaced argument)."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool. {_received(name, value)}")
    return value


def _check_not_zero_in_float32(name: str, number: float, value: Any) -> None:
    """For an argument that must be > 0: refuse a positive value that is 0 (or a flushed denormal) in float32."""
    if number < FLOAT32_TINY:
        raise ValueError(
            f"`{name}` must be at least {FLOAT32_TINY:.4g}: smaller values are 0 (or denormals flushed to 0) in "
            f"float32, the precision training computes in. {_received(name, value)}"
        )


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0 that does not round to 0 in float32."""
    number = check_number(name, value)
    if number <= 0:
        raise ValueError(f"`{name}` must be > 0. {_received(name, value)}")
    _check_not_zero_in_float32(name, number, value)
    return number


def check_non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    number = check_number(name, value)
    if number < 0:
        raise ValueError(f"`{name}` must be >= 0. {_received(name, value)}")
    return number


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> float:
    """A finite number in the interval given, e.g. ``[0, 1)`` by default."""
    number = check_number(name, value)
    above_low = number >= low if low_inclusive else number > low
    below_high = number <= high if high_inclusive else number < high
    if not (above_low and below_high):
        interval = f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
        raise ValueError(f"`{name}` must be in {interval}. {_received(name, value)}")
    if low == 0.0 and not low_inclusive:
        _check_not_zero_in_float32(name, number, value)
    return number


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """An integer (a float with an integral value is accepted), at least ``minimum`` if given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be an integer. {_received(name, value)}")
    if isinstance(value, numbers.Integral):
        integer = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        integer = int(value)  # type: ignore[call-overload]  # a Real that is a whole number
    else:
        raise TypeError(f"`{name}` must be an integer. {_received(name, value)}")
    if minimum is not None and integer < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}. {_received(name, value)}")
    return integer


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"`{name}` must be one of {options}. {_received(name, value)}")
    return value


def check_increasing_ints(name: str, values: Any, minimum: int = 0) -> list[int]:
    """A non-empty, strictly increasing sequence of integers, each at least ``minimum``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"`{name}` must be a list of integers. {_received(name, values)}")
    values = list(values)
    if not values:
        raise ValueError(f"`{name}` must not be empty. {_received(name, values)}")
    integers = [check_int(f"{name}[{index}]", value, minimum) for index, value in enumerate(values)]
    if any(later <= earlier for earlier, later in zip(integers, integers[1:], strict=False)):
        raise ValueError(f"`{name}` must be strictly increasing. {_received(name, values)}")
    return integers


def check_schedule_or_rate(name: str, value: Any) -> Any:
    """A ``LearningRateSchedule`` (kept as is) or a non-negative number (returned as ``float``)."""
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a number or a keras.optimizers.schedules.LearningRateSchedule. "
            f"{_received(name, value)}"
        )
    return check_non_negative(name, value)


def check_optional_int(name: str, value: Any, minimum: int | None = None) -> int | None:
    """``None``, or ``value`` checked by :func:`check_int`."""
    return None if value is None else check_int(name, value, minimum=minimum)


def check_growth_limit(name: str, value: Any) -> float:
    """A real number >= 1, infinity included (meaning "no limit")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number. {_received(name, value)}")
    value = float(value)
    if math.isnan(value) or value < 1.0:
        raise ValueError(f"`{name}` must be >= 1 (inf for no limit). {_received(name, value)}")
    return value


def check_patterns(name: str, value: Any) -> list[str] | None:
    """``None``, or a list of valid regular expressions (returned as a new list)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(
            f"`{name}` must be None or a list of regular expressions (strings). {_received(name, value)}"
        )
    for pattern in value:
        if not isinstance(pattern, str):
            raise TypeError(f"`{name}` must hold strings only. {_received(name, value)}")
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(
                f"`{name}` holds an invalid regular expression {pattern!r} ({error}). {_received(name, value)}"
            ) from None
    return list(value)


def check_optimizer_base_arguments(arguments: Mapping[str, Any]) -> None:
    """Checks the arguments every Keras optimizer takes, as this package's optimizers receive them.

    Keras passes them through unchecked: ``weight_decay=nan`` trains to NaN weights, ``clipnorm`` of 0, -1 or nan
    is silently ignored, ``loss_scale_factor=0`` gives NaN. Only the names present in ``arguments`` are checked.
    """
    if "learning_rate" in arguments:
        rate = arguments["learning_rate"]
        if isinstance(rate, bool) or not (
            isinstance(rate, (numbers.Real, keras.optimizers.schedules.LearningRateSchedule, keras.Variable))
            or callable(rate)
        ):
            raise TypeError(
                "`learning_rate` must be a number, a keras.optimizers.schedules.LearningRateSchedule or a "
                f"callable. {_received('learning_rate', rate)}"
            )
        if isinstance(rate, numbers.Real):
            check_non_negative("learning_rate", rate)
    for name in ("weight_decay",):
        if arguments.get(name) is not None:
            check_non_negative(name, arguments[name])
    for name in ("clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor"):
        if arguments.get(name) is not None:
            check_positive(name, arguments[name])
    if "use_ema" in arguments:
        check_bool("use_ema", arguments["use_ema"])
    if "ema_momentum" in arguments:
        check_in_range("ema_momentum", arguments["ema_momentum"], 0.0, 1.0, high_inclusive=True)
    if arguments.get("ema_overwrite_frequency") is not None:
        check_int("ema_overwrite_frequency", arguments["ema_overwrite_frequency"], minimum=1)
    if arguments.get("gradient_accumulation_steps") is not None:
        check_int("gradient_accumulation_steps", arguments["gradient_accumulation_steps"], minimum=2)


def check_rebuildable(model: Any, owner: str, remedy: str = "") -> None:
    """A ``TypeError`` unless ``model`` is a ``keras.Model``; a ``ValueError`` unless its config lists its layers
    (Sequential or functional), which ``owner`` needs to rebuild it. ``remedy`` says what to do instead."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}")
    if isinstance(model, keras.Sequential):
        return
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(
            f"{owner} rebuilds the model from its config: it needs a Sequential or functional model, not a "
            f"subclassed one ({type(model).__name__}).{' ' + remedy if remedy else ''} "
            f"Received: model={model.name!r}"
        )
