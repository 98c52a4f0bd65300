"""Every registered object refuses bad arguments at construction, generated from the registry: Keras's optimizer
base arguments on every optimizer, and float32 overflow / underflow on every float argument of every object."""

import inspect
import math

import pytest

from keras_optkit import list_entries
from keras_optkit._registry import KINDS

OPTIMIZERS = list_entries("optimizer")

# Keras's optimizer base arguments, each with values Keras itself lets through (or reports only mid-fit).
BAD_BASE_ARGUMENTS = {
    "weight_decay": [float("nan"), float("inf"), -1.0, 1e300],
    "clipnorm": [0.0, -1.0, float("nan"), 1e300],
    "clipvalue": [0.0, -1.0, float("nan")],
    "global_clipnorm": [0.0, -1.0, float("nan"), 1e300],
    "loss_scale_factor": [0.0, -2.0, float("nan"), 1e-300],
    "ema_momentum": [1.5, float("nan")],
    "ema_overwrite_frequency": [0, 2.5],
    "gradient_accumulation_steps": [1, 2.5],
    "use_ema": [1, "yes"],
}
GOOD_BASE_ARGUMENTS = {
    "weight_decay": 0.01, "clipnorm": 1.0, "clipvalue": 0.5, "global_clipnorm": 1.0, "loss_scale_factor": 4.0,
    "ema_momentum": 0.9, "ema_overwrite_frequency": 10, "gradient_accumulation_steps": 2, "use_ema": True,
}

BASE_CASES = [
    pytest.param(entry, name, value, id=f"{entry.name}-{name}={value!r}")
    for entry in OPTIMIZERS
    for name, values in BAD_BASE_ARGUMENTS.items()
    if name in inspect.signature(entry.cls.__init__).parameters
    for value in values
]


def test_every_optimizer_takes_the_base_arguments_by_name():
    missing = {
        entry.name: sorted(set(BAD_BASE_ARGUMENTS) - set(inspect.signature(entry.cls.__init__).parameters))
        for entry in OPTIMIZERS
    }
    assert not {name: args for name, args in missing.items() if args}


@pytest.mark.parametrize(("entry", "name", "value"), BASE_CASES)
def test_bad_base_argument_is_refused_at_construction(entry, name, value):
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        entry.build(**{name: value})


@pytest.mark.parametrize("entry", OPTIMIZERS, ids=[entry.name for entry in OPTIMIZERS])
@pytest.mark.parametrize("name", sorted(GOOD_BASE_ARGUMENTS))
def test_good_base_argument_is_kept(entry, name):
    optimizer = entry.build(**{name: GOOD_BASE_ARGUMENTS[name]})
    assert getattr(optimizer, name) == GOOD_BASE_ARGUMENTS[name]


def _float_arguments():
    """(entry, argument) for every argument of every registered object whose default or example is a float."""
    cases = []
    for kind in KINDS:
        for entry in list_entries(kind):
            parameters = inspect.signature(entry.cls.__init__).parameters
            for name, parameter in parameters.items():
                value = entry.example.get(name, parameter.default)
                if isinstance(value, float) and not isinstance(value, bool):
                    cases.append(pytest.param(entry, name, id=f"{entry.name}-{name}"))
    return cases


def _accepts(entry, name, value):
    try:
        entry.build(**{name: value})
    except (ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize(("entry", "name"), _float_arguments())
def test_float_arguments_that_overflow_or_vanish_in_float32_are_refused(entry, name):
    """1e300 is finite in float64 and inf in float32; 1e-300 is 0 there. An argument that refuses infinity must
    refuse 1e300 (and -1e300), and one that refuses 0 must refuse 1e-300, naming the argument."""
    checked = 0
    for huge in (1e300, -1e300):
        if not _accepts(entry, name, math.copysign(math.inf, huge)):
            checked += 1
            with pytest.raises(ValueError, match=f"`{name}`"):
                entry.build(**{name: huge})
    if not _accepts(entry, name, 0.0):
        checked += 1
        with pytest.raises(ValueError, match=f"`{name}`"):
            entry.build(**{name: 1e-300})
    if not checked:
        pytest.skip(f"{name} accepts inf, -inf and 0")
