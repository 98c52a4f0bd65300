"""Suite-wide pytest hooks and fixtures."""

import os
import tempfile

# torch.compile's kernel cache is shared by every process of the machine (/tmp/torchinductor_<user>): two test
# processes compiling the same kernel at once can read each other's half-written files. One cache per process;
# set before keras imports torch.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="torchinductor-"))

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    backend = keras.backend.backend()
    # The slowest end-to-end groups (the example scripts and notebooks, the README blocks, keras-tuner's
    # chief/worker search, the tuned-recipe quality check) exercise nothing backend-specific that the rest of the
    # suite does not: CI runs them on one backend.
    single_backend = os.environ.get("KERAS_OPTKIT_SINGLE_BACKEND", "tensorflow")
    skip_single = pytest.mark.skip(
        reason=f"an end-to-end group that runs on the {single_backend} backend only, to keep CI short "
        f"(KERAS_OPTKIT_SINGLE_BACKEND=all runs it on every backend); running on {backend}"
    )
    skip_tf_only = pytest.mark.skip(reason=f"needs the TensorFlow backend; running on {backend}")
    skip_torch_compile = pytest.mark.skip(
        reason="torch.compile takes 10-25 s per model on 2 CPU cores: on PyTorch the jit_compile=True cases of the "
        "tests marked torch_compile (one or two per callback, and compiled fit) cover it"
    )
    for item in items:
        callspec = getattr(item, "callspec", None)
        compiled = callspec is not None and callspec.params.get("jit_compile") is True
        if backend == "torch" and compiled and "torch_compile" not in item.keywords:
            item.add_marker(skip_torch_compile)
        if "tf_only" in item.keywords and backend != "tensorflow":
            item.add_marker(skip_tf_only)
        if "single_backend" in item.keywords and single_backend not in ("all", backend):
            item.add_marker(skip_single)


@pytest.fixture(scope="session")
def digits_split():
    """``(x_train, y_train, x_val, y_val)``: scikit-learn's bundled digits (no download), scaled to [0, 1], split
    80/20 with a fixed seed. Each test slices what it needs."""
    from keras_optkit.demo import load_digits_split

    return load_digits_split(seed=0)



@pytest.fixture(autouse=True)
def _fresh_torch_compile_cache():
    """On PyTorch, every test's `jit_compile=True` models really go through torch.compile.

    torch.compile gives up on a function after a few recompilations (8 by default) and then runs it eagerly with
    one warning; every new model recompiles Keras's train step, so without this only the first few compiled tests
    of a session would compile at all.
    """
    if keras.backend.backend() == "torch":
        import torch

        torch._dynamo.reset()
    yield
