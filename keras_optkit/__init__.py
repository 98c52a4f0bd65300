"""keras_optkit: optimizers, learning-rate schedules, regularizers, callbacks and Keras Tuner wrappers for Keras 3."""

__version__ = "0.1.0"

from keras_optkit._backend_check import check_backend_installed
from keras_optkit._launch import imported_by_the_command

if imported_by_the_command():
    # `keras-optkit --help` answers without importing Keras: the command imports what it runs (_launch.py).
    from keras_optkit._launch import public_attribute as __getattr__  # noqa: F401
else:
    check_backend_installed()

    from keras_optkit import callbacks, optimizers, pruning, regularizers, schedules, tuner, viz  # noqa: E402
    from keras_optkit._registry import RegistryEntry, get_entry, list_entries  # noqa: E402

__all__ = [
    "__version__",
    "RegistryEntry",
    "callbacks",
    "get_entry",
    "list_entries",
    "optimizers",
    "pruning",
    "regularizers",
    "schedules",
    "tuner",
    "viz",
]
