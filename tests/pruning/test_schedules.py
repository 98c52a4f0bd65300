"""Sparsity schedules: values at every phase boundary and update steps against the NumPy reference, config,
serialization and argument checks, for every registered sparsity schedule."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.pruning import ConstantSparsity, PolynomialDecaySparsity, list_sparsity_schedules
from tests.reference import pruning as reference

POLYNOMIAL_CASES = [
    dict(initial_sparsity=0.0, final_sparsity=0.9, begin_step=0, end_step=100),
    dict(initial_sparsity=0.2, final_sparsity=0.8, begin_step=30, end_step=70, power=1.0, frequency=10),
    dict(initial_sparsity=0.5, final_sparsity=0.95, begin_step=7, end_step=1007, power=2.0, frequency=37),
    dict(initial_sparsity=0.3, final_sparsity=0.3, begin_step=5, end_step=6, power=0.5, frequency=1),
]
CONSTANT_CASES = [dict(sparsity=0.5), dict(sparsity=0.75, begin_step=20, frequency=7), dict(sparsity=0.0)]


def _boundaries(begin, end):
    steps = {0, 1, begin - 1, begin, begin + 1, end - 1, end, end + 1, 3 * end + 5, (begin + end) // 2}
    return sorted(step for step in steps if step >= 0)


def _values(schedule, steps):
    return np.asarray(ops.convert_to_numpy(schedule(np.asarray(steps, dtype="float32"))), dtype=np.float64)


@pytest.mark.parametrize("config", POLYNOMIAL_CASES)
def test_polynomial_decay_matches_the_reference_at_every_phase_boundary(config):
    schedule = PolynomialDecaySparsity(**config)
    steps = _boundaries(config["begin_step"], config["end_step"])
    expected = [
        reference.polynomial_sparsity(step, config["initial_sparsity"], config["final_sparsity"],
                                      config["begin_step"], config["end_step"], config.get("power", 3.0))
        for step in steps
    ]
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-6, atol=1e-7)
    for step, value in zip(steps, expected, strict=True):  # scalar calls too (the callback uses them)
        assert schedule.sparsity_at(step) == pytest.approx(value, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("config", CONSTANT_CASES)
def test_constant_sparsity_matches_the_reference(config):
    schedule = ConstantSparsity(**config)
    begin = config.get("begin_step", 0)
    steps = _boundaries(begin, begin + 50)
    expected = [reference.constant_sparsity(step, config["sparsity"], begin) for step in steps]
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("schedule", [PolynomialDecaySparsity(**c) for c in POLYNOMIAL_CASES]
                         + [ConstantSparsity(**c) for c in CONSTANT_CASES], ids=repr)
def test_update_steps_match_the_reference(schedule):
    last = (schedule.end_step or schedule.begin_step + 60) + 2 * schedule.frequency + 3
    expected = reference.update_steps(schedule.begin_step, schedule.frequency, schedule.end_step, last)
    assert [step for step in range(last + 1) if schedule.is_update_step(step)] == expected
    for step in range(last + 1):
        earlier = [update for update in expected if update <= step]
        assert schedule.last_update_step(step) == (earlier[-1] if earlier else None), step


def test_final_update_reaches_the_final_sparsity_when_the_span_is_a_multiple_of_frequency():
    schedule = PolynomialDecaySparsity(0.0, 0.6, begin_step=10, end_step=50, frequency=20)
    assert schedule.last_update_step(10**6) == 50
    assert schedule.sparsity_at(50) == pytest.approx(0.6)
    uneven = PolynomialDecaySparsity(0.0, 0.6, begin_step=10, end_step=55, frequency=20)
    assert uneven.last_update_step(10**6) == 50
    assert uneven.sparsity_at(50) < 0.6


@pytest.mark.parametrize("entry", list_sparsity_schedules(), ids=lambda entry: entry.name)
def test_every_registered_schedule_round_trips_its_config_and_serialization(entry):
    schedule = entry.build()
    assert keras.saving.get_registered_name(entry.cls) == f"keras_optkit>{entry.name}"
    again = entry.cls.from_config(schedule.get_config())
    assert again.get_config() == schedule.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, entry.cls) and restored.get_config() == schedule.get_config()
    steps = list(range(0, 2000, 97))
    np.testing.assert_array_equal(_values(restored, steps), _values(schedule, steps))
    assert entry.name in repr(schedule)


@pytest.mark.parametrize("entry", list_sparsity_schedules(), ids=lambda entry: entry.name)
def test_every_registered_schedule_stays_in_zero_one_and_never_decreases(entry):
    values = _values(entry.build(), list(range(0, 3000, 7)))
    assert np.all(values >= 0) and np.all(values < 1)
    assert np.all(np.diff(values) >= -1e-7)


@pytest.mark.parametrize("make,error,text", [
    (lambda: PolynomialDecaySparsity(0.0, 1.0, 0, 10), ValueError, "`final_sparsity` must be in [0, 1). Received: final_sparsity=1.0"),
    (lambda: PolynomialDecaySparsity(-0.1, 0.5, 0, 10), ValueError, "`initial_sparsity` must be in [0, 1). Received: initial_sparsity=-0.1"),
    (lambda: PolynomialDecaySparsity(0.6, 0.5, 0, 10), ValueError, "`final_sparsity` must be >= `initial_sparsity`"),
    (lambda: PolynomialDecaySparsity(0.0, 0.5, 10, 10), ValueError, "`end_step` must be > `begin_step`. Received: begin_step=10, end_step=10"),
    (lambda: PolynomialDecaySparsity(0.0, 0.5, 10, 3), ValueError, "end_step=3"),
    (lambda: PolynomialDecaySparsity(0.0, 0.5, -1, 3), ValueError, "`begin_step` must be >= 0"),
    (lambda: PolynomialDecaySparsity(0.0, 0.5, 0, 10, power=0), ValueError, "`power` must be > 0"),
    (lambda: PolynomialDecaySparsity(0.0, 0.5, 0, 10, frequency=0), ValueError, "`frequency` must be >= 1"),
    (lambda: PolynomialDecaySparsity(0.0, 0.5, 0, 10.5), TypeError, "`end_step` must be an integer"),
    (lambda: ConstantSparsity(1.5), ValueError, "`sparsity` must be in [0, 1). Received: sparsity=1.5"),
    (lambda: ConstantSparsity(1.0), ValueError, "Received: sparsity=1.0"),
    (lambda: ConstantSparsity("0.5"), TypeError, "`sparsity` must be a real number"),
    (lambda: ConstantSparsity(0.5, begin_step=-2), ValueError, "`begin_step` must be >= 0"),
])
def test_bad_arguments_are_refused_with_the_argument_named(make, error, text):
    with pytest.raises(error) as raised:
        make()
    assert text in str(raised.value)
