"""A missing backend is named, with the extra that installs it, when keras_optkit is imported."""

import subprocess
import sys

import pytest

from keras_optkit import _backend_check


@pytest.mark.parametrize(("backend", "label", "extra"), [
    ("tensorflow", "TensorFlow", "tensorflow"), ("jax", "JAX", "jax"), ("torch", "PyTorch", "torch"),
])
def test_a_missing_backend_names_its_extra(monkeypatch, backend, label, extra):
    installed = {"tensorflow", "jax", "torch"} - {backend}
    monkeypatch.setattr(_backend_check, "selected_backend", lambda: (backend, "KERAS_BACKEND"))
    monkeypatch.setattr(_backend_check.importlib.util, "find_spec",
                        lambda name: object() if name in installed else None)
    with pytest.raises(ImportError, match=rf"{label} is not installed.*keras-optkit\[{extra}\]") as raised:
        _backend_check.check_backend_installed()
    for other in installed:  # and the installed ones as a way out
        assert f"KERAS_BACKEND={other}" in str(raised.value)


def test_an_installed_backend_passes(monkeypatch):
    monkeypatch.setattr(_backend_check, "selected_backend", lambda: ("jax", "KERAS_BACKEND"))
    monkeypatch.setattr(_backend_check.importlib.util, "find_spec", lambda name: object() if name == "jax" else None)
    _backend_check.check_backend_installed()


def test_the_choice_follows_keras_rules(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert _backend_check.selected_backend() == ("torch", "KERAS_BACKEND")
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert _backend_check.selected_backend()[0] == "tensorflow"  # no keras.json: Keras's default
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    assert _backend_check.selected_backend() == ("jax", str(tmp_path / "keras.json"))


def test_importing_the_package_with_a_backend_that_is_not_there_fails_clearly():
    # A backend name Keras knows but whose module cannot be imported in this interpreter: a fresh process whose
    # import system hides it.
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'torch' else real(name, *a)\n"
        "import os; os.environ['KERAS_BACKEND'] = 'torch'\n"
        "import keras_optkit\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert 'pip install "keras-optkit[torch]"' in completed.stderr
