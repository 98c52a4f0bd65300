"""LRFinderResult.suggest(schedule): against an independent reference, by hand, on bad names and on curves with
nothing to read; and a suggested OneCycle peak that trains on digits."""

import warnings

import keras
import numpy as np
import pytest

from keras_optkit.callbacks import LRFinderResult, find_lr
from keras_optkit.callbacks import lr_finder_result as module
from keras_optkit.schedules import OneCycle
from tests.reference import lr_suggest as reference

SCHEDULES = ("constant", "one_cycle", "cosine")


def range_test_curve(seed, steps=100):
    """A range test's shape: a plateau, a descent, a minimum and a blow-up, with noise, smoothed as LRFinder
    smooths it (bias-corrected moving average, 0.98)."""
    rng = np.random.default_rng(seed)
    rates = np.geomspace(1e-7, 10.0, steps)
    position = np.log10(rates)
    centre = rng.uniform(-4.0, -1.5)
    loss = 2.3 - 1.5 / (1.0 + np.exp(-2.5 * (position - centre))) + np.exp(3.0 * (position - centre - 1.5))
    loss = loss * (1.0 + 0.05 * rng.normal(size=steps))
    average, smoothed = 0.0, []
    for step, value in enumerate(loss):
        average = 0.98 * average + 0.02 * value
        smoothed.append(average / (1.0 - 0.98 ** (step + 1)))
    return rates, loss, np.asarray(smoothed)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("schedule", SCHEDULES + ("warmup_cosine",))
def test_suggest_matches_the_reference(seed, schedule):
    rates, loss, smoothed = range_test_curve(seed)
    result = LRFinderResult(rates, loss, smoothed)
    family = "cosine" if schedule == "warmup_cosine" else schedule
    expected = reference.suggest(rates, smoothed, result.skip_begin, result.skip_end, module.ANCHOR_FRACTION,
                                 module.SUGGEST_OFFSETS[family])
    assert result.suggest(schedule) == pytest.approx(expected, rel=1e-12)


def test_suggest_by_hand():
    rates = 10.0 ** np.linspace(-6.0, -1.5, 10)
    values = np.array([3.0, 3.1, 2.9, 2.8, 2.2, 1.6, 1.1, 1.0, 1.5, 6.0])
    result = LRFinderResult(rates, values, values, skip_begin=0, skip_end=0)
    # Start level: median(3.0, 3.1, 2.9) = 3.0; lowest 1.0 (index 7); halfway 2.0, first reached at index 5.
    for schedule in SCHEDULES:
        assert result.suggest(schedule) == pytest.approx(rates[5] * 10.0 ** module.SUGGEST_OFFSETS[schedule])
    assert result.suggest() == result.suggest("constant")
    # A schedule that spends most steps below its peak takes a higher peak than a constant rate.
    assert result.suggest("one_cycle") > result.suggest("cosine") > result.suggest("constant")


@pytest.mark.parametrize("name", ["linear", "Constant", "", "onecycle"])
def test_unknown_schedule_names_are_refused(name):
    rates, loss, smoothed = range_test_curve(0)
    with pytest.raises(ValueError, match=f"`schedule` must be one of .*Received: schedule='{name}'"):
        LRFinderResult(rates, loss, smoothed).suggest(name)


@pytest.mark.parametrize("name", [None, 3, ("constant",)])
def test_non_string_schedules_are_refused(name):
    rates, loss, smoothed = range_test_curve(0)
    with pytest.raises(TypeError, match="`schedule` must be a string"):
        LRFinderResult(rates, loss, smoothed).suggest(name)


def test_curve_with_no_valley_warns_and_still_suggests():
    rates = np.geomspace(1e-6, 1e-2, 50)
    values = np.linspace(2.3, 0.8, 50)  # still falling at the end of the sweep
    result = LRFinderResult(rates, values, values)
    with pytest.warns(UserWarning, match="no valley"):
        suggested = result.suggest("one_cycle")
    expected = reference.suggest(rates, values, result.skip_begin, result.skip_end, module.ANCHOR_FRACTION,
                                 module.SUGGEST_OFFSETS["one_cycle"])
    assert suggested == pytest.approx(expected)


def test_curve_with_a_valley_does_not_warn():
    rates, loss, smoothed = range_test_curve(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LRFinderResult(rates, loss, smoothed).suggest("cosine")


@pytest.mark.parametrize("wobble", [0.0, 1e-3])
def test_flat_curve_is_refused(wobble):
    rates = np.geomspace(1e-7, 10.0, 100)
    values = 2.3 * (1.0 + wobble * np.sin(np.arange(100)))
    with pytest.raises(ValueError, match="does not fall"):
        LRFinderResult(rates, values, values).suggest("constant")


def test_too_few_finite_points_are_refused():
    rates = np.geomspace(1e-7, 10.0, 20)
    values = np.full(20, np.nan)
    values[3] = 1.0
    with pytest.raises(ValueError, match="fewer than two finite"):
        LRFinderResult(rates, values, values).suggest("one_cycle")


@pytest.mark.slow
def test_suggested_one_cycle_peak_trains_digits(digits_split):
    x_train, y_train, x_val, y_val = digits_split
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10, "softmax")]
    )
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = find_lr(model, x_train, y_train, batch_size=64)
    peak = result.suggest("one_cycle")
    steps = 3 * -(-len(x_train) // 64)
    model.compile(keras.optimizers.Adam(OneCycle(peak, total_steps=steps)), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    # Three epochs at a good peak reach 95 %; Adam at its default 1e-3 is near 90 % there.
    assert model.evaluate(x_val, y_val, verbose=0)[1] > 0.94
