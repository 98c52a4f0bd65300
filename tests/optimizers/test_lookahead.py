"""Lookahead, and what every wrapper shares (resolving, state, learning rate, loss scale, JAX stateless steps).

The helpers ``problem`` / ``run`` / ``exponential_decay`` are shared with the other wrapper tests.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import GradientCentralization, Lookahead, RAdam
from tests.optimizers._harness import is_exactly
from tests.reference import optimizer_wrappers as reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12
BACKEND = keras.backend.backend()


def problem(seed, dtype="float32", shapes=SHAPES, steps=STEPS):
    """Initial values and per-step gradients, rounded to ``dtype`` so both sides see the same numbers."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(dtype).astype(np.float64) for shape in shapes]
    grads = [
        [rng.normal(size=shape).astype(dtype).astype(np.float64) for shape in shapes]
        for _ in range(steps)
    ]
    return initial, grads


def run(optimizer, initial, grads, dtype="float32"):
    """Drives ``optimizer.apply`` on one variable per shape; returns trajectories[variable][step]."""
    variables = [keras.Variable(value, dtype=dtype) for value in initial]
    trajectories = [[] for _ in variables]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype=dtype) for g in step_grads], variables)
        for trajectory, variable in zip(trajectories, variables, strict=True):
            trajectory.append(ops.convert_to_numpy(variable).astype(np.float64))
    return trajectories


def exponential_decay(initial_rate, steps=STEPS):
    """A schedule and the rate it gives at each 0-based step."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_rate, decay_steps=4, decay_rate=0.5
    )
    return schedule, [initial_rate * 0.5 ** (step / 4) for step in range(steps)]


def column(grads, index):
    return [step_grads[index] for step_grads in grads]


INNER = {
    "sgd_momentum": (
        lambda lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
        lambda theta, grads, lrs: reference.keras_sgd(theta, grads, lrs, momentum=0.9),
        0.05,
    ),
    "adam": (
        lambda lr: keras.optimizers.Adam(learning_rate=lr),
        reference.keras_adam,
        0.02,
    ),
}


@pytest.mark.parametrize("inner", INNER.values(), ids=INNER.keys())
@pytest.mark.parametrize("sync_period", [1, 5])
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference_across_sync_boundaries(inner, sync_period, schedule):
    make_inner, inner_reference, rate = inner
    initial, grads = problem(seed=sync_period)
    learning_rate, lrs = exponential_decay(rate) if schedule else (rate, [rate] * STEPS)
    # 12 steps: syncs at multiples of sync_period, each compared with the steps just before and after it.
    actual = run(
        Lookahead(make_inner(learning_rate), sync_period=sync_period, slow_step_size=0.4),
        initial,
        grads,
    )
    for index, theta in enumerate(initial):
        inner_trajectory = inner_reference(theta, column(grads, index), lrs)
        expected = reference.lookahead(
            theta, reference.updates(theta, inner_trajectory), sync_period, 0.4
        )
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_weight_decay_on_the_wrapper_matches_reference():
    initial, grads = problem(seed=11)
    lrs = [0.02] * STEPS
    optimizer = Lookahead(
        keras.optimizers.Adam(learning_rate=0.02), sync_period=4, weight_decay=0.5
    )
    actual = run(optimizer, initial, grads)
    for index, theta in enumerate(initial):
        inner_updates = reference.updates(
            theta, reference.keras_adam(theta, column(grads, index), lrs)
        )
        expected = reference.lookahead(theta, inner_updates, 4, 0.5, lrs=lrs, weight_decay=0.5)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)


def test_float16_variables_track_reference_loosely():
    initial, grads = problem(seed=2, dtype="float16")
    optimizer = Lookahead(keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), sync_period=3)
    actual = run(optimizer, initial, grads, dtype="float16")
    assert all(slow.dtype == "float16" for slow in optimizer._slow_weights)
    for index, theta in enumerate(initial):
        inner_trajectory = reference.keras_sgd(
            theta, column(grads, index), [0.05] * STEPS, momentum=0.9
        )
        expected = reference.lookahead(theta, reference.updates(theta, inner_trajectory), 3, 0.5)
        np.testing.assert_allclose(actual[index], expected, rtol=2e-2, atol=2e-2)


def test_slow_step_size_one_is_the_bare_inner_optimizer():
    initial, grads = problem(seed=3)
    wrapped = run(
        Lookahead(keras.optimizers.Adam(0.05), sync_period=2, slow_step_size=1.0), initial, grads
    )
    bare = run(keras.optimizers.Adam(0.05), initial, grads)
    for index in range(len(SHAPES)):
        np.testing.assert_allclose(wrapped[index], bare[index], rtol=1e-6, atol=1e-7)


def test_first_period_follows_the_inner_optimizer_then_pulls_back():
    initial, grads = problem(seed=4)
    wrapped = run(
        Lookahead(keras.optimizers.SGD(0.1), sync_period=4, slow_step_size=0.5), initial, grads[:4]
    )
    bare = run(keras.optimizers.SGD(0.1), initial, grads[:4])
    for index, theta in enumerate(initial):
        np.testing.assert_allclose(wrapped[index][:3], bare[index][:3], rtol=1e-6, atol=1e-7)
        # Step 4 syncs: halfway between the start of the period and where plain SGD got to.
        np.testing.assert_allclose(
            wrapped[index][3], 0.5 * (theta + bare[index][3]), rtol=1e-5, atol=1e-6
        )


def test_gradient_accumulation_counts_applied_updates():
    initial, grads = problem(seed=5, shapes=[(3,), (4, 5)], steps=4)
    optimizer = Lookahead(keras.optimizers.SGD(0.1), sync_period=2, gradient_accumulation_steps=2)
    actual = run(optimizer, initial, grads)
    means = [
        [(a + b) / 2.0 for a, b in zip(grads[i], grads[i + 1], strict=True)] for i in range(0, 4, 2)
    ]
    for index, theta in enumerate(initial):
        inner_trajectory = reference.keras_sgd(theta, column(means, index), [0.1] * 2)
        expected = reference.lookahead(theta, reference.updates(theta, inner_trajectory), 2, 0.5)
        np.testing.assert_allclose(actual[index][1::2], expected, rtol=1e-5, atol=1e-6)
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 2


def test_wrapping_a_wrapper_matches_reference():
    initial, grads = problem(seed=6)
    optimizer = Lookahead(GradientCentralization("adam"), sync_period=5)
    actual = run(optimizer, initial, grads)
    lrs = [0.001] * STEPS  # "adam" is Keras's default Adam
    for index, theta in enumerate(initial):
        centralized = [reference.centralize(g) for g in column(grads, index)]
        inner_updates = reference.updates(theta, reference.keras_adam(theta, centralized, lrs))
        expected = reference.lookahead(theta, inner_updates, 5, 0.5)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-5, atol=1e-6)

    # Every variable, inner ones included, in a stable order: the wrapper's, then the inner wrapper's, then Adam's.
    centralization = optimizer.inner_optimizer
    adam = centralization.inner_optimizer
    expected_order = optimizer._variables + centralization._variables + adam.variables
    assert [id(v) for v in optimizer.variables] == [id(v) for v in expected_order]
    assert len(optimizer.variables) == (1 + len(SHAPES)) + 1 + (2 + 2 * len(SHAPES))


def _model():
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=2))(
        inputs
    )
    return keras.Model(inputs, outputs)


def test_save_and_load_mid_period_resumes_identically(tmp_path):
    rng = np.random.default_rng(7)
    batches = [
        (rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 2)).astype("float32"))
        for _ in range(6)
    ]

    def compiled():
        model = _model()
        model.compile(optimizer=Lookahead(keras.optimizers.Adam(0.05), sync_period=4), loss="mse")
        return model

    uninterrupted = compiled()
    for x, y in batches:
        uninterrupted.train_on_batch(x, y)

    first = compiled()
    for x, y in batches[
        :2
    ]:  # mid-period: the slow weights hold the start of the period, not the weights
        first.train_on_batch(x, y)
    slow_before = [ops.convert_to_numpy(v) for v in first.optimizer._slow_weights]
    assert any(
        not np.allclose(s, ops.convert_to_numpy(w))
        for s, w in zip(slow_before, first.trainable_weights, strict=True)
    )
    first.save(tmp_path / "mid_period.keras")

    resumed = keras.models.load_model(tmp_path / "mid_period.keras")
    assert is_exactly(resumed.optimizer, Lookahead)
    assert is_exactly(resumed.optimizer.inner_optimizer, keras.optimizers.Adam)
    assert resumed.optimizer.sync_period == 4
    for restored, saved in zip(resumed.optimizer._slow_weights, slow_before, strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(restored), saved)
    assert int(ops.convert_to_numpy(resumed.optimizer.inner_optimizer.iterations)) == 2
    for x, y in batches[2:]:  # crosses the sync at step 4, which needs the restored slow weights
        resumed.train_on_batch(x, y)

    for a, b in zip(
        resumed.weights + resumed.optimizer.variables,
        uninterrupted.weights + uninterrupted.optimizer.variables,
        strict=True,
    ):
        np.testing.assert_allclose(
            ops.convert_to_numpy(a), ops.convert_to_numpy(b), rtol=1e-6, atol=1e-7
        )


@pytest.mark.skipif(
    BACKEND == "tensorflow", reason="TF optimizers do not implement stateless_apply (tf.distribute)"
)
def test_stateless_apply_matches_apply():
    initial, grads = problem(seed=8, steps=7)

    def make():
        return Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), sync_period=3)

    expected = run(make(), initial, grads)
    optimizer = make()
    variables = [keras.Variable(value, dtype="float32") for value in initial]
    optimizer.build(variables)
    values = [v.value for v in variables]
    state = [v.value for v in optimizer.variables]
    for step, step_grads in enumerate(grads):
        values, state = optimizer.stateless_apply(
            state, [ops.convert_to_tensor(g, "float32") for g in step_grads], values
        )
        for index, value in enumerate(values):
            np.testing.assert_allclose(
                ops.convert_to_numpy(value), expected[index][step], rtol=1e-6, atol=1e-7
            )
    # The inner optimizer's state travels in the wrapper's state: its step count is there.
    inner_iterations = state[len(optimizer._variables)]
    assert int(ops.convert_to_numpy(inner_iterations)) == 7


def test_learning_rate_is_the_inner_optimizers():
    inner = keras.optimizers.SGD(learning_rate=0.1)
    optimizer = Lookahead(inner)
    assert float(ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.1)
    optimizer.learning_rate = 0.25
    assert float(ops.convert_to_numpy(inner.learning_rate)) == pytest.approx(0.25)
    assert "learning_rate" not in optimizer.get_config()

    schedule, lrs = exponential_decay(0.1)
    scheduled = Lookahead(keras.optimizers.SGD(learning_rate=schedule))
    run(scheduled, *problem(seed=9, steps=3))
    assert float(ops.convert_to_numpy(scheduled.learning_rate)) == pytest.approx(lrs[3], rel=1e-6)


def test_resolves_names_and_configs_to_fresh_optimizers():
    config = {"class_name": "Adam", "config": {"learning_rate": 0.02}}
    first, second = Lookahead(config), Lookahead(config)
    assert is_exactly(first.inner_optimizer, keras.optimizers.Adam)
    assert first.inner_optimizer is not second.inner_optimizer
    assert config == {"class_name": "Adam", "config": {"learning_rate": 0.02}}  # left untouched
    assert float(ops.convert_to_numpy(first.learning_rate)) == pytest.approx(0.02)
    assert is_exactly(Lookahead("adam").inner_optimizer, keras.optimizers.Adam)
    assert is_exactly(Lookahead("radam").inner_optimizer, RAdam)  # one of ours, by its registry name
    assert is_exactly(Lookahead("keras_optkit>RAdam").inner_optimizer, RAdam)
    inner = keras.optimizers.SGD()
    assert Lookahead(inner).inner_optimizer is inner


def test_loss_scale_factor_moves_to_the_wrapper():
    initial, grads = problem(seed=10, steps=4)
    optimizer = Lookahead(keras.optimizers.SGD(0.1, loss_scale_factor=8.0), sync_period=2)
    assert optimizer.loss_scale_factor == 8.0
    assert optimizer.inner_optimizer.loss_scale_factor is None
    assert float(
        ops.convert_to_numpy(optimizer.scale_loss(ops.convert_to_tensor(1.5)))
    ) == pytest.approx(12.0)
    scaled = run(optimizer, initial, [[8.0 * g for g in step] for step in grads])
    plain = run(Lookahead(keras.optimizers.SGD(0.1), sync_period=2), initial, grads)
    for index in range(len(SHAPES)):
        np.testing.assert_allclose(scaled[index], plain[index], rtol=1e-6, atol=1e-7)
    restored = Lookahead.from_config(optimizer.get_config())
    assert (restored.loss_scale_factor, restored.inner_optimizer.loss_scale_factor) == (8.0, None)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sync_period": 0}, ValueError, "sync_period"),
        ({"sync_period": 2.5}, TypeError, "sync_period"),
        ({"sync_period": "6"}, TypeError, "sync_period"),
        ({"slow_step_size": 0.0}, ValueError, "slow_step_size"),
        ({"slow_step_size": 1.5}, ValueError, "slow_step_size"),
        ({"slow_step_size": None}, TypeError, "slow_step_size"),
        ({"optimizer": 3}, TypeError, "optimizer"),
        ({"optimizer": None}, TypeError, "optimizer"),
        ({"optimizer": "no_such_optimizer"}, ValueError, "optimizer"),
        ({"optimizer": {"class_name": "NoSuchOptimizer", "config": {}}}, ValueError, "optimizer"),
        (
            {"optimizer": keras.optimizers.SGD(loss_scale_factor=4.0), "loss_scale_factor": 2.0},
            ValueError,
            "loss_scale_factor",
        ),
        ({"gradient_accumulation_steps": 1}, ValueError, "gradient_accumulation_steps"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    kwargs = {"optimizer": "sgd", **kwargs}
    with pytest.raises(error, match=match):
        Lookahead(**kwargs)
