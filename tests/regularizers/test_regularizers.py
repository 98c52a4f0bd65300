"""Tunable L1 / L2 / L1L2, GroupLasso and L2SP: penalties against NumPy, strengths changed without retracing,
serialization, and behaviour on digits."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.regularizers import L1, L1L2, L2, L2SP, GroupLasso, list_regularizers

RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def group_lasso_reference(w, strength, axis):
    w = np.asarray(w, dtype=np.float64)
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    return strength * np.sqrt(moved.shape[1]) * np.linalg.norm(moved, axis=1).sum()


WEIGHTS = {
    "dense": RNG.normal(size=(7, 5)).astype("float32"),
    "conv2d": RNG.normal(size=(3, 3, 4, 6)).astype("float32"),
    "vector": RNG.normal(size=(9,)).astype("float32"),
}


@pytest.mark.parametrize("shape_name", sorted(WEIGHTS))
def test_l1_l2_l1l2_equal_numpy_and_keras(shape_name):
    w = WEIGHTS[shape_name]
    w64 = w.astype(np.float64)
    cases = [
        (L1(0.03), 0.03 * np.abs(w64).sum(), keras.regularizers.L1(0.03)),
        (L2(0.02), 0.02 * (w64**2).sum(), keras.regularizers.L2(0.02)),
        (L1L2(l1=0.01, l2=0.05), 0.01 * np.abs(w64).sum() + 0.05 * (w64**2).sum(),
         keras.regularizers.L1L2(l1=0.01, l2=0.05)),
    ]
    for ours, expected, theirs in cases:
        assert _np(ours(w)) == pytest.approx(expected, rel=1e-6)
        assert _np(ours(w)) == pytest.approx(_np(theirs(w)), rel=1e-6)


@pytest.mark.parametrize(("shape_name", "axis"), [("dense", -1), ("dense", 0), ("conv2d", -1), ("conv2d", 2),
                                                  ("vector", 0)])
def test_group_lasso_equals_numpy(shape_name, axis):
    w = WEIGHTS[shape_name]
    assert _np(GroupLasso(0.04, axis=axis)(w)) == pytest.approx(group_lasso_reference(w, 0.04, axis), rel=1e-6)


def _gradient(fn, value):
    """d fn / d value at ``value`` (a NumPy array), with the backend's own autodiff: Keras has none of its own."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(ops.convert_to_tensor(value)))
    if backend == "torch":
        import torch

        tensor = torch.tensor(value, requires_grad=True)
        (grad,) = torch.autograd.grad(fn(tensor), [tensor])
        return grad.numpy()
    import tensorflow as tf

    tensor = tf.constant(value)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        result = fn(tensor)
    return tape.gradient(result, tensor).numpy()


def test_group_lasso_gradient_is_finite_at_a_zero_group():
    w = WEIGHTS["dense"].copy()
    w[:, 2] = 0.0
    grad = _gradient(GroupLasso(0.1), w)
    assert np.all(np.isfinite(grad))
    assert np.all(grad[:, 2] == 0.0)
    column = w[:, 0].astype(np.float64)
    expected = 0.1 * np.sqrt(7) * column / np.linalg.norm(column)
    np.testing.assert_allclose(grad[:, 0], expected, rtol=1e-5)


def test_l2sp_equals_numpy_and_needs_a_reference():
    w = WEIGHTS["dense"]
    reference = RNG.normal(size=w.shape).astype("float32")
    expected = 0.3 * ((w.astype(np.float64) - reference) ** 2).sum()
    assert _np(L2SP(0.3, reference_weights=reference)(w)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="reference"):
        L2SP(0.3)(w)
    with pytest.raises(ValueError, match="shape"):
        L2SP(0.3, reference_weights=reference)(WEIGHTS["vector"])


def _one_dense_model(regularizer, jit_compile):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, use_bias=False, kernel_regularizer=regularizer, name="dense")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("jit_compile", [False, True])
def test_assigning_the_strength_changes_the_next_step_without_retracing(jit_compile):
    if keras.backend.backend() == "jax" and not jit_compile:
        pytest.skip("the JAX train step is always compiled; covered by jit_compile=True")
    regularizer = L2(0.0)
    model = _one_dense_model(regularizer, jit_compile)
    x = RNG.normal(size=(4, 3)).astype("float32")
    y = RNG.normal(size=(4, 2)).astype("float32")
    w = _np(model.get_layer("dense").kernel)
    strengths = [0.0, 0.5, 2.0]

    class Anneal(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            # Through self.model: on JAX this syncs the state, so the trainer reads the assignment.
            self.model.get_layer("dense").kernel_regularizer.l2.assign(strengths[batch])

    model.fit(x, y, batch_size=4, epochs=3, steps_per_epoch=1, shuffle=False, verbose=0, callbacks=[Anneal()])
    # Each epoch is one step at batch 0, so the strength is strengths[0] every time: then move the schedule.
    for _ in range(3):
        w = w - 0.1 * (2.0 / (4 * 2) * x.T.astype(np.float64) @ (x @ w - y) + 2 * strengths[0] * w)
    np.testing.assert_allclose(_np(model.get_layer("dense").kernel), w, rtol=1e-5)

    # One epoch of three steps with three strengths: the compiled step must read each new value.
    model.fit(np.tile(x, (3, 1)), np.tile(y, (3, 1)), batch_size=4, epochs=1, shuffle=False, verbose=0,
              callbacks=[Anneal()])
    for strength in strengths:
        w = w - 0.1 * (2.0 / (4 * 2) * x.T.astype(np.float64) @ (x @ w - y) + 2 * strength * w)
    np.testing.assert_allclose(_np(model.get_layer("dense").kernel), w, rtol=1e-5)
    assert regularizer.current() == 2.0


def test_shared_instance_is_one_variable_and_one_assignment_changes_every_layer():
    regularizer = L1L2(l1=0.01, l2=0.02)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, kernel_regularizer=regularizer, name="a")(inputs)
    outputs = keras.layers.Dense(2, kernel_regularizer=regularizer, name="b")(hidden)
    model = keras.Model(inputs, outputs)
    strength_paths = [v.path for v in model.non_trainable_variables]
    assert len(strength_paths) == 2  # l1 and l2, once
    kernels = [_np(model.get_layer(n).kernel) for n in ("a", "b")]

    def expected(l1, l2):
        return [l1 * np.abs(k).sum() + l2 * (k**2).sum() for k in kernels]

    np.testing.assert_allclose([_np(loss) for loss in model.losses], expected(0.01, 0.02), rtol=1e-6)
    regularizer.set_strength(l1=0.0, l2=1.0)
    np.testing.assert_allclose([_np(loss) for loss in model.losses], expected(0.0, 1.0), rtol=1e-6)


def test_config_round_trips_and_keras_get_accepts_it():
    for regularizer in (L1(0.1), L2(0.2), L1L2(0.3, 0.4), GroupLasso(0.5, axis=0)):
        copy = type(regularizer).from_config(regularizer.get_config())
        assert copy.get_config() == regularizer.get_config()
        assert keras.regularizers.get(regularizer) is regularizer
        restored = keras.regularizers.deserialize(keras.regularizers.serialize(regularizer))
        assert type(restored) is type(regularizer) and restored.get_config() == regularizer.get_config()
    layer = keras.layers.Dense(3, kernel_regularizer=L2(0.25))
    clone = keras.layers.Dense.from_config(layer.get_config())
    assert isinstance(clone.kernel_regularizer, L2) and clone.kernel_regularizer.current() == 0.25


def test_keras_file_restores_the_current_strengths_and_the_l2sp_reference(tmp_path):
    l2 = L2(0.1)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, kernel_regularizer=l2, name="a")(inputs)
    reference = RNG.normal(size=(4, 2)).astype("float32")
    outputs = keras.layers.Dense(2, kernel_regularizer=L2SP(0.7, reference_weights=reference), name="b")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    l2.set_strength(l2=0.003)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.get_layer("a").kernel_regularizer.current() == pytest.approx(0.003)
    restored = loaded.get_layer("b").kernel_regularizer
    assert isinstance(restored, L2SP) and restored.current() == pytest.approx(0.7)
    np.testing.assert_array_equal(_np(restored.reference), reference)
    np.testing.assert_allclose([_np(v) for v in loaded.losses], [_np(v) for v in model.losses], rtol=1e-6)


def test_mixed_float16_penalty_is_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = keras.layers.Dense(3, kernel_regularizer=L2(0.1))
        layer.build((None, 4))
        (loss,) = layer.losses
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        assert _np(loss) == pytest.approx(0.1 * (_np(layer.kernel) ** 2).sum(), rel=1e-6)
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    ("factory", "match", "error"),
    [
        (lambda: L2(-0.1), "l2", ValueError),
        (lambda: L1(float("nan")), "l1", ValueError),
        (lambda: L1L2(l1="0.1"), "l1", TypeError),
        (lambda: GroupLasso(0.1, axis=1.5), "axis", TypeError),
        (lambda: GroupLasso(-1.0), "strength", ValueError),
        (lambda: L2SP(-0.1), "strength", ValueError),
        (lambda: L2(0.1).set_strength(l2=-1.0), "l2", ValueError),
        (lambda: L2(0.1).set_strength(l1=1.0), "strength name", ValueError),
    ],
)
def test_bad_arguments(factory, match, error):
    with pytest.raises(error, match=match):
        factory()


def test_every_regularizer_is_registered():
    assert {entry.name for entry in list_regularizers()} == {"L1", "L2", "L1L2", "GroupLasso", "L2SP"}
    for entry in list_regularizers():
        regularizer = entry.build()
        assert type(regularizer).from_config(regularizer.get_config()).get_config() == regularizer.get_config()


def _train_hidden(digits_split, regularizer, epochs=12):
    x, y, _, _ = digits_split
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu", kernel_regularizer=regularizer, name="hidden"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x[:600], y[:600], batch_size=64, epochs=epochs, verbose=0)
    return np.linalg.norm(_np(model.get_layer("hidden").kernel), axis=0)


def test_group_lasso_zeroes_whole_units_where_l2_shrinks_them_all(digits_split):
    group_norms = _train_hidden(digits_split, GroupLasso(0.003))
    l2_norms = _train_hidden(digits_split, L2(0.003))
    dead = lambda norms: int(np.sum(norms < 0.02 * norms.max()))  # noqa: E731
    assert dead(group_norms) >= 4
    assert dead(group_norms) > dead(l2_norms)


def test_hyperparameter_scheduler_anneals_a_tunable_strength_per_step():
    from keras_optkit.callbacks import HyperparameterScheduler
    from keras_optkit.schedules import LinearSchedule

    regularizer = L2(0.0)
    model = _one_dense_model(regularizer, jit_compile=True)
    x = RNG.normal(size=(4, 3)).astype("float32")
    y = RNG.normal(size=(4, 2)).astype("float32")
    w = _np(model.get_layer("dense").kernel)
    schedule = LinearSchedule(1.0, 0.0, total_steps=4)
    model.fit(np.tile(x, (5, 1)), np.tile(y, (5, 1)), batch_size=4, epochs=1, shuffle=False, verbose=0,
              callbacks=[HyperparameterScheduler(regularizer.l2, schedule)])
    for step in range(5):
        strength = max(1.0 - step / 4, 0.0)
        w = w - 0.1 * (2.0 / (4 * 2) * x.T.astype(np.float64) @ (x @ w - y) + 2 * strength * w)
    np.testing.assert_allclose(_np(model.get_layer("dense").kernel), w, rtol=1e-5)
