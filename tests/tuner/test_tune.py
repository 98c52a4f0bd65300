"""tune() and OptimizationHyperModel on scikit-learn's digits, and the keras-tuner traps they absorb."""

import importlib
import math
import warnings

import keras
import keras_tuner
import numpy as np
import pytest

from keras_optkit.tuner import (
    DivergenceGuard,
    OptimizationHyperModel,
    SearchSpace,
    TuningResult,
    tune,
)

LOSS = "sparse_categorical_crossentropy"
# The package exports the function `tune`, which hides the module of the same name.
tune_module = importlib.import_module("keras_optkit.tuner.tune")


def build_mlp():
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="classifier"),
        ]
    )


@pytest.fixture(scope="module")
def data(digits_split):
    x, y, x_val, y_val = digits_split
    return x[:640], y[:640], x_val, y_val


def _search(data, tmp_path, **kwargs):
    x, y, x_val, y_val = data
    options = {
        "validation_data": (x_val, y_val),
        "tuner": "random",
        "max_trials": 3,
        "epochs": 3,
        "loss": LOSS,
        "metrics": ["accuracy"],
        "narrow_lr_with_finder": False,
        "directory": tmp_path,
        "seed": 0,
        **kwargs,
    }
    return tune(build_mlp, x, y, **options)


def _scores(result):
    return [(row["trial_id"], row["score"]) for row in result.table()]


def test_same_seed_same_trials_and_scores_seed_zero_included(data, tmp_path):
    first = _search(data, tmp_path / "a", max_trials=2, epochs=2)
    second = _search(data, tmp_path / "b", max_trials=2, epochs=2)
    assert [r["trial_id"] for r in first.table()] == [r["trial_id"] for r in second.table()]
    for a, b in zip(first.table(), second.table(), strict=True):
        assert {k: v for k, v in a.items() if k != "score"} == {k: v for k, v in b.items() if k != "score"}
        assert a["score"] == pytest.approx(b["score"], rel=1e-4)
    other = _search(data, tmp_path / "c", seed=1, max_trials=2, epochs=2)
    assert [r["learning_rate"] for r in other.table()] != [r["learning_rate"] for r in first.table()]


# A quality check of the search (keras-tuner's Bayesian oracle), backend-agnostic: the recipe's round trip, below,
# runs on every backend.
@pytest.mark.single_backend
def test_tuned_recipe_beats_adam_baseline_on_digits(data, tmp_path):
    x, y, x_val, y_val = data
    epochs = 5
    keras.utils.set_random_seed(0)
    baseline = build_mlp()
    baseline.compile(keras.optimizers.Adam(1e-3), LOSS, metrics=["accuracy"])
    baseline.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    baseline_accuracy = baseline.evaluate(x_val, y_val, verbose=0)[1]

    result = _search(
        data, tmp_path, tuner="bayesian", max_trials=6, epochs=epochs, objective="val_accuracy",
        search_space=SearchSpace(learning_rate=(1e-3, 3e-1), l2=None),
    )
    assert isinstance(result, TuningResult)
    best = result.table()[0]
    assert best["score"] == max(r["score"] for r in result.table() if r["score"] is not None)
    model = result.best_model()
    tuned_accuracy = model.evaluate(x_val, y_val, verbose=0)[1]
    assert tuned_accuracy == pytest.approx(best["score"], abs=1e-6)
    assert tuned_accuracy > baseline_accuracy, (tuned_accuracy, baseline_accuracy)


def test_recipe_round_trips_through_keras_serialization(data, tmp_path):
    x_val, y_val = data[2], data[3]
    result = _search(data, tmp_path, max_trials=2, epochs=2, objective="val_accuracy",
                     search_space=SearchSpace(l2=None))
    best = result.table()[0]
    assert result.best_model().evaluate(x_val, y_val, verbose=0)[1] == pytest.approx(best["score"], abs=1e-6)
    recipe = result.recipe()
    copy = keras.optimizers.deserialize(keras.optimizers.serialize(recipe.optimizer))
    assert type(copy) is type(recipe.optimizer)
    assert copy.get_config() == recipe.optimizer.get_config()
    steps = np.arange(0, recipe.total_steps, 7)
    for step in steps:
        assert float(_rate(copy, step)) == pytest.approx(float(_rate(recipe.optimizer, step)), rel=1e-7)


def _rate(optimizer, step):
    rate = optimizer._learning_rate
    return rate(step) if callable(rate) else rate


def test_hyperband_continues_the_schedule(data):
    x, y, _, _ = data
    hypermodel = OptimizationHyperModel(
        build_mlp, SearchSpace(schedules=["warmup_cosine"], l2=None, weight_decay=None),
        loss=LOSS, epochs=4, train_samples=len(x), batch_size=64, objective="loss",
    )
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "adam")
    model = hypermodel.build(hp)
    steps = math.ceil(len(x) / 64)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            optimizer = self.model.optimizer
            seen.append((int(keras.ops.convert_to_numpy(optimizer.iterations)),
                         float(keras.ops.convert_to_numpy(optimizer.learning_rate))))

    hypermodel.fit(hp, model, x, y, batch_size=64, epochs=3, initial_epoch=2, callbacks=[Record()], verbose=0)
    schedule = model.optimizer._learning_rate
    assert seen[0][0] == 2 * steps
    assert seen[0][1] == pytest.approx(float(schedule(2 * steps)), rel=1e-6)
    # Warmup does not run again: the first rate is the decaying one, below the peak.
    assert seen[0][1] < schedule.peak_learning_rate


def test_diverged_trial_gets_a_finite_bad_score(data, tmp_path):
    x, y, x_val, y_val = data

    def build_regression():
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])

    # Plain least squares with a step far past 2 / (largest curvature): the loss overflows to inf, then NaN.
    result = tune(
        build_regression, x, y.astype("float32"), validation_data=(x_val, y_val.astype("float32")),
        tuner="bayesian", max_trials=3, epochs=2, loss="mse", narrow_lr_with_finder=False,
        directory=tmp_path, seed=0,
        search_space=SearchSpace(optimizers=["sgd"], schedules=["constant"], learning_rate=(1e3, 1e4),
                                 l2=None, weight_decay=None),
    )
    scores = [row["score"] for row in result.table()]
    assert len(scores) == 3
    assert all(score is not None and math.isfinite(score) for score in scores)
    assert min(scores) >= 1e6  # nothing finite was ever seen: the fallback bad value


def test_divergence_guard_rewrites_only_non_finite_values():
    guard = DivergenceGuard(keras_tuner.Objective("val_accuracy", "max"))
    guard.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    guard.on_epoch_end(0, {"loss": 2.0, "val_loss": 3.0, "val_accuracy": 0.4})
    logs = {"loss": float("nan"), "val_loss": float("inf"), "val_accuracy": float("nan")}
    guard.on_epoch_end(1, logs)
    assert logs == {"loss": 20.0, "val_loss": 30.0, "val_accuracy": 0.0}
    assert guard.diverged and guard.model.stop_training


def test_reserved_tuner_arguments_are_refused(data, tmp_path):
    x, y, _, _ = data
    # keras-tuner would compile every trial with this optimizer, silently replacing the searched one.
    with pytest.raises(ValueError, match="optimizer"):
        tune(build_mlp, x, y, loss=LOSS, directory=tmp_path, optimizer="adam")
    with pytest.raises(ValueError, match="hypermodel"):
        tune(build_mlp, x, y, loss=LOSS, directory=tmp_path, hypermodel=None)


def test_worker_never_overwrites_the_shared_directory(data, tmp_path, monkeypatch):
    x, y, _, _ = data
    captured = {}

    class Stop(Exception):
        pass

    def fake_random_search(**kwargs):
        captured.update(kwargs)
        raise Stop

    monkeypatch.setattr(tune_module.keras_tuner, "RandomSearch", fake_random_search)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    with pytest.raises(Stop):
        tune(build_mlp, x, y, loss=LOSS, objective="loss", tuner="random", directory=tmp_path, overwrite=True,
             narrow_lr_with_finder=False, seed=0)
    assert captured["overwrite"] is False
    assert captured["seed"] == 1  # keras-tuner reads seed=0 as "no seed"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    with pytest.raises(Stop):
        tune(build_mlp, x, y, loss=LOSS, objective="loss", tuner="random", directory=tmp_path, overwrite=True,
             narrow_lr_with_finder=False)
    assert captured["overwrite"] is True


def test_callbacks_that_already_trained_a_model_work_in_every_trial(data, tmp_path):
    from keras_optkit.callbacks import NaNGuard, ReduceLROnPlateau

    x, y, x_val, y_val = data
    guard, plateau = NaNGuard(verbose=0), ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5)
    used = build_mlp()
    used.compile("sgd", LOSS)
    used.fit(x[:64], y[:64], epochs=1, verbose=0, callbacks=[guard, plateau])
    result = _search(data, tmp_path, max_trials=2, epochs=2, callbacks=[guard, plateau],
                     search_space=SearchSpace(l2=None))
    assert [row["status"] for row in result.table()] == ["COMPLETED", "COMPLETED"]


@pytest.mark.tf_only  # the hparams plugin is imported on the TensorFlow backend only
def test_trials_run_on_tensorflow_with_a_tensorboard_callback(data, tmp_path):
    result = _search(data, tmp_path, max_trials=1, epochs=1,
                     callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))])
    assert [row["status"] for row in result.table()] == ["COMPLETED"]
    assert any((tmp_path / "logs").iterdir())


@pytest.mark.single_backend  # keras-tuner's hyperparameters in the user's model: nothing backend-specific
def test_build_model_with_hp_searches_architecture_too(data, tmp_path):
    def build(hp):
        units = hp.Choice("units", [8, 16])
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(units, activation="relu"),
                                 keras.layers.Dense(10, activation="softmax")])

    x, y, x_val, y_val = data
    result = tune(build, x, y, validation_data=(x_val, y_val), tuner="random", max_trials=2, epochs=1,
                  loss=LOSS, narrow_lr_with_finder=False, directory=tmp_path,
                  search_space=SearchSpace(l2=None))
    assert {"units", "optimizer", "schedule"} <= set(result.best_hyperparameters)
    units = result.best_hyperparameters["units"]
    assert result.best_model().layers[0].units == units


def test_compiled_build_model_lends_its_loss(data):
    def build():
        model = build_mlp()
        model.compile("sgd", LOSS, metrics=["accuracy"])
        return model

    x, _, _, _ = data
    hypermodel = OptimizationHyperModel(build, SearchSpace(l2=None), train_samples=len(x))
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert model.loss == LOSS
    with pytest.raises(ValueError, match="loss"):
        OptimizationHyperModel(build_mlp, train_samples=10).build(keras_tuner.HyperParameters())


def test_bad_arguments(data, tmp_path):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="tuner"):
        tune(build_mlp, x, y, loss=LOSS, tuner="evolution", directory=tmp_path)
    with pytest.raises(ValueError, match="finder_span"):
        tune(build_mlp, x, y, loss=LOSS, finder_span=1.0, directory=tmp_path)
    with pytest.raises(ValueError, match="max_trials"):
        tune(build_mlp, x, y, loss=LOSS, max_trials=0, directory=tmp_path)
    with pytest.raises(TypeError, match="search_space"):
        tune(build_mlp, x, y, loss=LOSS, search_space={"l2": None}, directory=tmp_path)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        OptimizationHyperModel(build_mlp, loss=LOSS)


# The narrowing is arithmetic on the range test's result, which tests/callbacks checks on every backend.
@pytest.mark.single_backend
def test_finder_narrows_each_family_around_its_suggestion(data, tmp_path):
    space = SearchSpace(optimizers=["adam", "sgd"], schedules=["constant"], learning_rate=(1e-4, 1.0), l2=None)
    result = _search(data, tmp_path, max_trials=2, epochs=1, search_space=space, narrow_lr_with_finder=True,
                     finder_span=10.0, finder_steps=40)
    assert set(result.finder_results) == {"adam", "sgd"}
    ranges = result.hypermodel.search_space.learning_rate_ranges
    for family, finder in result.finder_results.items():
        # A range of ratio finder_span around the suggestion, slid inside (1e-4, 1) when it leaves it.
        suggested = min(max(finder.suggest("constant"), 1e-4), 1.0)
        assert 1e-4 <= ranges[family].low <= suggested <= ranges[family].high <= 1.0
        assert ranges[family].high / ranges[family].low == pytest.approx(10.0)
        if 1e-4 * math.sqrt(10.0) < suggested < 1.0 / math.sqrt(10.0):
            assert ranges[family].low == pytest.approx(suggested / math.sqrt(10.0))
    for row in result.table():
        bounds = ranges[row["optimizer"]]
        assert bounds.low <= row["learning_rate"] <= bounds.high


def test_objective_that_is_never_logged_stops_the_search_after_one_epoch(data, tmp_path):
    epochs_begun = []

    class CountEpochs(keras.callbacks.Callback):
        # keras-tuner deep-copies callbacks per trial: the count lives outside the copies.
        def on_epoch_begin(self, epoch, logs=None):
            epochs_begun.append(epoch)

    with pytest.raises(ValueError) as raised:
        _search(data, tmp_path, objective="val_acuracy", max_trials=3, epochs=2, callbacks=[CountEpochs()],
                search_space=SearchSpace(schedules=["constant"], l2=None))
    message = str(raised.value)
    assert "objective='val_acuracy'" in message
    logged = message.split("logged metrics:")[1].strip().split(", ")
    assert sorted(logged) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert epochs_begun == [0]  # one epoch of one trial, not every trial


def test_validation_objective_without_validation_data_is_refused_before_any_training(data, tmp_path, monkeypatch):
    x, y, _, _ = data

    def must_not_run(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(tune_module, "narrow_learning_rates", must_not_run)
    monkeypatch.setattr(tune_module.keras_tuner, "RandomSearch", must_not_run)
    with pytest.raises(ValueError, match="validation_data") as raised:
        tune(build_mlp, x, y, loss=LOSS, metrics=["accuracy"], objective="val_accuracy", tuner="random",
             directory=tmp_path)
    assert "objective='val_accuracy'" in str(raised.value)


def test_failed_trials_never_give_a_best_recipe(data, tmp_path):
    class FailEveryTrial(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            raise keras_tuner.errors.FailedTrialError("this trial cannot train")

    result = _search(data, tmp_path, max_trials=2, epochs=1, callbacks=[FailEveryTrial()],
                     search_space=SearchSpace(l2=None))
    assert [row["status"] for row in result.table()] == ["FAILED", "FAILED"]
    for read in (lambda: result.best_hyperparameters, result.recipe, result.best_model):
        with pytest.raises(ValueError, match="No trial completed") as raised:
            read()
        assert "FAILED" in str(raised.value) and "cannot train" in str(raised.value)


@pytest.mark.parametrize("samples", [32, 48])  # 2 and 3 steps of 16: one epoch
def test_default_search_space_works_on_runs_of_two_and_three_steps(data, tmp_path, samples):
    x, y, x_val, y_val = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tune(build_mlp, x[:samples], y[:samples], validation_data=(x_val, y_val), tuner="random",
                      max_trials=2, epochs=1, batch_size=16, loss=LOSS, narrow_lr_with_finder=False,
                      directory=tmp_path)
    assert [row["status"] for row in result.table()] == ["COMPLETED", "COMPLETED"]
    steps = samples // 16
    left_out = [str(w.message) for w in caught if "one_cycle" in str(w.message)]
    searched = result.hypermodel.search_space.schedules
    if steps < 3:
        assert "one_cycle" not in searched and len(left_out) == 1 and f"{steps} step" in left_out[0]
        assert set(searched) == set(SearchSpace().schedules) - {"one_cycle"}
    else:
        assert searched == SearchSpace().schedules and not left_out


def test_one_cycle_fits_a_three_step_run(data, tmp_path):
    x, y, x_val, y_val = data
    result = tune(build_mlp, x[:48], y[:48], validation_data=(x_val, y_val), tuner="random", max_trials=2,
                  epochs=1, batch_size=16, loss=LOSS, narrow_lr_with_finder=False, directory=tmp_path,
                  search_space=SearchSpace(schedules=["one_cycle"], l2=None))
    assert [row["status"] for row in result.table()] == ["COMPLETED", "COMPLETED"]
    recipe = result.recipe()
    rates = [float(recipe.learning_rate(step)) for step in range(3)]
    peak = recipe.values[f"{recipe.values['optimizer']}/learning_rate"]
    assert rates[1] == pytest.approx(peak, rel=1e-5)  # a rise, the peak, a fall
    assert rates[0] < peak and rates[2] < peak
    with pytest.raises(ValueError, match="schedules"):
        tune(build_mlp, x[:32], y[:32], validation_data=(x_val, y_val), epochs=1, batch_size=16, loss=LOSS,
             directory=tmp_path, search_space=SearchSpace(schedules=["one_cycle"]))


def test_a_newer_keras_optimizer_trains_in_a_short_search(data, tmp_path):
    x, y, x_val, y_val = data
    keras.utils.set_random_seed(0)
    untrained = build_mlp()
    untrained.compile("sgd", LOSS)
    untrained_loss = untrained.evaluate(x_val, y_val, verbose=0)
    result = _search(data, tmp_path, max_trials=2, epochs=1, metrics=None,
                     search_space=SearchSpace(optimizers=["Muon"], learning_rate=(1e-3, 1e-2), l2=None))
    rows = result.table()
    assert [row["status"] for row in rows] == ["COMPLETED", "COMPLETED"]
    assert {row["optimizer"] for row in rows} == {"muon"}
    assert rows[0]["score"] < untrained_loss
    assert isinstance(result.best_model().optimizer, keras.optimizers.Muon)
    assert isinstance(result.recipe().optimizer, keras.optimizers.Muon)
