"""The one registry of the package's public objects.

Every public optimizer, schedule, regularizer and callback is registered with :func:`register`, which also makes it
Keras-serializable under the ``keras_optkit`` package, so ``.keras`` files load without ``custom_objects``. The
registry drives the ``keras-optkit`` command, ``list_schedules()`` and friends, and the parametrized tests: an entry
added here is tested the moment it exists.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import keras

KINDS = ("optimizer", "schedule", "regularizer", "callback", "sparsity_schedule")
PACKAGE = "keras_optkit"

_T = TypeVar("_T", bound=type)


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """One registered object.

    Attributes:
        name: The class name, e.g. ``"OneCycle"``.
        kind: One of ``"optimizer"``, ``"schedule"``, ``"regularizer"``, ``"callback"``,
            ``"sparsity_schedule"`` (step -> fraction of weights pruned; not learning-rate schedules).
        cls: The class itself.
        description: A one-line description.
        example: Constructor arguments of a small, valid instance (used by the CLI and the tests).
        flags: Capability flags, e.g. ``{"cyclic": True}`` for a schedule or ``{"wrapper": True}``
            for an optimizer wrapper.
    """

    name: str
    kind: str
    cls: type
    description: str
    example: Mapping[str, Any]
    flags: Mapping[str, Any]

    def build(self, **overrides: Any) -> Any:
        """Returns an instance built from ``example`` updated with ``overrides``."""
        return self.cls(**{**self.example, **overrides})


_ENTRIES: dict[str, dict[str, RegistryEntry]] = {kind: {} for kind in KINDS}


def register(
    kind: str,
    description: str,
    *,
    example: Mapping[str, Any] | None = None,
    **flags: Any,
) -> Callable[[_T], _T]:
    """Class decorator: registers ``cls`` and makes it Keras-serializable as ``keras_optkit>Name``."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    if not description or "\n" in description:
        raise ValueError(f"`description` must be one non-empty line. Received: description={description!r}")

    def decorator(cls: _T) -> _T:
        name = cls.__name__
        if name in _ENTRIES[kind]:
            raise ValueError(f"A {kind} named {name!r} is already registered.")
        keras.saving.register_keras_serializable(package=PACKAGE, name=name)(cls)
        if kind == "optimizer" and "__init__" in vars(cls):
            _check_base_arguments_first(cls)
        _ENTRIES[kind][name] = RegistryEntry(
            name=name,
            kind=kind,
            cls=cls,
            description=description,
            example=MappingProxyType(dict(example or {})),
            flags=MappingProxyType(dict(flags)),
        )
        return cls

    return decorator


def list_entries(kind: str) -> list[RegistryEntry]:
    """All entries of one kind, sorted by name."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    return [_ENTRIES[kind][name] for name in sorted(_ENTRIES[kind])]


def normalized_name(name: str) -> str:
    """How names are matched everywhere in the package: case-insensitive, without ``_`` or ``-``."""
    return name.replace("_", "").replace("-", "").lower()


def get_entry(kind: str, name: str) -> RegistryEntry:
    """The entry of one kind named ``name`` (case-insensitive; ``one_cycle`` finds ``OneCycle``)."""
    wanted = normalized_name(name)
    for entry in list_entries(kind):
        if entry.name.lower() == wanted:
            return entry
    known = ", ".join(entry.name for entry in list_entries(kind))
    raise ValueError(f"Unknown {kind} name. Received: name={name!r}. Known: {known}")


def _check_base_arguments_first(cls: Any) -> None:
    """Makes ``cls.__init__`` check the arguments of Keras's optimizer base class (``weight_decay``, ``clipnorm``,
    ...) before anything else, so every registered optimizer refuses bad ones the same way."""
    from keras_optkit._validation import check_optimizer_base_arguments

    original = cls.__init__
    signature = inspect.signature(original)
    extra = next((p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)  # let the constructor report the wrong call itself
        bound.apply_defaults()
        arguments: dict[Any, Any] = dict(bound.arguments)
        arguments.update(arguments.pop(extra, None) or {})
        check_optimizer_base_arguments(arguments)
        original(self, *args, **kwargs)

    cls.__init__ = __init__
