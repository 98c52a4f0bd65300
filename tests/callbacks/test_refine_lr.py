"""refine_lr: the short second sweep around the range test's suggestion."""

import math

import keras
import numpy as np
import pytest

from keras_optkit.callbacks import LRFinderResult, RefinedRate, find_lr, refine_lr
from tests._models import small_digits_model


def state(model):
    variables = model.variables + model.optimizer.variables
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def falling_curve(lowest_at=1e-1):
    """A range-test result whose smoothed loss falls until ``lowest_at`` and then rises."""
    rates = np.geomspace(1e-5, 10.0, 60)
    loss = 2.0 - np.clip(np.log10(rates / 1e-5), 0, None) / np.log10(lowest_at / 1e-5)
    loss = np.where(rates > lowest_at, 1.0 + 3.0 * np.log10(rates / lowest_at), loss)
    return LRFinderResult(rates, loss, loss)


def regression(samples=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")


def linear_model(rate=0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate, momentum=0.9), loss="mse")
    return model


def test_candidates_are_the_suggestion_times_the_exponents():
    x, y = regression()
    result = falling_curve()
    refined = refine_lr(linear_model(), x, y, result, schedule="one_cycle", steps=4, exponents=(-1.0, 0.0))
    assert isinstance(refined, RefinedRate)
    anchor = result.suggest("one_cycle")
    np.testing.assert_allclose(refined.candidates, (anchor / 10.0, anchor))
    assert len(refined.losses) == 2
    assert refined.rate in refined.candidates


@pytest.mark.parametrize("with_validation", [False, True])
def test_restores_weights_and_optimizer_state_bit_exactly(digits_split, with_validation):
    x_train, y_train, x_val, y_val = digits_split
    model = small_digits_model()
    model.compile(keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train[:128], y_train[:128], batch_size=32, epochs=1, verbose=0)  # non-trivial slots
    before = state(model)
    validation = (x_val[:100], y_val[:100]) if with_validation else None
    refine_lr(model, x_train[:256], y_train[:256], falling_curve(1e-2), steps=5, batch_size=32,
              validation_data=validation, score="val_loss" if with_validation else "train_loss")
    after = state(model)
    assert len(before) == len(after)
    for mine, other in zip(before, after, strict=True):
        np.testing.assert_array_equal(mine, other)


def test_a_diverging_candidate_is_rejected():
    x, y = regression()
    # The suggestion (about 7e-4) learns; 10**4 times it diverges with SGD on this problem.
    result = falling_curve(lowest_at=1.0)
    refined = refine_lr(linear_model(), x, y, result, steps=20, exponents=(0.0, 4.0), batch_size=32)
    assert refined.candidates[1] > 1.0
    assert math.isinf(refined.losses[1])
    assert math.isfinite(refined.losses[0])
    assert refined.rate == refined.candidates[0]


def test_the_training_score_is_the_mean_loss_of_the_last_quarter_of_the_steps():
    # Reference: the same SGD-with-momentum run in NumPy, on the same one shuffle of the data (seed 0).
    x, y = regression()
    result = falling_curve()
    refined = refine_lr(linear_model(), x, y, result, steps=8, exponents=(0.0,), batch_size=32)
    rate = result.suggest("constant")
    model = linear_model()
    kernel, bias = (np.asarray(keras.ops.convert_to_numpy(w), np.float64) for w in model.weights)
    order = np.random.default_rng(0).permutation(len(x))
    xs, ys = x[order].astype(np.float64), y[order].astype(np.float64)
    velocity_k, velocity_b, losses = np.zeros_like(kernel), np.zeros_like(bias), []
    for step in range(8):
        xb, yb = xs[step * 32:(step + 1) * 32], ys[step * 32:(step + 1) * 32]
        error = xb @ kernel + bias - yb
        losses.append(np.mean(error**2))
        grad_k, grad_b = 2 * xb.T @ error / error.size, 2 * error.sum(axis=0) / error.size
        velocity_k, velocity_b = 0.9 * velocity_k - rate * grad_k, 0.9 * velocity_b - rate * grad_b
        kernel, bias = kernel + velocity_k, bias + velocity_b
    assert refined.losses[0] == pytest.approx(np.mean(losses[-2:]), rel=1e-4)


@pytest.mark.parametrize("score", ["train_loss", "val_loss"])
def test_a_model_that_learns_picks_a_sensible_rate(digits_split, score):
    x_train, y_train, x_val, y_val = digits_split
    model = small_digits_model()
    model.compile(keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    found = find_lr(model, x_train, y_train, batch_size=32, num_steps=60)
    exponents = (-4.0, -1.0, 0.0)
    validation = (x_val, y_val) if score == "val_loss" else None
    refined = refine_lr(model, x_train, y_train, found, steps=30, batch_size=32, exponents=exponents,
                        validation_data=validation, score=score)
    # 10**-4 below the suggestion barely trains in 30 steps: it must lose to a rate near the suggestion.
    assert refined.rate != refined.candidates[0]
    assert refined.losses[0] > min(refined.losses[1:])
    assert 1e-4 <= refined.rate <= 1.0


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"result": 0.01}, TypeError, "result"),
        ({"schedule": "linear"}, ValueError, "schedule"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"seed": -1}, ValueError, "seed"),
        ({"exponents": ()}, ValueError, "exponents"),
        ({"exponents": (0.0, math.nan)}, ValueError, "exponents"),
        ({"exponents": "0"}, TypeError, "exponents"),
        ({"validation_data": (1, 2, 3), "score": "val_loss"}, ValueError, "validation_data"),
        ({"score": "accuracy"}, ValueError, "score"),
        ({"score": "val_loss"}, ValueError, "validation_data"),
        ({"validation_data": (np.zeros((4, 4)), np.zeros((4, 1)))}, ValueError, "validation_data"),
        ({"y": None}, ValueError, "y"),
        ({"x": 3}, TypeError, "x"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, error, name):
    x, y = regression(64)
    call = {"x": x, "y": y, "result": falling_curve(), "steps": 2}
    call.update(arguments)
    with pytest.raises(error, match=name):
        refine_lr(linear_model(), **call)


def test_an_optimizer_with_a_schedule_is_refused():
    x, y = regression(64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)), loss="mse")
    with pytest.raises(TypeError, match="learning_rate"):
        refine_lr(model, x, y, falling_curve(), steps=2)
