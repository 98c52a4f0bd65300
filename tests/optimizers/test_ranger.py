"""Ranger: step by step against RAdam's NumPy reference on centralized gradients inside Lookahead's reference."""

import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import Lookahead, RAdam, Ranger
from tests.optimizers._harness import is_exactly
from tests.optimizers.test_lookahead import STEPS, column, exponential_decay, problem, run
from tests.reference import optimizer_wrappers as reference
from tests.reference.optimizers_classic import radam as radam_reference


def _expected(
    theta,
    grads,
    lrs,
    sync_period=6,
    slow_step_size=0.5,
    use_gc=True,
    weight_decay=0.0,
    **radam_kwargs,
):
    grads = [reference.centralize(g) if use_gc else np.asarray(g) for g in grads]
    radam_kwargs = {"beta_1": 0.95, "epsilon": 1e-5, **radam_kwargs}  # Ranger's defaults
    inner_updates = reference.updates(theta, radam_reference(theta, grads, lrs, **radam_kwargs))
    return reference.lookahead(
        theta, inner_updates, sync_period, slow_step_size, lrs=lrs, weight_decay=weight_decay
    )


@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(schedule):
    initial, grads = problem(seed=0)
    learning_rate, lrs = exponential_decay(0.05) if schedule else (0.05, [0.05] * STEPS)
    # 12 steps: RAdam's switch to rectified steps (step 6 with beta_2 = 0.999) and syncs at 5 and 10.
    actual = run(Ranger(learning_rate=learning_rate, sync_period=5), initial, grads)
    for index, theta in enumerate(initial):
        expected = _expected(theta, column(grads, index), lrs, sync_period=5)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_matches_reference_with_weight_decay_and_radam_options():
    initial, grads = problem(seed=1)
    lrs = [0.05] * STEPS
    options = {
        "beta_1": 0.9,
        "beta_2": 0.99,
        "epsilon": 1e-6,
        "amsgrad": True,
        "sma_threshold": 4.0,
    }
    optimizer = Ranger(
        learning_rate=0.05, sync_period=4, slow_step_size=0.6, weight_decay=0.3, **options
    )
    actual = run(optimizer, initial, grads)
    for index, theta in enumerate(initial):
        expected = _expected(
            theta,
            column(grads, index),
            lrs,
            sync_period=4,
            slow_step_size=0.6,
            weight_decay=0.3,
            **options,
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_without_gc_is_lookahead_around_radam():
    initial, grads = problem(seed=2)
    ranger = run(Ranger(learning_rate=0.05, use_gc=False, sync_period=3), initial, grads)
    composed = run(
        Lookahead(RAdam(learning_rate=0.05, beta_1=0.95, epsilon=1e-5), sync_period=3),
        initial,
        grads,
    )
    with_gc = run(Ranger(learning_rate=0.05, sync_period=3), initial, grads)
    for index, shape in enumerate(np.shape(theta) for theta in initial):
        np.testing.assert_array_equal(ranger[index], composed[index])
        if len(shape) <= 1:  # GC leaves biases and scalars alone ...
            np.testing.assert_array_equal(with_gc[index], ranger[index])
        else:  # ... and changes the rest
            assert not np.allclose(with_gc[index][-1], ranger[index][-1], atol=1e-4)


def test_is_built_from_radam_and_keeps_a_flat_config():
    optimizer = Ranger(learning_rate=0.02, beta_2=0.99, total_steps=100, use_gc=False)
    assert is_exactly(optimizer.inner_optimizer, RAdam)
    assert optimizer.inner_optimizer.beta_2 == 0.99
    assert float(ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.02)
    config = optimizer.get_config()
    assert "optimizer" not in config
    assert (config["beta_2"], config["total_steps"], config["use_gc"]) == (0.99, 100, False)
    restored = Ranger.from_config(config)
    assert restored.inner_optimizer.get_config() == optimizer.inner_optimizer.get_config()
    assert (restored.use_gc, restored.sync_period, restored.slow_step_size) == (False, 6, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.01}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_2": -0.1}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"sma_threshold": 3.0}, ValueError, "sma_threshold"),
        ({"total_steps": -1}, ValueError, "total_steps"),
        ({"warmup_proportion": 1.5}, ValueError, "warmup_proportion"),
        ({"min_lr": -1.0}, ValueError, "min_lr"),
        ({"amsgrad": "no"}, TypeError, "amsgrad"),
        ({"sync_period": 0}, ValueError, "sync_period"),
        ({"slow_step_size": 0.0}, ValueError, "slow_step_size"),
        ({"use_gc": 1}, TypeError, "use_gc"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Ranger(**kwargs)
