"""One-shot `prune`, `strip_pruning`, `shrink` and `sparsity_report`, against NumPy references."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.pruning import PruningMask, prune, shrink, sparsity_report, strip_pruning
from tests.reference import pruning as reference


def mlp(seed=0, units=(12, 8), inputs=8, activation="relu"):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((inputs,))]
    layers += [keras.layers.Dense(width, activation=activation, name=f"hidden{i}") for i, width in enumerate(units)]
    layers.append(keras.layers.Dense(3, name="out"))
    return keras.Sequential(layers)


def small_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 4)), keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(4),
    ])


def kernels(model):
    return [np.asarray(ops.convert_to_numpy(layer.kernel)) for layer in model.layers if hasattr(layer, "kernel")]


def with_ties(model):
    """Rounds the kernels to a coarse grid so that many magnitudes tie (the tie-break is then tested)."""
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            value = ops.convert_to_numpy(layer.kernel)
            layer.kernel.assign(np.round(value * 4) / 4)
    return model


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.77])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_prune_matches_the_reference_exactly(amount, scope):
    model = with_ties(mlp())
    before = kernels(model)
    prune(model, amount, scope=scope)
    expected = reference.weight_masks(before, amount, scope)
    for old, new, mask in zip(before, kernels(model), expected, strict=True):
        np.testing.assert_array_equal(new, old * mask)  # pruned ones zero, the rest unchanged
    if scope == "layer":
        for mask in expected:
            assert int(np.sum(mask == 0)) == round(amount * mask.size)
    else:
        total = sum(kernel.size for kernel in before)
        assert sum(int(np.sum(mask == 0)) for mask in expected) == round(amount * total)


def test_global_scope_prunes_layers_unevenly_and_layer_scope_evenly():
    model = mlp()
    model.layers[1].kernel.assign(ops.convert_to_numpy(model.layers[1].kernel) * 0.01)  # a layer of small weights
    layer_scope = prune(keras.models.clone_model(model), 0.5, scope="layer")
    report = sparsity_report(prune(model, 0.5, scope="global"))
    name = model.layers[1].name
    assert report[name]["sparsity"] == 1.0  # all of the small layer goes first
    assert report["total"]["zeros"] == round(0.5 * report["total"]["size"])
    del layer_scope


def test_prune_biases_and_unchosen_layers_are_untouched():
    model = mlp()
    numpy = lambda weight: np.asarray(ops.convert_to_numpy(weight))  # noqa: E731
    before = {layer.name: (numpy(layer.kernel), numpy(layer.bias)) for layer in model.layers}
    prune(model, 0.5, layers="^hidden")
    assert {layer.name for layer in model.layers if PruningMask.of(layer) is not None} == {"hidden0", "hidden1"}
    for layer in model.layers:
        kernel, bias = before[layer.name]
        np.testing.assert_array_equal(numpy(layer.bias), bias)
        if layer.name == "out":
            np.testing.assert_array_equal(numpy(layer.kernel), kernel)
        else:
            assert np.sum(numpy(layer.kernel) == 0) == round(0.5 * kernel.size)


def test_prune_with_a_callable_and_on_conv_kernels():
    model = small_cnn()
    conv_kernel = np.asarray(ops.convert_to_numpy(model.layers[0].kernel))
    prune(model, 0.4, layers=lambda layer: isinstance(layer, keras.layers.Conv2D))
    np.testing.assert_array_equal(kernels(model)[0], conv_kernel * reference.weight_masks([conv_kernel], 0.4, "layer")[0])
    assert PruningMask.of(model.layers[-1]) is None


@pytest.mark.parametrize("build", [mlp, small_cnn], ids=["dense", "conv"])
def test_unit_structure_matches_the_reference(build):
    model = build()
    before = kernels(model)
    prune(model, 0.5, structure="unit")
    for old, new in zip(before, kernels(model), strict=True):
        np.testing.assert_array_equal(new, old * reference.unit_mask(old, 0.5))
        dead = ~np.any(new.reshape(-1, new.shape[-1]) != 0, axis=0)
        assert dead.sum() == round(0.5 * new.shape[-1])


@pytest.mark.parametrize("build", [mlp, small_cnn], ids=["dense", "conv"])
def test_2_4_structure_matches_the_reference(build):
    model = with_ties(build())
    before = kernels(model)
    prune(model, 0.5, structure="2:4", layers=lambda layer: layer.kernel.shape[-2] % 4 == 0)
    pruned = [layer for layer in model.layers if PruningMask.of(layer) is not None]
    assert pruned
    for layer in pruned:
        index = [each for each in model.layers if hasattr(each, "kernel")].index(layer)
        expected = reference.n_m_mask(before[index], 2, 4)
        np.testing.assert_array_equal(np.asarray(ops.convert_to_numpy(layer.kernel)), before[index] * expected)
        groups = np.moveaxis(expected, -2, -1).reshape(-1, 4)
        assert np.all(groups.sum(axis=1) == 2)


def test_fine_tuning_after_prune_keeps_the_pruned_weights_zero():
    model = prune(mlp(), 0.6)
    masks = [PruningMask.of(layer).numpy() for layer in model.layers]
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(32, 8)), rng.normal(size=(32, 3)), batch_size=8, epochs=2, verbose=0)
    for layer, mask in zip(model.layers, masks, strict=True):
        kernel = np.asarray(ops.convert_to_numpy(layer.kernel))
        assert np.all(kernel[mask == 0] == 0) and np.all(kernel[mask == 1] != 0)


def test_prune_after_a_fit_retraces_so_the_next_fit_keeps_zeros():
    model = mlp()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 8)), rng.normal(size=(32, 3))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    prune(model, 0.5)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert sparsity_report(model)["total"]["zeros"] >= round(0.5 * sparsity_report(model)["total"]["size"])
    for layer in model.layers:
        kernel = np.asarray(ops.convert_to_numpy(layer.kernel))
        assert np.all(kernel[PruningMask.of(layer).numpy() == 0] == 0)


@pytest.mark.parametrize("call,error,text", [
    (lambda m: prune(m, 1.0), ValueError, "`amount` must be in [0, 1). Received: amount=1.0"),
    (lambda m: prune(m, -0.2), ValueError, "Received: amount=-0.2"),
    (lambda m: prune(m, 0.5, layers="no_such_layer"), ValueError, "Received: layers='no_such_layer'"),
    (lambda m: prune(m, 0.5, layers=lambda layer: False), ValueError, "Prunable layers: hidden0, hidden1, out"),
    (lambda m: prune(m, 0.5, layers=3), TypeError, "Received: layers=3"),
    (lambda m: prune(m, 0.5, layers="("), ValueError, "`layers` is not a valid regular expression"),
    (lambda m: prune(m, 0.5, scope="model"), ValueError, "`scope` must be one of 'layer', 'global'"),
    (lambda m: prune(m, 0.5, structure="block"), ValueError, "Received: structure='block'"),
    (lambda m: prune(m, 0.5, structure="4:2"), ValueError, "Received: structure='4:2'"),
    (lambda m: prune(m, 0.5, structure="unit", scope="global"), ValueError, "use scope='layer'"),
    (lambda m: prune(m, 0.3, structure="2:4"), ValueError, "`amount` must be 0.5"),
    (lambda m: prune(m, 0.5, structure="2:4", layers="hidden1"), ValueError, "10 inputs per output, not a multiple of 4"),
    (lambda m: prune("model", 0.5), TypeError, "`model` must be a keras.Model"),
])
def test_bad_arguments_are_refused_with_the_argument_named(call, error, text):
    model = mlp(units=(10, 8))
    with pytest.raises(error) as raised:
        call(model)
    assert text in str(raised.value)


def test_an_unbuilt_model_is_refused():
    model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must be built"):
        prune(model, 0.5)


def test_strip_pruning_gives_a_plain_model_with_the_zeros(tmp_path):
    model = prune(mlp(), 0.7)
    model.layers[0].kernel.assign(ops.convert_to_numpy(model.layers[0].kernel) + 0.0)
    stripped = strip_pruning(model)
    assert all(PruningMask.of(layer) is None for layer in stripped.layers)
    assert not any("pruning_mask" in weight.path for weight in stripped.weights)
    assert len(stripped.weights) == len(model.weights) - 2 * 3
    for old, new in zip(kernels(model), kernels(stripped), strict=True):
        np.testing.assert_array_equal(old, new)
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    path = tmp_path / "stripped.keras"
    stripped.save(path)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert "keras_optkit" not in config and "PruningMask" not in config
    assert json.loads(config)["class_name"] == "Sequential"


def test_strip_pruning_keeps_a_kernel_constraint_the_layer_had():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, kernel_constraint=keras.constraints.MaxNorm(1.0))])
    prune(model, 0.4)
    assert isinstance(PruningMask.of(model.layers[0]).constraint, keras.constraints.MaxNorm)
    assert isinstance(strip_pruning(model).layers[0].kernel_constraint, keras.constraints.MaxNorm)


def test_a_pruned_model_saves_and_loads_with_its_masks(tmp_path):
    model = prune(mlp(), 0.5)
    path = tmp_path / "pruned.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for old, new in zip(model.layers, loaded.layers, strict=True):
        np.testing.assert_array_equal(PruningMask.of(old).numpy(), PruningMask.of(new).numpy())


@pytest.mark.slow
def test_stripped_model_loads_where_keras_optkit_cannot_be_imported(tmp_path):
    model = strip_pruning(prune(mlp(), 0.9))
    path = tmp_path / "stripped.keras"
    model.save(path)
    expected = float(sparsity_report(model)["total"]["sparsity"])
    script = (
        "import sys; sys.modules['keras_optkit'] = None\n"
        "import keras, numpy as np\n"
        f"model = keras.models.load_model({str(path)!r})\n"
        "kernels = [np.asarray(keras.ops.convert_to_numpy(l.kernel)) for l in model.layers]\n"
        "print(sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ})
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(expected)
    assert expected >= 0.895


def test_shrink_removes_pruned_units_and_keeps_the_predictions():
    model = mlp(units=(16, 12), activation="tanh")
    for layer in model.layers:  # biases that are not 0, so that removed units hand on a constant
        layer.bias.assign(np.linspace(-0.5, 0.5, layer.bias.shape[0]))
    prune(model, 0.5, structure="unit", layers="^hidden")
    small = shrink(model)
    assert [layer.units for layer in small.layers] == [8, 6, 3]
    x = np.random.default_rng(0).normal(size=(20, 8)).astype("float32")
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert all(PruningMask.of(layer) is None for layer in small.layers)


def test_shrink_passes_through_dropout_and_keeps_units_it_cannot_fold():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(10, activation="sigmoid"), keras.layers.Dropout(0.5),
        keras.layers.Dense(4, use_bias=False), keras.layers.Dense(2),
    ])
    prune(model, 0.3, structure="unit")
    small = shrink(model)
    # sigmoid(0) = 0.5 cannot fold into a layer without bias: those units stay; the 4-unit layer folds into the last.
    assert [getattr(layer, "units", None) for layer in small.layers] == [10, None, 3, 2]
    x = np.random.default_rng(1).normal(size=(7, 6)).astype("float32")
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_shrink_refuses_what_it_cannot_follow():
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(TypeError, match="keras.Sequential"):
        shrink(functional)


def test_sparsity_report_counts_zeros_per_kernel_and_in_total():
    model = small_cnn()
    prune(model, 0.25)
    report = sparsity_report(model)
    expected = {layer.name: np.asarray(ops.convert_to_numpy(layer.kernel)) for layer in model.layers
                if hasattr(layer, "kernel")}
    assert set(report) == set(expected) | {"total"}
    for name, kernel in expected.items():
        assert report[name]["zeros"] == int(np.sum(kernel == 0)) and report[name]["size"] == kernel.size
        assert report[name]["shape"] == kernel.shape
    assert report["total"]["zeros"] == sum(int(np.sum(k == 0)) for k in expected.values())
    table = str(report)
    assert "total" in table and "25.0%" in table and "3x3x4x8" in table
    assert isinstance(report, dict)
