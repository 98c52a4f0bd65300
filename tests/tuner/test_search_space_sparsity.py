"""SearchSpace's sparsity: declared as a trial hyperparameter, validated, and turned into a pruning callback."""

import keras
import keras_tuner
import numpy as np
import pytest

from keras_optkit.callbacks import MagnitudePruning
from keras_optkit.pruning import PolynomialDecaySparsity
from keras_optkit.tuner import SearchSpace
from keras_optkit.tuner.sparsity import build_pruning


def test_sparsity_is_searched_in_its_range_alongside_the_recipe():
    space = SearchSpace(sparsity=(0.5, 0.9), optimizers=["adam"], schedules=["constant"])
    hp = keras_tuner.HyperParameters()
    values = space.declare(hp)
    assert {"optimizer", "learning_rate", "sparsity"} <= set(values)
    assert values["sparsity"] == hp.values["sparsity"]
    declared = {item.name: item for item in hp.space}["sparsity"]
    assert (declared.min_value, declared.max_value) == (0.5, 0.9)
    samples = [declared.random_sample(seed) for seed in range(50)]
    assert all(0.5 <= sample <= 0.9 for sample in samples) and max(samples) - min(samples) > 0.2
    hp.values["sparsity"] = 0.75  # what a tuner's trial sets
    assert space.declare(hp)["sparsity"] == 0.75


def test_no_sparsity_by_default_and_no_callback():
    hp = keras_tuner.HyperParameters()
    values = SearchSpace().declare(hp)
    assert "sparsity" not in values and "sparsity" not in hp.values
    assert build_pruning(values, total_steps=100) is None
    assert build_pruning({"sparsity": 0.0}, total_steps=100) is None


@pytest.mark.parametrize("value,error", [
    ((0.5, 1.0), ValueError), ((-0.1, 0.5), ValueError), ((0.9, 0.5), ValueError), (0.5, TypeError),
    ("0.5", TypeError), ((0.1, 0.2, 0.3), TypeError),
])
def test_bad_sparsity_ranges_are_refused_naming_the_field(value, error):
    with pytest.raises(error, match="sparsity"):
        SearchSpace(sparsity=value)


def test_a_trial_sparsity_builds_a_gradual_schedule_over_two_thirds_of_the_run():
    callback = build_pruning({"sparsity": 0.8}, total_steps=300)
    assert isinstance(callback, MagnitudePruning) and callback.scope == "global"
    schedule = callback.schedule
    assert isinstance(schedule, PolynomialDecaySparsity)
    assert (schedule.initial_sparsity, schedule.final_sparsity, schedule.begin_step, schedule.end_step) == (
        0.0, 0.8, 0, 200)
    assert schedule.last_update_step(299) == 200 and schedule.sparsity_at(250) == pytest.approx(0.8)


def test_a_trial_model_is_pruned_to_its_sparsity(digits_split):
    x_train, y_train, _, _ = digits_split
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = 3 * int(np.ceil(256 / 64))
    callback = build_pruning({"sparsity": 0.6}, total_steps=steps)
    model.fit(x_train[:256], y_train[:256], batch_size=64, epochs=3, verbose=0, callbacks=[callback])
    kernels = [np.asarray(keras.ops.convert_to_numpy(layer.kernel)) for layer in model.layers]
    zeros = sum(int(np.sum(kernel == 0)) for kernel in kernels)
    assert zeros == round(0.6 * sum(kernel.size for kernel in kernels))


def test_a_searched_sparsity_is_applied_in_the_trial(digits_split, tmp_path):
    """The hypermodel's fit prunes each trial to the sparsity the tuner chose for it."""
    import keras_tuner

    from keras_optkit.tuner import OptimizationHyperModel, SearchSpace

    x_train, y_train, _, _ = digits_split

    def build_model():
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                 keras.layers.Dense(10)])

    space = SearchSpace(optimizers=["adam"], schedules=["constant"], l2=None, weight_decay=None,
                        sparsity=(0.5, 0.7))
    hypermodel = OptimizationHyperModel(build_model, search_space=space,
                                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                        epochs=3, train_samples=256, batch_size=64, objective="loss", verbose=0)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    hypermodel.fit(hp, model, x_train[:256], y_train[:256], batch_size=64, epochs=3, verbose=0)
    kernels = [np.asarray(keras.ops.convert_to_numpy(layer.kernel)) for layer in model.layers]
    zeros = sum(int(np.sum(kernel == 0)) for kernel in kernels)
    assert zeros == round(hp.values["sparsity"] * sum(kernel.size for kernel in kernels))
