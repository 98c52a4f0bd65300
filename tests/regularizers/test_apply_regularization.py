"""apply_regularization: penalties equal the hand computation, predictions unchanged, nested models, errors."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.regularizers import L1L2, L2, L2SP, GroupLasso, apply_regularization

RNG = np.random.default_rng(3)
X = RNG.normal(size=(6, 5)).astype("float32")


def _np(value):
    return np.asarray(ops.convert_to_numpy(value), dtype=np.float64)


def nested_model():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(6, name="inner_dense"), keras.layers.BatchNormalization(name="bn")],
        name="inner",
    )
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(8, activation="relu", name="first")(inputs)
    outputs = keras.layers.Dense(3, name="head")(inner(hidden))
    return keras.Model(inputs, outputs)


def _kernels(model, names):
    layers = {"first": model.get_layer("first"), "head": model.get_layer("head"),
              "inner_dense": model.get_layer("inner").get_layer("inner_dense")}
    return [_np(layers[name].kernel) for name in names]


def test_penalties_equal_the_hand_computation_and_predictions_are_unchanged():
    model = nested_model()
    before = _np(model(X))
    regularizer = L2(0.1)
    regularized = apply_regularization(model, kernel_regularizer=regularizer)
    np.testing.assert_array_equal(_np(regularized(X)), before)
    kernels = _kernels(model, ["first", "inner_dense", "head"])
    assert sorted(_np(loss) for loss in regularized.losses) == pytest.approx(
        sorted(0.1 * (k**2).sum() for k in kernels), rel=1e-6)
    # One shared instance: one variable, and one assignment changes every penalty.
    assert sum(v is regularizer.l2 for v in regularized.non_trainable_variables) == 1
    regularizer.set_strength(l2=0.5)
    assert sum(_np(loss) for loss in regularized.losses) == pytest.approx(
        sum(0.5 * (k**2).sum() for k in kernels), rel=1e-6)
    assert not model.losses  # the original model is untouched


def test_layer_selection_bias_and_activity_regularizers():
    model = nested_model()
    chosen = apply_regularization(model, kernel_regularizer=L1L2(l1=0.01), bias_regularizer="l2",
                                  activity_regularizer=keras.regularizers.L2(0.001), layers="first|head")
    assert chosen.get_layer("inner").get_layer("inner_dense").kernel_regularizer is None
    assert isinstance(chosen.get_layer("first").kernel_regularizer, L1L2)
    assert isinstance(chosen.get_layer("head").bias_regularizer, keras.regularizers.L2)
    chosen(X)
    kernel_first, kernel_head = _kernels(model, ["first", "head"])
    bias_first, bias_head = _np(model.get_layer("first").bias), _np(model.get_layer("head").bias)
    weight_penalties = 0.01 * (np.abs(kernel_first).sum() + np.abs(kernel_head).sum()) + 0.01 * (
        (bias_first**2).sum() + (bias_head**2).sum())
    hidden = np.maximum(X @ kernel_first + bias_first, 0)
    output = _np(chosen(X))
    activity = 0.001 * ((hidden**2).sum() + (output**2).sum()) / len(X)
    assert sum(_np(loss) for loss in chosen.losses) == pytest.approx(weight_penalties + activity, rel=1e-5)
    by_callable = apply_regularization(model, kernel_regularizer=L2(0.1), layers=lambda layer: layer.name == "head")
    assert len(by_callable.losses) == 1


def test_sequential_model_trains_with_the_penalty(digits_split):
    x, y, _, _ = digits_split
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    plain = apply_regularization(model, kernel_regularizer=L2(0.0))
    strong = apply_regularization(model, kernel_regularizer=L2(0.05))
    for candidate in (plain, strong):
        candidate.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        candidate.fit(x[:256], y[:256], batch_size=64, epochs=3, verbose=0)
    norm = lambda m: sum((_np(w) ** 2).sum() for w in m.trainable_weights if len(w.shape) == 2)  # noqa: E731
    assert norm(strong) < 0.8 * norm(plain)


def test_l2sp_takes_each_layers_current_weights_as_reference(tmp_path):
    model = nested_model()
    regularized = apply_regularization(model, kernel_regularizer=L2SP(0.3), layers="first|head")
    assert [_np(loss) for loss in regularized.losses] == [0.0, 0.0]
    first = regularized.get_layer("first")
    first.kernel.assign(first.kernel + 0.5)
    assert sorted(_np(loss) for loss in regularized.losses) == pytest.approx([0.0, 0.3 * 0.25 * 5 * 8])
    regularized.compile("sgd", "mse")
    regularized.save(tmp_path / "l2sp.keras")
    loaded = keras.saving.load_model(tmp_path / "l2sp.keras")
    assert sorted(_np(loss) for loss in loaded.losses) == pytest.approx([0.0, 0.3 * 0.25 * 5 * 8])


def test_errors():
    model = nested_model()
    with pytest.raises(ValueError, match="layers"):
        apply_regularization(model, kernel_regularizer=L2(0.1), layers="no_such_layer")
    with pytest.raises(ValueError, match="at least one"):
        apply_regularization(model)
    with pytest.raises(TypeError, match="kernel_regularizer"):
        apply_regularization(model, kernel_regularizer=3.5)
    with pytest.raises(ValueError, match="reference"):
        apply_regularization(model, kernel_regularizer=L2SP(0.1, reference_weights=np.zeros((5, 8))))
    with pytest.raises(ValueError, match="activity_regularizer"):
        apply_regularization(model, activity_regularizer=L2SP(0.1))
    with pytest.raises(TypeError, match="layers"):
        apply_regularization(model, kernel_regularizer=L2(0.1), layers=3)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    subclassed = Subclassed()
    subclassed(X)
    with pytest.raises(ValueError, match="subclassed"):
        apply_regularization(subclassed, kernel_regularizer=GroupLasso(0.1))
    with pytest.raises(TypeError, match="model"):
        apply_regularization("model", kernel_regularizer=L2(0.1))


@pytest.mark.parametrize("layer_class", [keras.layers.GRU, keras.layers.LSTM, keras.layers.SimpleRNN])
def test_recurrent_layers_get_the_penalty_on_their_input_kernel_and_bias(layer_class):
    # Keras's recurrent layers expose their cell's regularizers through read-only properties.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 3)), layer_class(5, name="rnn"), keras.layers.Dense(2, name="head")])
    sequences = RNG.normal(size=(6, 4, 3)).astype("float32")
    before = _np(model(sequences))
    regularized = apply_regularization(model, kernel_regularizer=L2(0.1), bias_regularizer=L2(0.2))
    np.testing.assert_array_equal(_np(regularized(sequences)), before)
    cell = model.get_layer("rnn").cell
    expected = [0.1 * (_np(cell.kernel) ** 2).sum(), 0.2 * (_np(cell.bias) ** 2).sum(),
                0.1 * (_np(model.get_layer("head").kernel) ** 2).sum(),
                0.2 * (_np(model.get_layer("head").bias) ** 2).sum()]
    assert sorted(_np(loss) for loss in regularized.losses) == pytest.approx(sorted(expected), rel=1e-6)
    # L2-SP: each recurrent layer's reference is its own current input kernel.
    anchored = apply_regularization(model, kernel_regularizer=L2SP(0.3), layers="rnn")
    assert [_np(loss) for loss in anchored.losses] == [0.0]
    kernel = anchored.get_layer("rnn").cell.kernel
    kernel.assign(kernel + 0.5)
    assert _np(anchored.losses[0]) == pytest.approx(0.3 * 0.25 * int(np.prod(kernel.shape)), rel=1e-6)


def test_layers_inside_bidirectional_and_time_distributed_get_the_penalty():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 3))
    hidden = keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True), name="both")(inputs)
    outputs = keras.layers.TimeDistributed(keras.layers.Dense(2), name="each")(hidden)
    model = keras.Model(inputs, outputs)
    sequences = RNG.normal(size=(6, 4, 3)).astype("float32")
    before = _np(model(sequences))
    regularized = apply_regularization(model, kernel_regularizer=L2(0.1))
    np.testing.assert_array_equal(_np(regularized(sequences)), before)
    both = model.get_layer("both")
    kernels = [both.forward_layer.cell.kernel, both.backward_layer.cell.kernel, model.get_layer("each").layer.kernel]
    assert sorted(_np(loss) for loss in regularized.losses) == pytest.approx(
        sorted(0.1 * (_np(k) ** 2).sum() for k in kernels), rel=1e-6)
    # L2-SP: one reference per direction, each its own current kernel; the copy keeps the weights.
    anchored = apply_regularization(model, kernel_regularizer=L2SP(0.3), layers="both")
    assert [_np(loss) for loss in anchored.losses] == [0.0, 0.0]
    np.testing.assert_array_equal(_np(anchored(sequences)), before)
