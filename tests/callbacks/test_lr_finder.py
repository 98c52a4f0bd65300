"""LRFinder and find_lr: the sweep each step really uses, exact batch losses, the divergence stop,
an exact restore of weights and optimizer state (float rates, schedules, wrapped optimizers, XLA),
the inputs find_lr takes, the suggestions, the plot and serialization."""

import itertools
import math

import keras
import numpy as np
import pytest

from keras_optkit._registry import get_entry
from keras_optkit.callbacks import LRFinder, LRFinderResult, find_lr
from keras_optkit.callbacks._control import learning_rate_source
from keras_optkit.demo import build_digits_model
from keras_optkit.optimizers import Lookahead
from tests._models import small_digits_model


def sweep(start, end, steps):
    """The exponential sweep, written from its formula."""
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


def smooth(losses, beta):
    """Bias-corrected exponential moving average, step by step."""
    average, out = 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return np.array(out)


def state(model):
    variables = model.variables + model.optimizer.variables
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def assert_same_state(ours, theirs):
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(mine, other)


class Observer(keras.callbacks.Callback):
    """Placed after the finder: the rate the coming step uses, and the first kernel around each
    step."""

    def __init__(self):
        super().__init__()
        self.rates, self.before, self.after = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        model = self.model
        self.rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        self.before.append(np.array(keras.ops.convert_to_numpy(model.trainable_variables[0])))

    def on_train_batch_end(self, batch, logs=None):
        kernel = self.model.trainable_variables[0]
        self.after.append(np.array(keras.ops.convert_to_numpy(kernel)))


# ----------------------------------------------------- the sweep drives plain SGD on a linear model

_rng = np.random.default_rng(1)
X_LIN = _rng.normal(size=(8, 3)).astype("float32")
Y_LIN = _rng.normal(size=(8, 1)).astype("float32")


class TwoBatches(keras.utils.PyDataset):
    """Rows 0-3, then rows 4-7, in that order every epoch."""

    def __init__(self):
        super().__init__()

    def __len__(self):
        return 2

    def __getitem__(self, index):
        rows = slice(4 * index, 4 * index + 4)
        return X_LIN[rows], Y_LIN[rows]


def linear_model(learning_rate):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


@pytest.mark.parametrize("kind", ["float", "schedule"])
def test_each_step_uses_the_sweep_rate_and_records_the_exact_batch_loss(kind):
    start, end, steps = 1e-3, 0.3, 7
    if kind == "float":
        rate = 0.05
    else:
        rate = keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5)
    model = linear_model(rate)
    initial = state(model)
    finder, observer = LRFinder(start, end, steps, smoothing=0.6), Observer()
    # 8 batches in 4 epochs; the finder stops after 7, mid-epoch.
    model.fit(TwoBatches(), epochs=4, shuffle=False, callbacks=[finder, observer], verbose=0)

    expected = sweep(start, end, steps)
    result = finder.result
    assert len(observer.before) == steps
    np.testing.assert_allclose(result.learning_rates, expected, rtol=1e-12)
    np.testing.assert_allclose(observer.rates, expected, rtol=1e-5)
    hand_losses = []
    for step in range(steps):
        rows = slice(4 * (step % 2), 4 * (step % 2) + 4)
        x, y = X_LIN[rows].astype("float64"), Y_LIN[rows].astype("float64")
        kernel = observer.before[step].astype("float64")
        residual = x @ kernel - y
        hand_losses.append(float(np.mean(residual**2)))
        gradient = 2.0 / len(x) * x.T @ residual
        # SGD: kernel_after = kernel_before - rate * gradient, which gives away the rate used.
        delta = (observer.before[step] - observer.after[step]).astype("float64")
        used = float(np.sum(delta * gradient) / np.sum(gradient * gradient))
        assert used == pytest.approx(expected[step], rel=1e-4)
    # The second batch of each epoch is its own loss, not the epoch's running mean.
    np.testing.assert_allclose(result.losses, hand_losses, rtol=1e-5)
    np.testing.assert_allclose(result.smoothed_losses, smooth(hand_losses, 0.6), rtol=1e-5)
    assert not result.diverged
    assert_same_state(state(model), initial)
    if kind == "schedule":
        assert learning_rate_source(model.optimizer) is rate


def test_stops_when_the_smoothed_loss_diverges():
    model = linear_model(0.01)
    initial = state(model)
    result = find_lr(
        model, X_LIN, Y_LIN, batch_size=8, start_lr=1e-2, end_lr=1e4, num_steps=60, smoothing=0.5
    )
    smoothed = result.smoothed_losses
    assert result.diverged
    assert 2 <= len(smoothed) < 60
    best_before_last = np.minimum.accumulate(smoothed[:-1])
    # Every step but the last stayed within 4x the best so far; the last left it (or is not finite).
    assert np.all(smoothed[:-1] <= 4.0 * best_before_last)
    assert not (smoothed[-1] <= 4.0 * best_before_last[-1])
    np.testing.assert_allclose(smoothed, smooth(result.losses, 0.5), rtol=1e-9)
    assert_same_state(state(model), initial)


def test_a_fit_shorter_than_the_sweep_warns_and_still_restores():
    model = linear_model(0.01)
    initial = state(model)
    finder = LRFinder(1e-4, 1e-1, 10)
    # Unshuffled: batch losses 5.9 then 5.6. About 1 % of shuffled orders put a batch of loss near
    # 1 first and one near 10 second: the divergence stop (no warning), not a short fit.
    with pytest.warns(UserWarning, match="after 2 of num_steps=10"):
        model.fit(
            X_LIN, Y_LIN, batch_size=4, epochs=1, shuffle=False, callbacks=[finder], verbose=0
        )
    assert not finder.result.diverged
    np.testing.assert_allclose(finder.result.learning_rates, sweep(1e-4, 1e-1, 10)[:2])
    assert_same_state(state(model), initial)


# ---------------------------------------------------------- exact restore on a trained digits model

CASES = {
    # "auto": XLA off on TF's CPU; JAX always compiles.
    "float": (lambda: keras.optimizers.Adam(1e-3), "auto"),
    "float-xla": (lambda: keras.optimizers.Adam(1e-3), True),
    "schedule": (
        lambda: keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 50)),
        "auto",
    ),
    "schedule-xla": (
        lambda: keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 50)),
        True,
    ),
    "loss-scale-schedule": (
        lambda: keras.optimizers.LossScaleOptimizer(
            keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 20, 0.5))
        ),
        "auto",
    ),
    "lookahead-float": (lambda: Lookahead(keras.optimizers.Adam(1e-3), sync_period=3), True),
    "lookahead-schedule": (
        lambda: Lookahead(
            keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 20, 0.5)),
            sync_period=3,
        ),
        "auto",
    ),
}


def compiled_digits(make_optimizer, jit_compile):
    model = small_digits_model(hidden=16)
    model.compile(make_optimizer(), "sparse_categorical_crossentropy", jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_restores_weights_and_optimizer_state_bit_exactly(case, digits_split):
    if case.endswith("-xla") and keras.backend.backend() == "jax":
        pytest.skip("on JAX, jit_compile=\"auto\" already jits the step: the same test as the case without -xla")
    if case == "schedule-xla" and keras.backend.backend() == "torch":
        pytest.skip("torch.compile costs a minute a case on 2 cores: float-xla is PyTorch's compiled case")
    x, y = digits_split[0][:256], digits_split[1][:256]
    make_optimizer, jit_compile = CASES[case]
    if case == "lookahead-float" and keras.backend.backend() == "torch":
        jit_compile = False  # as above: the wrapper's restore is the same compiled or not on PyTorch
    model = compiled_digits(make_optimizer, jit_compile)
    twin = compiled_digits(make_optimizer, jit_compile)
    for each in (model, twin):
        each.fit(x[:96], y[:96], batch_size=32, shuffle=False, verbose=0)  # 3 steps: non-zero slots
    before = state(model)
    optimizer_state = before[len(model.variables) :]
    assert sum(bool(np.any(v != 0)) for v in optimizer_state) >= 4  # iterations and slots
    source = learning_rate_source(model.optimizer)

    start, end, steps = 1e-5, 1e-1, 12
    finder, observer = LRFinder(start, end, steps), Observer()
    model.fit(x, y, batch_size=32, epochs=2, callbacks=[finder, observer], verbose=0)

    assert len(finder.result.losses) == steps
    np.testing.assert_allclose(observer.rates, sweep(start, end, steps), rtol=1e-5)
    assert_same_state(state(model), before)
    assert learning_rate_source(model.optimizer) is source
    # The train step was retraced with the original rate: training goes on exactly as on the twin.
    for each in (model, twin):
        each.fit(x[:64], y[:64], batch_size=32, shuffle=False, verbose=0)
    assert_same_state(state(model), state(twin))


def test_a_checkpoint_written_during_the_sweep_loads_with_the_sweep_rate(tmp_path):
    start, end, steps = 1e-3, 0.3, 7
    model = linear_model(keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5))
    path = str(tmp_path / "during_sweep.keras")

    class SaveAfterThirdStep(keras.callbacks.Callback):
        """Placed after the finder, like a ModelCheckpoint."""

        def __init__(self):
            super().__init__()
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == 3:
                self.model.save(path)

    finder = LRFinder(start, end, steps)
    model.fit(TwoBatches(), epochs=4, callbacks=[finder, SaveAfterThirdStep()], verbose=0)
    loaded = keras.saving.load_model(path)  # no custom_objects
    # The loaded optimizer is at the iteration of step 3 of the sweep.
    rate = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert rate == pytest.approx(sweep(start, end, steps)[3], rel=1e-5)


# ---------------------------------------------------------------------------- inputs of find_lr

def test_tf_dataset_is_repeated_to_num_steps(digits_split):
    # tf.data feeds fit on every backend; only TensorFlow itself must be installed.
    tf = pytest.importorskip("tensorflow")
    x, y = digits_split[0][:96], digits_split[1][:96]
    model = compiled_digits(lambda: keras.optimizers.Adam(1e-3), False)
    model.optimizer.build(model.trainable_variables)
    initial = state(model)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)  # 3 batches
    result = find_lr(model, dataset, start_lr=1e-6, end_lr=1e-2, num_steps=8)
    assert len(result.learning_rates) == 8
    np.testing.assert_allclose(result.learning_rates, sweep(1e-6, 1e-2, 8))
    assert np.all(np.isfinite(result.losses))
    assert_same_state(state(model), initial)


def test_arrays_are_repeated_and_an_unbuilt_optimizer_trains_as_if_untouched(digits_split):
    x, y = digits_split[0][:64], digits_split[1][:64]  # 2 batches per epoch
    model = compiled_digits(lambda: keras.optimizers.Adam(0.01), False)
    twin = compiled_digits(lambda: keras.optimizers.Adam(0.01), False)
    result = find_lr(model, x, y, batch_size=32, start_lr=1e-6, end_lr=1e-2, num_steps=9)
    assert len(result.losses) == 9
    assert np.all(np.isfinite(result.losses))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    for each in (model, twin):
        each.fit(x, y, batch_size=32, shuffle=False, verbose=0)
    assert_same_state(state(model), state(twin))


def test_pydataset_input_and_sweep_values():
    model = linear_model(0.01)
    result = find_lr(model, TwoBatches(), start_lr=1e-4, end_lr=1e-1, num_steps=5)
    np.testing.assert_allclose(result.learning_rates, sweep(1e-4, 1e-1, 5))
    # Step 0 runs on one of the two batches (fit shuffles their order) with the all-ones kernel.
    batch_losses = [
        float(np.mean((X_LIN[rows].astype("float64").sum(axis=1) - Y_LIN[rows, 0]) ** 2))
        for rows in (slice(0, 4), slice(4, 8))
    ]
    assert min(abs(result.losses[0] - loss) / loss for loss in batch_losses) < 1e-5


# ---------------------------------------------------------------------------------- suggestions

RATES = 10.0 ** np.linspace(-6.0, -1.5, 10)  # half a decade apart
VALUES = np.array([3.0, 5.0, 4.0, 6.0, 3.5, 2.0, 2.5, 1.0, 0.5, 7.0])


def brute_force_valley(values):
    """Index fastai's valley rule picks, from an exhaustive search of strictly decreasing
    subsequences."""
    best_length, best_end = 0, None
    for size in range(len(values), 0, -1):
        for combo in itertools.combinations(range(len(values)), size):
            if all(values[a] > values[b] for a, b in itertools.pairwise(combo)):
                if best_end is None or combo[-1] < best_end:
                    best_length, best_end = size, combo[-1]
        if best_end is not None:
            break
    return max(0, best_end - best_length + best_length // 3 + best_length // 6)


def test_suggestions_against_hand_computation():
    result = LRFinderResult(RATES, VALUES, VALUES, skip_begin=0, skip_end=0)
    # Minimum: index 8 (0.5); one tenth of its rate.
    assert result.minimum == pytest.approx(RATES[8] / 10)
    # Slopes (central differences, per half-decade): 2, .5, .5, -.25, -2, -.5, -.5, -1, 3, 6.5.
    assert result.steepest == pytest.approx(RATES[4])
    # Longest strictly decreasing subsequence: 5, 4, 3.5, 2 (or 2.5), 1, 0.5: length 6 ending at
    # index 8, so index 8 - 6 + 2 + 1 = 5.
    assert result.valley == pytest.approx(RATES[5])
    expected = {"minimum": result.minimum, "steepest": result.steepest, "valley": result.valley}
    assert result.suggestions == expected
    assert "valley=" in repr(result) and "steps=10" in repr(result)
    summary = result.summary()
    assert "10 steps" in summary and "completed" in summary
    assert f"{RATES[5]:.3g}" in summary and "lowest smoothed loss 0.5 " in summary
    rates = {family: result.suggest(family) for family in ("constant", "one_cycle", "cosine")}
    assert ", ".join(f"{family} {rate:.3g}" for family, rate in rates.items()) in summary
    flat = LRFinderResult(RATES, np.ones(10), np.ones(10), skip_begin=0, skip_end=0)
    assert "suggest(): none" in flat.summary() and "valley" in flat.summary()


@pytest.mark.parametrize("seed", range(4))
def test_valley_matches_exhaustive_search(seed):
    values = np.random.default_rng(seed).normal(size=11).round(1)
    rates = np.geomspace(1e-5, 1.0, 11)
    result = LRFinderResult(rates, values, values, skip_begin=0, skip_end=0)
    assert result.valley == pytest.approx(rates[brute_force_valley(values)])


def test_valley_index_is_clamped_when_the_valley_starts_at_the_first_point():
    # Strictly decreasing from index 0 over two points: e - L + 0 + 0 = -1, clamped to 0.
    rates, values = np.array([1e-3, 1e-2, 1e-1]), np.array([2.0, 1.0, 3.0])
    result = LRFinderResult(rates, values, values, skip_begin=0, skip_end=0)
    assert result.valley == rates[0]


def test_default_window_and_non_finite_values():
    rates = np.geomspace(1e-7, 10.0, 40)
    values = np.linspace(2.0, 1.0, 40)
    values[2] = 0.1  # in the first tenth: left out
    values[37] = 0.05  # in the last five: left out
    values[20] = np.nan  # ignored
    result = LRFinderResult(rates, values, values, diverged=True)
    assert (result.skip_begin, result.skip_end) == (4, 5)
    assert result.minimum == pytest.approx(rates[34] / 10)
    assert all(np.isfinite(list(result.suggestions.values())))
    assert "diverged" in result.summary()
    empty = LRFinderResult(rates[:1], values[:1], values[:1])
    assert all(math.isnan(rate) for rate in empty.suggestions.values())
    with pytest.raises(ValueError, match="same length"):
        LRFinderResult(rates, values[:-1], values)


def test_plot_lines_hold_the_result_and_the_suggestions_are_marked():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = VALUES + 0.3
    result = LRFinderResult(RATES, losses, VALUES, skip_begin=0, skip_end=0)
    ax = result.plot()
    raw, smoothed = ax.get_lines()
    np.testing.assert_array_equal(raw.get_xdata(), RATES)
    np.testing.assert_array_equal(raw.get_ydata(), losses)
    np.testing.assert_array_equal(smoothed.get_xdata(), RATES)
    np.testing.assert_array_equal(smoothed.get_ydata(), VALUES)
    assert ax.get_xscale() == "log"
    marked = {tuple(c.get_offsets()[0]) for c in ax.collections}
    assert (RATES[4], VALUES[4]) in marked and (RATES[5], VALUES[5]) in marked
    _, given = plt.subplots()
    assert result.plot(ax=given, log=False) is given and given.get_xscale() == "linear"
    plt.close("all")


# --------------------------------------------------------------------------------- it is useful

def test_valley_rate_trains_digits_to_95_percent_in_5_epochs(digits_split):
    x_train, y_train, x_val, y_val = digits_split
    model = build_digits_model(seed=0)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    result = find_lr(model, x_train, y_train, batch_size=32)
    assert 1e-5 < result.valley < 1.0
    model.optimizer.learning_rate = result.valley
    model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0)
    accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    print(f"valley={result.valley:.4g} val_accuracy={accuracy:.4f}")
    assert accuracy >= 0.95


# ------------------------------------------------------------------- serialization and bad inputs

def test_config_round_trip():
    finder = LRFinder(start_lr=1e-5, end_lr=2.0, num_steps=30, smoothing=0.9, diverge_threshold=3)
    config = finder.get_config()
    assert config == {
        "start_lr": 1e-5,
        "end_lr": 2.0,
        "num_steps": 30,
        "smoothing": 0.9,
        "diverge_threshold": 3.0,
    }
    assert LRFinder.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(finder))
    assert isinstance(restored, LRFinder) and restored.get_config() == config
    assert get_entry("callback", "lr_finder").build().num_steps == 50


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"start_lr": 0.0}, ValueError, "start_lr"),
        ({"start_lr": -1e-3}, ValueError, "start_lr"),
        ({"end_lr": "big"}, TypeError, "end_lr"),
        ({"end_lr": float("inf")}, ValueError, "end_lr"),
        ({"start_lr": 1.0, "end_lr": 1.0}, ValueError, "end_lr"),
        ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr"),
        ({"num_steps": 1}, ValueError, "num_steps"),
        ({"num_steps": 2.5}, TypeError, "num_steps"),
        ({"smoothing": 1.0}, ValueError, "smoothing"),
        ({"smoothing": -0.1}, ValueError, "smoothing"),
        ({"diverge_threshold": 1.0}, ValueError, "diverge_threshold"),
    ],
)
def test_invalid_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        LRFinder(**kwargs)
    model = linear_model(0.01)
    with pytest.raises(error, match=name):
        find_lr(model, X_LIN, Y_LIN, **kwargs)


def test_invalid_model_and_data():
    uncompiled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="find_lr needs a model compiled"):
        find_lr(uncompiled, X_LIN, Y_LIN)
    model = linear_model(0.01)
    with pytest.raises(ValueError, match="batch_size"):
        find_lr(model, X_LIN, Y_LIN, batch_size=0)
    with pytest.raises(ValueError, match="`y` must be None"):
        find_lr(model, TwoBatches(), Y_LIN)
    with pytest.raises(ValueError, match="`y` is needed"):
        find_lr(model, X_LIN)
    with pytest.raises(TypeError, match="`x` must be arrays"):
        find_lr(model, "digits.csv", Y_LIN)
    model.compile(keras.optimizers.SGD(0.01), loss="mse", steps_per_execution=2)
    with pytest.raises(ValueError, match="steps_per_execution"):
        find_lr(model, X_LIN, Y_LIN, batch_size=2, num_steps=4)
