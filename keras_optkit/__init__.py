"""keras_optkit: optimizers, learning-rate schedules, regularizers, callbacks and Keras Tuner wrappers for Keras 3."""

__version__ = "0.1.0"

from keras_optkit._backend_check import check_backend_installed

check_backend_installed()

from keras_optkit import callbacks, optimizers, regularizers, schedules, tuner, viz  # noqa: E402
from keras_optkit._registry import RegistryEntry, get_entry, list_entries  # noqa: E402

__all__ = [
    "__version__",
    "RegistryEntry",
    "callbacks",
    "get_entry",
    "list_entries",
    "optimizers",
    "regularizers",
    "schedules",
    "tuner",
    "viz",
]
