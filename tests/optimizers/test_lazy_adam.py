"""LazyAdam: against the NumPy reference (dense and sparse gradients), absent rows untouched, an Embedding model."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.optimizers import LazyAdam
from tests.reference import optimizers_modern_a as reference

BACKEND = keras.backend.backend()
SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 12


def _problem(seed, zero_rows=False):
    """Initial values and per-step gradients for every shape; with ``zero_rows`` about a third of the rows
    (entries, for rank <= 1) of each gradient are zero, as an embedding's gradient is for tokens not in the batch."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype(np.float32).astype(np.float64) for shape in SHAPES]
    grads = []
    for _ in range(STEPS):
        step_grads = []
        for shape in SHAPES:
            grad = rng.normal(size=shape)
            if zero_rows:
                rows = grad.reshape(shape[0], -1) if len(shape) >= 2 else grad.reshape(-1, 1)
                rows[rng.random(rows.shape[0]) < 0.35] = 0.0
            step_grads.append(grad.astype(np.float32).astype(np.float64))
        grads.append(step_grads)
    return initial, grads


def _run(optimizer, initial, grads):
    """Drives ``optimizer.apply`` on one variable per shape; returns trajectories[variable][step]."""
    variables = [keras.Variable(value, dtype="float32") for value in initial]
    trajectories = [[] for _ in variables]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g, dtype="float32") for g in step_grads], variables)
        for trajectory, variable in zip(trajectories, variables, strict=True):
            trajectory.append(ops.convert_to_numpy(variable).astype(np.float64))
    return trajectories


def _check_against_reference(actual, initial, grads, lrs, rtol=1e-5, atol=1e-6, **config):
    for index in range(len(SHAPES)):
        expected = reference.lazy_adam(initial[index], [g[index] for g in grads], lrs, **config)
        np.testing.assert_allclose(actual[index], expected, rtol=rtol, atol=atol)


CONFIGS = {
    "defaults": {},
    "other_betas": {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
}


@pytest.mark.parametrize("zero_rows", [False, True], ids=["all_rows", "some_zero_rows"])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("schedule", [False, True], ids=["constant_lr", "exponential_decay"])
def test_matches_reference(config, schedule, zero_rows):
    initial, grads = _problem(seed=0, zero_rows=zero_rows)
    if schedule:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=4, decay_rate=0.5
        )
        lrs = [0.1 * 0.5 ** (step / 4) for step in range(STEPS)]
    else:
        learning_rate, lrs = 0.1, [0.1] * STEPS
    actual = _run(LazyAdam(learning_rate=learning_rate, **config), initial, grads)
    _check_against_reference(actual, initial, grads, lrs, **config)


def test_matches_reference_with_lazy_weight_decay():
    initial, grads = _problem(seed=1, zero_rows=True)
    actual = _run(LazyAdam(learning_rate=0.1, weight_decay=0.5), initial, grads)
    _check_against_reference(actual, initial, grads, [0.1] * STEPS, weight_decay=0.5)


def test_rows_with_a_zero_dense_gradient_keep_weights_and_moments_exactly():
    table = keras.Variable(np.arange(12, dtype="float32").reshape(4, 3))
    optimizer = LazyAdam(learning_rate=0.1, weight_decay=0.1)
    grad = np.ones((4, 3), dtype="float32")
    optimizer.apply([ops.convert_to_tensor(grad)], [table])  # every row gets moments
    before = ops.convert_to_numpy(table).copy()
    m_before = ops.convert_to_numpy(optimizer._momentums[0]).copy()
    v_before = ops.convert_to_numpy(optimizer._velocities[0]).copy()

    grad[[0, 2]] = 0.0
    grad[1, 0] = 0.0  # a partly zero row is present
    for _ in range(3):
        optimizer.apply([ops.convert_to_tensor(grad)], [table])
    after = ops.convert_to_numpy(table)
    m_after = ops.convert_to_numpy(optimizer._momentums[0])
    v_after = ops.convert_to_numpy(optimizer._velocities[0])
    for row in (0, 2):
        np.testing.assert_array_equal(after[row], before[row])
        np.testing.assert_array_equal(m_after[row], m_before[row])
        np.testing.assert_array_equal(v_after[row], v_before[row])
    for row in (1, 3):
        assert np.all(after[row] < before[row])
    # Adam would keep moving row 0 on its momentum and decaying its moments.
    adam = keras.optimizers.Adam(learning_rate=0.1)
    adam_table = keras.Variable(np.arange(12, dtype="float32").reshape(4, 3))
    adam.apply([ops.convert_to_tensor(np.ones((4, 3), "float32"))], [adam_table])
    adam_row = ops.convert_to_numpy(adam_table)[0].copy()
    adam.apply([ops.convert_to_tensor(grad)], [adam_table])
    assert np.all(ops.convert_to_numpy(adam_table)[0] < adam_row)


# --------------------------------------------------------------------------------------------------------------
# Sparse gradients (tf.IndexedSlices): TensorFlow only, the one backend that produces them.

sparse_gradients_only_on_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="tf.IndexedSlices gradients exist only on TensorFlow; JAX and PyTorch give an Embedding a dense "
    "gradient, whose zero rows test_rows_with_a_zero_dense_gradient_keep_weights_and_moments_exactly checks",
)


def _sparse_problem(seed):
    rng = np.random.default_rng(seed)
    initial = rng.normal(size=(6, 3)).astype(np.float32)
    steps = []
    for step in range(STEPS):
        # Repeated indices (a token twice in a batch), and one step whose only present row sums to zero.
        indices = np.array([4, 4] if step == 5 else rng.choice(6, size=4), dtype=np.int64)
        values = rng.normal(size=(len(indices), 3)).astype(np.float32)
        if step == 5:
            values[1] = -values[0]
        steps.append((indices, values))
    return initial, steps


def _apply_sparse(optimizer, initial, steps, compile_step=None):
    import tensorflow as tf

    table = keras.Variable(initial)
    optimizer.build([table])

    def step_fn(indices, values):
        optimizer.apply(
            [tf.IndexedSlices(values, indices, tf.constant(initial.shape, tf.int64))], [table]
        )

    if compile_step is not None:
        step_fn = tf.function(step_fn, jit_compile=compile_step == "xla")
    trajectory = []
    for indices, values in steps:
        step_fn(tf.constant(indices), tf.constant(values))
        trajectory.append(ops.convert_to_numpy(table).astype(np.float64))
    return table, trajectory


@pytest.mark.tf_only
@sparse_gradients_only_on_tensorflow
@pytest.mark.parametrize("compile_step", [None, "graph", "xla"])
def test_sparse_gradient_matches_reference(compile_step):
    initial, steps = _sparse_problem(seed=3)
    optimizer = LazyAdam(learning_rate=0.1, weight_decay=0.2)
    _, actual = _apply_sparse(optimizer, initial, steps, compile_step)
    sparse_grads = [(indices, values.astype(np.float64)) for indices, values in steps]
    expected = reference.lazy_adam(initial, sparse_grads, [0.1] * STEPS, weight_decay=0.2)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.tf_only
@sparse_gradients_only_on_tensorflow
def test_sparse_gradient_never_touches_absent_rows():
    initial, steps = _sparse_problem(seed=4)
    # Row 2 is never looked up.
    steps = [(np.where(indices == 2, 0, indices), values) for indices, values in steps]
    optimizer = LazyAdam(learning_rate=0.1)
    table, _ = _apply_sparse(optimizer, initial, steps)
    np.testing.assert_array_equal(ops.convert_to_numpy(table)[2], initial[2])
    np.testing.assert_array_equal(ops.convert_to_numpy(optimizer._momentums[0])[2], 0.0)
    np.testing.assert_array_equal(ops.convert_to_numpy(optimizer._velocities[0])[2], 0.0)
    assert np.all(ops.convert_to_numpy(optimizer._velocities[0])[[0, 1, 3, 4, 5]] > 0.0)


# --------------------------------------------------------------------------------------------------------------
# A model with an Embedding, through fit(): IndexedSlices on TensorFlow, dense gradients on JAX.

VOCABULARY = 20
UNUSED_TOKENS = [3, 11, 17]


def _embedding_data():
    rng = np.random.default_rng(5)
    tokens = rng.choice([t for t in range(VOCABULARY) if t not in UNUSED_TOKENS], size=(128, 4))
    labels = (tokens % 2).sum(axis=1, keepdims=True).astype(np.float32) / 4.0
    return tokens.astype(np.int32), labels


def _embedding_model():
    inputs = keras.Input((4,), dtype="int32")
    embedded = keras.layers.Embedding(
        VOCABULARY, 8, embeddings_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=6)
    )(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(embedded)
    outputs = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=7))(
        pooled
    )
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_embedding_model_trains_and_unused_rows_stay_put(jit_compile):
    if BACKEND == "jax" and not jit_compile:
        pytest.skip("JAX always compiles fit(); one run is enough.")
    x, y = _embedding_data()
    model = _embedding_model()
    optimizer = LazyAdam(learning_rate=0.02)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    table = model.layers[1].embeddings
    initial_table = ops.convert_to_numpy(table).copy()
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.5 * before, f"loss {before:.4f} -> {after:.4f}"

    final_table = ops.convert_to_numpy(table)
    index = optimizer._get_variable_index(table)
    momentum = ops.convert_to_numpy(optimizer._momentums[index])
    velocity = ops.convert_to_numpy(optimizer._velocities[index])
    used = [t for t in range(VOCABULARY) if t not in UNUSED_TOKENS]
    np.testing.assert_array_equal(final_table[UNUSED_TOKENS], initial_table[UNUSED_TOKENS])
    np.testing.assert_array_equal(momentum[UNUSED_TOKENS], 0.0)
    np.testing.assert_array_equal(velocity[UNUSED_TOKENS], 0.0)
    assert np.all(np.any(final_table[used] != initial_table[used], axis=1))
    assert np.all(np.any(velocity[used] > 0.0, axis=1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_1": -0.1}, ValueError, "beta_1"),
        ({"beta_1": None}, TypeError, "beta_1"),
        ({"beta_2": 1.0}, ValueError, "beta_2"),
        ({"beta_2": -1e-3}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": "small"}, TypeError, "epsilon"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"weight_decay": "lots"}, TypeError, "weight_decay"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LazyAdam(**kwargs)
