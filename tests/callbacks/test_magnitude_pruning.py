"""MagnitudePruning: masks recomputed at the schedule's update steps (against NumPy references), pruned weights at
exactly 0 after every step under every registered optimizer, save / resume, argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit import list_entries
from keras_optkit.callbacks import MagnitudePruning
from keras_optkit.pruning import (
    ConstantSparsity,
    PolynomialDecaySparsity,
    PruningMask,
    strip_pruning,
)
from tests.reference import pruning as reference

STEPS_PER_EPOCH, BATCH = 4, 8


def numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


def data(inputs=4, outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(STEPS_PER_EPOCH * BATCH, inputs)).astype("float32")
    y = (x @ rng.normal(size=(inputs, outputs))).astype("float32")
    return x, y


def model_for(optimizer, inputs=4, hidden=6, outputs=3, jit_compile="auto", seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((inputs,)), keras.layers.Dense(hidden, activation="tanh", name="hidden"),
        keras.layers.Dense(outputs, name="out"),
    ])
    model.compile(optimizer, "mse", jit_compile=jit_compile)
    return model


class Recorder(keras.callbacks.Callback):
    """Records, per step, the kernels at batch begin and, at batch end, the kernels and masks."""

    def __init__(self):
        super().__init__()
        self.steps, self.kernels, self.after, self.masks, self.mask_steps = [], [], [], [], []

    def _layers(self):
        return [layer for layer in self.model.layers if hasattr(layer, "kernel")]

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.append(int(numpy(self.model.optimizer.iterations)))
        self.kernels.append([numpy(layer.kernel) for layer in self._layers()])

    def on_train_batch_end(self, batch, logs=None):
        holders = [PruningMask.of(layer) for layer in self._layers()]
        self.after.append([numpy(layer.kernel) for layer in self._layers()])
        self.masks.append([None if h is None else h.numpy() for h in holders])
        self.mask_steps.append([None if h is None else int(numpy(h.mask_step)) for h in holders])


def _optimizer_cases():
    cases = [pytest.param(entry.build, id=entry.name) for entry in list_entries("optimizer")]
    cases += [
        pytest.param(lambda: keras.optimizers.Adam(0.01), id="keras.Adam"),
        pytest.param(lambda: keras.optimizers.SGD(0.05, momentum=0.9), id="keras.SGD-momentum"),
        pytest.param(lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01)),
                     id="keras.LossScaleOptimizer-Adam"),
    ]
    return cases


def _compiled_cases():
    """The mask is applied by the same code in every optimizer's step (Keras's constraint pass, after the update),
    so the compiled step is checked on Keras's Adam and SGD, loss scaling, and the first registered optimizer and
    wrapper; each optimizer's own update is checked uncompiled above."""
    entries = list_entries("optimizer")
    plain = next(entry for entry in entries if not entry.flags.get("wrapper"))
    wrapper = next(entry for entry in entries if entry.flags.get("wrapper"))
    return [
        pytest.param(lambda: keras.optimizers.Adam(0.01), id="keras.Adam"),
        pytest.param(lambda: keras.optimizers.SGD(0.05, momentum=0.9), id="keras.SGD-momentum"),
        pytest.param(lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01)),
                     id="keras.LossScaleOptimizer-Adam"),
        pytest.param(plain.build, id=plain.name),
        pytest.param(wrapper.build, id=wrapper.name),
    ]


def _check_zeros_after_every_step(make_optimizer, jit_compile):
    """Momentum and adaptive moments keep pushing a pruned weight; the mask must win after every update."""
    model = model_for(make_optimizer(), jit_compile=jit_compile)
    recorder = Recorder()
    # One update, before the first step: the step is traced once (on JAX a mask change retraces it).
    pruning = MagnitudePruning(ConstantSparsity(0.5, begin_step=0, frequency=1000))
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[pruning, recorder])
    moved = 0
    for step, after, masks, before in zip(recorder.steps, recorder.after, recorder.masks, recorder.kernels,
                                          strict=True):
        for kernel, mask, start in zip(after, masks, before, strict=True):
            assert np.all(kernel[mask == 0] == 0), f"a pruned weight came back at step {step}"
            assert np.all(np.isfinite(kernel))
            moved += int(np.any(kernel[mask == 1] != start[mask == 1]))
    assert moved > 0, "the optimizer never moved the weights that are kept"
    assert recorder.mask_steps[-1] == [0, 0] and all(np.mean(mask == 0) == 0.5 for mask in recorder.masks[-1])


@pytest.mark.parametrize("make_optimizer", _optimizer_cases())
def test_pruned_weights_stay_zero_after_every_step(make_optimizer):
    _check_zeros_after_every_step(make_optimizer, jit_compile="auto")


@pytest.mark.parametrize("jit_compile", [True])
@pytest.mark.parametrize("make_optimizer", _compiled_cases())
def test_pruned_weights_stay_zero_after_every_compiled_step(make_optimizer, jit_compile):
    _check_zeros_after_every_step(make_optimizer, jit_compile=jit_compile)


def test_pruned_weights_stay_zero_when_an_ema_overwrites_them_at_the_end():
    model = model_for(keras.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.5))
    pruning = MagnitudePruning(PolynomialDecaySparsity(0.0, 0.6, begin_step=2, end_step=6, frequency=2))
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[pruning])
    for layer in model.layers:
        mask = PruningMask.of(layer).numpy()
        assert np.all(numpy(layer.kernel)[mask == 0] == 0) and np.mean(mask == 0) > 0.5


STRUCTURES = [
    ("weight", "layer", PolynomialDecaySparsity(0.1, 0.7, begin_step=3, end_step=11, frequency=4)),
    ("weight", "global", PolynomialDecaySparsity(0.1, 0.7, begin_step=3, end_step=11, frequency=4)),
    ("unit", "layer", PolynomialDecaySparsity(0.2, 0.5, begin_step=2, end_step=10, frequency=4)),
    ("2:4", "layer", ConstantSparsity(0.5, begin_step=2, frequency=5)),
]


def _reference_masks(kernels, structure, scope, sparsity):
    if structure == "weight":
        return reference.weight_masks(kernels, sparsity, scope)
    if structure == "unit":
        return [reference.unit_mask(kernel, sparsity) for kernel in kernels]
    return [reference.n_m_mask(kernel, 2, 4) for kernel in kernels]


def _reference_sparsity(schedule, step):
    if isinstance(schedule, ConstantSparsity):
        return reference.constant_sparsity(step, schedule.sparsity, schedule.begin_step)
    return reference.polynomial_sparsity(step, schedule.initial_sparsity, schedule.final_sparsity,
                                         schedule.begin_step, schedule.end_step, schedule.power)


@pytest.mark.parametrize("structure,scope,schedule", STRUCTURES, ids=[f"{s}-{c}" for s, c, _ in STRUCTURES])
def test_masks_are_recomputed_at_the_update_steps_and_match_the_reference(structure, scope, schedule):
    # 2:4 needs inputs in whole groups of 4: 4 -> 8 -> 3.
    hidden = 8 if structure == "2:4" else 6
    model = model_for(keras.optimizers.SGD(0.05, momentum=0.9), hidden=hidden)
    before, after = Recorder(), Recorder()
    pruning = MagnitudePruning(schedule, scope=scope, structure=structure)
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=4, shuffle=False, verbose=0, callbacks=[before, pruning, after])
    last = after.steps[-1]
    updates = reference.update_steps(schedule.begin_step, schedule.frequency, schedule.end_step, last)
    assert len(updates) >= 3
    previous = None
    for step, kernels, masks, mask_steps, trained in zip(before.steps, before.kernels, after.masks,
                                                         after.mask_steps, after.after, strict=True):
        for kernel, mask in zip(trained, masks, strict=True):
            assert np.all(kernel[mask == 0] == 0), f"a pruned weight came back at step {step}"
        if step in updates:
            expected = _reference_masks(kernels, structure, scope, _reference_sparsity(schedule, step))
            for mask, want in zip(masks, expected, strict=True):
                np.testing.assert_array_equal(mask, want)
        elif previous is not None:
            for mask, held in zip(masks, previous, strict=True):
                np.testing.assert_array_equal(mask, held)  # held between updates
        earlier = [update for update in updates if update <= step]
        assert mask_steps == [earlier[-1] if earlier else -1] * len(masks), step
        previous = masks
    assert pruning.sparsity > 0


def test_layers_choose_the_kernels_and_the_epoch_logs_get_the_sparsity():
    model = model_for(keras.optimizers.Adam(0.01))
    pruning = MagnitudePruning(ConstantSparsity(0.5, frequency=2), layers="^hid")
    x, y = data()
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[pruning])
    assert PruningMask.of(model.get_layer("out")) is None
    assert np.mean(numpy(model.get_layer("hidden").kernel) == 0) == 0.5
    assert history.history["sparsity"] == [0.5, 0.5]


def test_a_saved_model_resumes_with_its_masks_and_the_schedule_where_it_was(tmp_path):
    schedule = PolynomialDecaySparsity(0.0, 0.6, begin_step=0, end_step=14, frequency=5)
    model = model_for(keras.optimizers.SGD(0.05, momentum=0.9))
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[MagnitudePruning(schedule)])
    saved = [PruningMask.of(layer).numpy() for layer in model.layers]
    path = tmp_path / "pruning.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert int(numpy(loaded.optimizer.iterations)) == 8
    for layer, mask in zip(loaded.layers, saved, strict=True):
        holder = PruningMask.of(layer)
        np.testing.assert_array_equal(holder.numpy(), mask)
        assert int(numpy(holder.mask_step)) == 5
    recorder = Recorder()
    loaded.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[MagnitudePruning(schedule), recorder])
    assert recorder.steps[:3] == [8, 9, 10]
    for mask, kept in zip(recorder.masks[0], saved, strict=True):  # step 8 is not an update step
        np.testing.assert_array_equal(mask, kept)
    assert recorder.mask_steps[0] == [5, 5] and recorder.mask_steps[2] == [10, 10]
    for kernel, mask in zip(recorder.after[-1], recorder.masks[-1], strict=True):
        assert np.all(kernel[mask == 0] == 0)


def test_masks_loaded_into_a_trained_model_hold_in_its_next_fit(tmp_path):
    """The next fit must use the masks loaded since the step was last compiled (on JAX, a copy in the trace)."""
    x, y = data()
    schedule = ConstantSparsity(0.5, frequency=1000)
    first, second = model_for(keras.optimizers.Adam(0.01)), model_for(keras.optimizers.Adam(0.01), seed=1)
    for model in (first, second):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[MagnitudePruning(schedule)])
    old = [PruningMask.of(layer).numpy() for layer in first.layers]
    second.save_weights(tmp_path / "second.weights.h5")
    first.load_weights(tmp_path / "second.weights.h5")
    loaded = [PruningMask.of(layer).numpy() for layer in first.layers]
    assert any(not np.array_equal(a, b) for a, b in zip(old, loaded, strict=True))
    first.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[MagnitudePruning(schedule)])
    for layer, mask in zip(first.layers, loaded, strict=True):
        np.testing.assert_array_equal(PruningMask.of(layer).numpy(), mask)  # step 4 is not an update step
        assert np.all(numpy(layer.kernel)[mask == 0] == 0)


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.masks = [PruningMask.of(layer).numpy() for layer in self.model.layers]
            self.kernels = [numpy(layer.kernel) for layer in self.model.layers]
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("pruning_first", [False, True])
def test_backup_and_restore_brings_back_the_masks(tmp_path, pruning_first):
    schedule = PolynomialDecaySparsity(0.0, 0.7, begin_step=0, end_step=20, frequency=3)
    x, y = data()

    def callbacks(*extra):
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        pruning = MagnitudePruning(schedule)
        return ([pruning, backup] if pruning_first else [backup, pruning]) + list(extra)

    interrupt = Interrupt(epoch=1)
    with pytest.raises(RuntimeError, match="interrupted"):
        model_for(keras.optimizers.Adam(0.01)).fit(x, y, batch_size=BATCH, epochs=4, verbose=0,
                                                   callbacks=callbacks(interrupt))
    resumed = model_for(keras.optimizers.Adam(0.01), seed=1)  # other initial weights: all must come from the backup
    recorder = Recorder()
    resumed.fit(x, y, batch_size=BATCH, epochs=4, verbose=0, callbacks=callbacks(recorder))
    assert recorder.steps[0] == 8
    for kernel, mask, saved_kernel, saved_mask in zip(recorder.kernels[0], recorder.masks[0], interrupt.kernels,
                                                      interrupt.masks, strict=True):
        np.testing.assert_array_equal(mask, saved_mask)
        np.testing.assert_array_equal(kernel, saved_kernel)  # step 8 is not an update step: nothing recomputed
    assert recorder.mask_steps[0] == [6, 6] and recorder.mask_steps[1] == [9, 9]


@pytest.mark.slow
def test_gradual_pruning_of_a_digits_mlp_to_80_percent_keeps_it_accurate(digits_split):
    x_train, y_train, x_val, y_val = digits_split
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    steps = int(np.ceil(len(x_train) / 64))
    pruning = MagnitudePruning(PolynomialDecaySparsity(0.0, 0.8, begin_step=2 * steps, end_step=5 * steps,
                                                       frequency=steps), scope="global")
    model.fit(x_train, y_train, batch_size=64, epochs=8, verbose=0, callbacks=[pruning])
    plain = strip_pruning(model)
    plain.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    accuracy = plain.evaluate(x_val, y_val, verbose=0)[1]
    kernels = [numpy(layer.kernel) for layer in plain.layers]
    assert sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels) == pytest.approx(0.8, abs=1e-3)
    assert accuracy > 0.9


@pytest.mark.parametrize("kwargs,error,text", [
    ({"schedule": 0.5}, TypeError, "`schedule` must be a sparsity schedule"),
    ({"schedule": keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)}, TypeError, "Received: schedule="),
    ({"scope": "network"}, ValueError, "`scope` must be one of 'layer', 'global'. Received: scope='network'"),
    ({"structure": "blocks"}, ValueError, "Received: structure='blocks'"),
    ({"structure": "0:4"}, ValueError, "0 < n < m"),
    ({"structure": "unit", "scope": "global"}, ValueError, "use scope='layer'"),
    ({"structure": "2:4"}, ValueError, "the schedule must be constant at 0.5, e.g. ConstantSparsity(0.5)"),
    ({"structure": "2:4", "schedule": PolynomialDecaySparsity(0.0, 0.5, 0, 10)}, ValueError, "constant at 0.5"),
    ({"layers": 7}, TypeError, "Received: layers=7"),
    ({"verbose": -1}, ValueError, "`verbose` must be >= 0"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, error, text):
    arguments = {"schedule": ConstantSparsity(0.7), **kwargs}
    with pytest.raises(error) as raised:
        MagnitudePruning(**arguments)
    assert text in str(raised.value)


@pytest.mark.parametrize("kwargs,text", [
    ({"layers": "conv"}, "Prunable layers: hidden, out. Received: layers='conv'"),
    ({"structure": "2:4", "schedule": ConstantSparsity(0.5)}, "'out' has 6 inputs per output, not a multiple of 4"),
])
def test_layer_problems_are_refused_before_the_first_batch(kwargs, text):
    model = model_for(keras.optimizers.Adam(0.01))
    weights = [numpy(w) for w in model.weights]
    x, y = data()
    with pytest.raises(ValueError) as raised:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                  callbacks=[MagnitudePruning(**{"schedule": ConstantSparsity(0.5), **kwargs})])
    assert text in str(raised.value)
    assert int(numpy(model.optimizer.iterations)) == 0
    for weight, value in zip(model.weights[: len(weights)], weights, strict=True):
        np.testing.assert_array_equal(numpy(weight), value)


def test_config_round_trip_and_a_callable_filter_that_cannot_be_saved():
    pruning = MagnitudePruning(PolynomialDecaySparsity(0.1, 0.8, 5, 50, frequency=5), layers="^dense",
                               scope="global", verbose=1)
    again = MagnitudePruning.from_config(pruning.get_config())
    assert again.get_config() == pruning.get_config()
    assert isinstance(again.schedule, PolynomialDecaySparsity) and again.schedule.end_step == 50
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pruning))
    assert restored.get_config() == pruning.get_config()
    with pytest.raises(TypeError, match="cannot be serialized"):
        MagnitudePruning(ConstantSparsity(0.5), layers=lambda layer: True).get_config()
