"""tune(budget_epochs=...): a hard limit in epochs of the full training set, range tests included; epochs_used;
one progress line per trial."""

import math

import keras
import pytest

from keras_optkit.tuner import SearchSpace, tune
from keras_optkit.tuner.hypermodel import EpochBudget

LOSS = "sparse_categorical_crossentropy"
SAMPLES, BATCH = 640, 16
STEPS_PER_EPOCH = math.ceil(SAMPLES / BATCH)


def build_mlp():
    return keras.Sequential(
        [keras.Input(shape=(64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, "softmax")]
    )


@pytest.fixture(scope="module")
def data(digits_split):
    x, y, x_val, y_val = digits_split
    return x[:SAMPLES], y[:SAMPLES], x_val[:120], y_val[:120]


class BatchCounter(keras.callbacks.Callback):
    """Counts the training batches of every trial. keras-tuner deep-copies the callbacks of each trial: the count
    lives in a list that the copies share (a class attribute)."""

    batches: list = []

    def on_train_batch_end(self, batch, logs=None):
        BatchCounter.batches.append(batch)


def _tune(data, tmp_path, **kwargs):
    x, y, x_val, y_val = data
    options = {
        "validation_data": (x_val, y_val),
        "epochs": 2,
        "batch_size": BATCH,
        "loss": LOSS,
        "metrics": ["accuracy"],
        "objective": "val_accuracy",
        "search_space": SearchSpace(optimizers=["adam"], schedules=["one_cycle", "constant"], l2=None,
                                    weight_decay=None),
        "directory": tmp_path,
        **kwargs,
    }
    BatchCounter.batches = []
    result = tune(build_mlp, x, y, callbacks=[BatchCounter()], **options)
    trained = len(BatchCounter.batches)
    tested = sum(len(finder.learning_rates) for finder in result.finder_results.values())
    return result, (trained + tested) / STEPS_PER_EPOCH


@pytest.mark.slow
def test_budget_is_never_exceeded_counts_the_range_test_and_starts_from_the_suggestion(data, tmp_path, capsys):
    # Without the budget: a 40-step range test (1 epoch) and 10 trials x 2 epochs. 6.5 epochs stop it in the
    # third trial, which starts with 1.5 epochs left.
    limit = 6.5
    result, counted = _tune(data, tmp_path, tuner="random", max_trials=10, budget_epochs=limit, finder_steps=40)
    assert [len(f.learning_rates) for f in result.finder_results.values()] == [40]
    assert result.epochs_used == pytest.approx(counted)
    assert counted <= limit
    # A trial starts while an epoch is left, and the last one is cut after the last batch that fits.
    assert counted > limit - 1.0
    assert len(result.table()) < 10

    # A random search's first trial is the range test's suggestion.
    first = min(result.table(), key=lambda row: int(row["trial_id"]))
    bounds = SearchSpace().learning_rate_ranges["adam"]
    suggested = result.finder_results["adam"].suggest("one_cycle")
    assert first["schedule"] == "one_cycle"
    assert first["learning_rate"] == pytest.approx(min(max(suggested, bounds.low), bounds.high))

    # Progress by default: the range test, then one line per trial with its recipe, score, epochs, best so far.
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("range test adam: 40 steps (1 epochs)")
    trials = lines[1:]
    assert [line.split(":")[0] for line in trials] == [f"trial {i + 1}" for i in range(len(result.table()))]
    assert trials[0].startswith("trial 1: adam, one_cycle, lr ")
    assert all("val_accuracy" in line and "best so far" in line for line in trials)
    assert trials[-1].endswith(f"{counted:.3g} of 6.5 epochs used")


@pytest.mark.slow
def test_budget_holds_for_hyperband_without_a_range_test_and_verbose_zero_is_silent(data, tmp_path, capsys):
    # Hyperband under a budget: its brackets repeated until the budget is spent.
    result, counted = _tune(data, tmp_path, tuner="hyperband", budget_epochs=3, narrow_lr_with_finder=False,
                            epochs=3, factor=3, verbose=0)
    assert type(result.tuner.oracle).__name__ == "HyperbandOracle"
    assert result.finder_results == {}
    assert result.epochs_used == pytest.approx(counted)
    assert 3 - 1.0 < counted <= 3
    assert capsys.readouterr().out == ""


def test_without_a_tuner_a_budget_runs_a_random_search_that_only_the_budget_ends(data, tmp_path):
    # 12 one-epoch trials' worth: more than the 10 trials of a search without a budget.
    result, counted = _tune(data, tmp_path, budget_epochs=12, narrow_lr_with_finder=False, epochs=1, verbose=0)
    assert type(result.tuner.oracle).__name__ == "RandomSearchOracle"
    assert len(result.table()) == 12
    assert counted == pytest.approx(12)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), (0.5, ValueError),
                                          ("10", TypeError), (math.inf, ValueError)])
def test_bad_budgets_are_refused_before_any_training(data, tmp_path, value, error):
    x, y, _, _ = data
    with pytest.raises(error, match="budget_epochs"):
        tune(build_mlp, x, y, loss=LOSS, objective="loss", budget_epochs=value, directory=tmp_path)


def test_a_budget_is_refused_in_distributed_mode(data, tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    x, y, _, _ = data
    with pytest.raises(ValueError, match="distributed"):
        tune(build_mlp, x, y, loss=LOSS, objective="loss", budget_epochs=4, directory=tmp_path)


def test_epoch_budget_arithmetic():
    budget = EpochBudget(1.0)
    for _ in range(10):
        assert budget.fits(0.1)
        budget.spend(0.1)  # ten tenths: rounding must not refuse the last one nor allow an eleventh
    assert not budget.fits(0.1)
    assert budget.remaining() == pytest.approx(0.0)
    unlimited = EpochBudget()
    unlimited.spend(1e9)
    assert unlimited.fits(1e9) and unlimited.remaining() == math.inf
