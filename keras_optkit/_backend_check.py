"""No backend is a hard dependency: before Keras is imported, check that the backend Keras will pick is installed,
and name the extra that installs it if it is not."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

# Keras backend name -> (the module it imports, the name people know it by, the extra of this package)
BACKENDS = {
    "tensorflow": ("tensorflow", "TensorFlow", "tensorflow"),
    "jax": ("jax", "JAX", "jax"),
    "torch": ("torch", "PyTorch", "torch"),
}


def selected_backend() -> tuple[str, str]:
    """The backend Keras uses (or will use once imported) and where that choice comes from."""
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "backend"):
        try:
            return sys.modules["keras"].backend.backend(), "the imported keras"
        except Exception:  # a half-imported keras: fall through to its own rules
            pass
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name, "KERAS_BACKEND"
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    config_path = os.path.join(keras_home, "keras.json")
    try:
        with open(config_path) as config_file:
            name = json.load(config_file).get("backend")
    except (OSError, ValueError, AttributeError):
        name = None
    if name:
        return name, config_path
    return "tensorflow", "Keras's default (KERAS_BACKEND is not set)"


def check_backend_installed() -> None:
    """Raise ``ImportError`` naming the extra to install if the selected backend's package is missing."""
    name, source = selected_backend()
    if name not in BACKENDS:
        return  # Keras reports backends it does not know itself ("numpy", "openvino")
    module, label, extra = BACKENDS[name]
    if importlib.util.find_spec(module) is not None:
        return
    others = [f"KERAS_BACKEND={other}" for other, (mod, _, _) in BACKENDS.items()
              if other != name and importlib.util.find_spec(mod) is not None]
    hint = f", or select an installed one ({' or '.join(others)})" if others else ""
    raise ImportError(
        f"keras_optkit: Keras's backend is {name!r} (from {source}) but {label} is not installed. Install it with "
        f"`pip install \"keras-optkit[{extra}]\"`{hint}. Extras: tensorflow, jax, torch."
    )
