"""How the package knows that the `keras-optkit` command is importing it.

``import keras_optkit`` imports every subpackage, and with them Keras and its backend (seconds, and TensorFlow's
start-up log lines), because importing them registers the classes that ``.keras`` files name. The command needs
none of that to print ``--help`` or ``--version`` or to refuse a bad argument, so when it is the program that runs,
the package imports nothing heavy and the command imports what each subcommand uses (see ``cli.py``). Any public
name read from the package in that mode imports it on first use. Standard library only.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

COMMAND = "keras-optkit"


def imported_by_the_command() -> bool:
    """True when the running program is the ``keras-optkit`` console script (pip's launcher on every platform:
    ``keras-optkit``, ``keras-optkit.exe``, ``keras-optkit-script.py``)."""
    argv = getattr(sys, "argv", None) or [""]
    # Both separators: the path may be Windows' while the test runs elsewhere.
    name = str(argv[0]).replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".exe", "-script.pyw", "-script.py"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name == COMMAND


def public_attribute(name: str) -> Any:
    """A public name of the package, imported on first use (the module ``__getattr__`` of the command's mode)."""
    package = sys.modules["keras_optkit"]
    if name.startswith("_") or name not in getattr(package, "__all__", ()):
        raise AttributeError(f"module 'keras_optkit' has no attribute {name!r}")
    from keras_optkit._backend_check import check_backend_installed

    check_backend_installed()
    try:
        value = importlib.import_module(f"keras_optkit.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"keras_optkit.{name}":
            raise
        value = getattr(importlib.import_module("keras_optkit._registry"), name)
    setattr(package, name, value)
    return value
