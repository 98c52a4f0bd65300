"""AdEMAMix: step-by-step against the NumPy reference, the alpha / beta_3 schedulers, alpha=0 is Adam, arguments."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import AdEMAMix
from tests.optimizers._harness import SHAPES, STEPS, make_problem, run_apply
from tests.reference import optimizers_modern_b as reference


def _check_against_reference(actual, initial, grads, lrs, **config):
    for index in range(len(SHAPES)):
        expected = reference.ademamix(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


CONFIGS = {
    "defaults": {},
    # Both warmups end inside the 12 steps (at different steps), so both phases and the boundary are compared.
    "warmups": {"alpha_warmup_steps": 5, "beta_3_warmup_steps": 8},
    "warmups_short_memory": {
        "beta_1": 0.5,
        "beta_2": 0.9,
        "beta_3": 0.99,
        "alpha": 2.0,
        "alpha_warmup_steps": 9,
        "beta_3_warmup_steps": 3,
        "epsilon": 1e-6,
    },
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule):
    initial, grads = make_problem(seed=0)
    if schedule:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=4, decay_rate=0.5
        )
        lrs = [0.1 * 0.5 ** (step / 4) for step in range(STEPS)]
    else:
        learning_rate, lrs = 0.1, [0.1] * STEPS
    actual = run_apply(AdEMAMix(learning_rate=learning_rate, **config), initial, grads)
    _check_against_reference(actual, initial, grads, lrs, **config)


def test_matches_reference_with_weight_decay():
    initial, grads = make_problem(seed=1)
    config = {"alpha_warmup_steps": 4, "beta_3_warmup_steps": 4}
    actual = run_apply(AdEMAMix(learning_rate=0.1, weight_decay=0.05, **config), initial, grads)
    _check_against_reference(actual, initial, grads, [0.1] * STEPS, weight_decay=0.05, **config)


def _scalar(value):
    return float(ops.convert_to_numpy(value))


@pytest.mark.parametrize(("beta_1", "beta_3"), [(0.9, 0.9999), (0.5, 0.999), (0.95, 0.99)])
def test_beta_3_scheduler_is_the_papers_formula_with_a_linear_half_life(beta_1, beta_3):
    warmup = 100
    optimizer = AdEMAMix(beta_1=beta_1, beta_3=beta_3, beta_3_warmup_steps=warmup)
    steps = [0, 1, 25, 50, 99, 100, 101, 1000]
    values = [_scalar(optimizer._beta_3_at(step)) for step in steps]
    expected = [reference.ademamix_beta_3(step, beta_1, beta_3, warmup) for step in steps]
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    # Starts at beta_1, reaches beta_3 at T_beta3 and stays there.
    assert values[0] == pytest.approx(beta_1, rel=1e-6)
    assert values[5:] == pytest.approx([beta_3] * 3, rel=1e-7)
    # The half-life ln(1/2) / ln(beta_3(t)) grows linearly from beta_1's to beta_3's.
    half_life = [
        math.log(0.5) / math.log(_scalar(optimizer._beta_3_at(t))) for t in (0, 25, 50, 75, 100)
    ]
    np.testing.assert_allclose(np.diff(half_life, 2), 0.0, atol=1e-3 * half_life[-1])


def test_beta_3_scheduler_starts_from_zero_memory_when_beta_1_is_zero():
    optimizer = AdEMAMix(beta_1=0.0, beta_3=0.99, beta_3_warmup_steps=10)
    assert _scalar(optimizer._beta_3_at(0)) == 0.0
    # 1 / ln(beta_3(t)) = (t / T) / ln(beta_3): the half-life grows linearly from 0.
    for step in (1, 5, 10):
        expected = math.exp(math.log(0.99) * 10 / step)
        assert _scalar(optimizer._beta_3_at(step)) == pytest.approx(expected, rel=1e-6)


def test_alpha_scheduler_is_linear_then_constant():
    optimizer = AdEMAMix(alpha=5.0, alpha_warmup_steps=8)
    values = [_scalar(optimizer._alpha_at(step)) for step in (0, 1, 4, 8, 9, 100)]
    np.testing.assert_allclose(values, [0.0, 0.625, 2.5, 5.0, 5.0, 5.0], rtol=1e-6)
    assert _scalar(AdEMAMix(alpha=5.0)._alpha_at(1)) == 5.0


def test_without_warmup_the_slow_ema_is_not_bias_corrected():
    optimizer = AdEMAMix(learning_rate=0.1, beta_3=0.99, alpha=3.0)
    variable = keras.Variable([0.0])
    optimizer.apply([ops.convert_to_tensor([2.0])], [variable])
    slow = float(ops.convert_to_numpy(optimizer._slow_momentums[0])[0])
    assert slow == pytest.approx(0.01 * 2.0, rel=1e-6)
    # Fast EMA bias-corrected to g = 2, second moment to g^2: step 0.1 * (2 + 3 * 0.02) / 2.
    assert float(ops.convert_to_numpy(variable)[0]) == pytest.approx(-0.1 * 2.06 / 2.0, rel=1e-5)


def test_alpha_zero_is_adam():
    initial, grads = make_problem(seed=3)
    # Keras's Adam adds epsilon after the bias correction is folded into the step; a tiny epsilon hides that.
    # It also computes 1 - beta_2**t from a float32 beta_2 (1 - 0.999 off by 1e-5 relative), hence 1e-4.
    ademamix = run_apply(AdEMAMix(learning_rate=0.05, alpha=0.0, epsilon=1e-12), initial, grads)
    adam = run_apply(keras.optimizers.Adam(learning_rate=0.05, epsilon=1e-12), initial, grads)
    for mine, theirs in zip(ademamix, adam, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    # ... while alpha > 0 is not Adam.
    mixed = run_apply(AdEMAMix(learning_rate=0.05, alpha=5.0, beta_3=0.9, epsilon=1e-12), initial, grads)
    assert not np.allclose(mixed[2][-1], adam[2][-1], rtol=1e-3, atol=1e-3)


def test_slow_ema_keeps_pushing_after_the_gradient_flips():
    # Twenty steps of +1 then one of -1: Adam's fast EMA alone still points along +1 (momentum), and the slow EMA
    # adds more of it, so AdEMAMix moves further in the old direction than Adam on the flipped step.
    def last_move(optimizer):
        variable = keras.Variable(0.0)
        for gradient in [1.0] * 20 + [-1.0]:
            before = float(ops.convert_to_numpy(variable))
            optimizer.apply([ops.convert_to_tensor(gradient)], [variable])
        return float(ops.convert_to_numpy(variable)) - before

    with_slow = last_move(AdEMAMix(learning_rate=0.01, beta_3=0.999, alpha=5.0))
    without = last_move(AdEMAMix(learning_rate=0.01, beta_3=0.999, alpha=0.0))
    assert with_slow < without < 0.0


def test_config_round_trip_keeps_every_argument():
    optimizer = AdEMAMix(
        beta_3=0.99, alpha=2.0, alpha_warmup_steps=7, beta_3_warmup_steps=9, epsilon=1e-6
    )
    restored = AdEMAMix.from_config(optimizer.get_config())
    assert (
        restored.beta_3,
        restored.alpha,
        restored.alpha_warmup_steps,
        restored.beta_3_warmup_steps,
        restored.epsilon,
    ) == (0.99, 2.0, 7, 9, 1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_1": -0.1}, ValueError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": "high"}, TypeError, "beta_2"),
        ({"beta_3": 1.0}, ValueError, "beta_3"),
        ({"beta_3": -0.5}, ValueError, "beta_3"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"alpha": None}, TypeError, "alpha"),
        ({"alpha_warmup_steps": 0}, ValueError, "alpha_warmup_steps"),
        ({"alpha_warmup_steps": 2.5}, TypeError, "alpha_warmup_steps"),
        ({"beta_3_warmup_steps": -10}, ValueError, "beta_3_warmup_steps"),
        ({"beta_3_warmup_steps": "100"}, TypeError, "beta_3_warmup_steps"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-8}, ValueError, "epsilon"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdEMAMix(**kwargs)
