"""TuningResult.summary(): every trial unless told a limit."""

import types

import keras_tuner
import pytest

from keras_optkit.tuner import TuningResult

TrialStatus = keras_tuner.engine.trial.TrialStatus


def _result(scores, direction="max"):
    """A TuningResult over keras-tuner trials with the given scores (None: a failed trial), no search run."""
    trials = {}
    for index, score in enumerate(scores):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("optimizer", "adam")
        hp.Fixed("schedule", "constant")
        hp.Fixed("adam/learning_rate", 10.0 ** -(1 + index % 4))
        trial_id = f"{index:02d}"
        status = TrialStatus.COMPLETED if score is not None else TrialStatus.FAILED
        trial = keras_tuner.engine.trial.Trial(hp, trial_id=trial_id, status=status)
        trial.score = score
        trials[trial_id] = trial
    objective = keras_tuner.Objective("val_accuracy", direction)
    tuner = types.SimpleNamespace(oracle=types.SimpleNamespace(trials=trials, objective=objective))
    hypermodel = types.SimpleNamespace(epochs=3)
    return TuningResult(tuner, hypermodel, {})


def _trial_lines(text):
    return [line for line in text.splitlines()[2:] if not line.startswith("(")]


def test_summary_shows_every_trial_by_default():
    scores = [0.5 + 0.01 * index for index in range(12)]
    text = _result(scores).summary()
    lines = _trial_lines(text)
    assert len(lines) == 12
    # best first: the ids in the order of descending score
    assert [line.split()[0] for line in lines] == [f"{index:02d}" for index in reversed(range(12))]
    assert "not shown" not in text


def test_summary_with_a_limit_says_how_many_it_left_out():
    scores = [0.5 + 0.01 * index for index in range(12)] + [None]
    text = _result(scores).summary(limit=4)
    lines = _trial_lines(text)
    assert [line.split()[0] for line in lines] == ["11", "10", "09", "08"]
    assert text.splitlines()[-1].startswith("(9 more trial(s) not shown")


def test_summary_puts_failed_trials_last_for_a_min_objective():
    text = _result([None, 0.3, 0.1], direction="min").summary()
    assert [line.split()[0] for line in _trial_lines(text)] == ["02", "01", "00"]


@pytest.mark.parametrize("limit,error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError),
                                         ("5", TypeError)])
def test_summary_refuses_a_bad_limit(limit, error):
    with pytest.raises(error, match=rf"`limit`.*Received: limit={limit!r}"):
        _result([0.1, 0.2]).summary(limit=limit)
