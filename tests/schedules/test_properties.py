"""Property tests: bounds, continuity where the formula is continuous, periodicity of the cyclic schedules."""

import keras
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_optkit import schedules
from keras_optkit.schedules import schedule_values

SETTINGS = settings(max_examples=25, deadline=None)
rates = st.floats(1e-4, 1.0)
steps = st.lists(st.integers(0, 5000), min_size=1, max_size=20)


def _values(schedule, points):
    return schedule_values(schedule, points)


@SETTINGS
@given(rates, st.integers(50, 2000), st.floats(0.05, 0.45), st.booleans(), st.sampled_from(["cos", "linear"]), steps)
def test_one_cycle_stays_between_its_floor_and_peak(peak, total, pct, three_phase, strategy, points):
    schedule = schedules.OneCycle(peak, total, pct_start=pct, three_phase=three_phase, anneal_strategy=strategy)
    floor = peak / 25.0 / 1e4
    values = _values(schedule, points)
    assert np.all(values >= floor * (1 - 1e-6)) and np.all(values <= peak * (1 + 1e-6))


@SETTINGS
@given(rates, st.floats(1.0, 10.0), st.integers(1, 300), st.sampled_from(["triangular", "triangular2", "exp_range"]),
       st.floats(0.99, 1.0), steps)
def test_cyclical_stays_between_bounds(low, ratio, step_size, mode, gamma, points):
    schedule = schedules.CyclicalLearningRate(low, low * ratio, step_size, mode=mode, gamma=gamma)
    values = _values(schedule, points)
    assert np.all(values >= low * (1 - 1e-6)) and np.all(values <= low * ratio * (1 + 1e-6))


@SETTINGS
@given(rates, st.integers(1, 300), st.integers(0, 3000))
def test_triangular_is_periodic_and_triangular2_halves_each_cycle(low, step_size, step):
    high = low * 4
    triangular = schedules.CyclicalLearningRate(low, high, step_size)
    halving = schedules.CyclicalLearningRate(low, high, step_size, mode="triangular2")
    period = 2 * step_size
    first, later = _values(triangular, [step, step + period])
    np.testing.assert_allclose(later, first, rtol=1e-6)
    first, later = _values(halving, [step, step + period]) - low
    np.testing.assert_allclose(later, first / 2, rtol=1e-5, atol=1e-6 * high)


@SETTINGS
@given(rates, st.integers(1, 500), st.integers(0, 5000))
def test_warm_restarts_with_constant_cycles_are_periodic(peak, cycle, step):
    schedule = schedules.CosineAnnealingWarmRestarts(peak, cycle)
    first, later = _values(schedule, [step, step + cycle])
    np.testing.assert_allclose(later, first, rtol=1e-6, atol=1e-12)


def _jump(schedule, point, epsilon=1e-3):
    """How much the rate moves across ``point`` (evaluated just before and just after; steps are cast to float)."""
    before, after = keras.ops.convert_to_numpy(schedule(np.array([point - epsilon, point + epsilon], "float32")))
    return abs(after - before)


@SETTINGS
@given(rates, st.integers(20, 2000), st.floats(0.05, 0.9), st.floats(0.0, 1.0))
def test_continuous_at_every_join(peak, total, warmup_fraction, final_fraction):
    warmup = max(1, int(total * warmup_fraction))
    decay = max(1, (total - warmup) // 2)
    final = peak * final_fraction
    joins = {
        schedules.WarmupCosineDecay(peak, total, warmup, final_learning_rate=final): [warmup, total],
        schedules.WarmupStableDecay(peak, total, warmup, decay, final_learning_rate=final): [
            warmup, total - decay, total],
        schedules.OneCycle(peak, total): [0.3 * total - 1, total - 1],
        schedules.LinearSchedule(peak, final, total): [total],
        schedules.InverseSqrtDecay(peak, warmup): [warmup - 1],
        schedules.Warmup(schedules.WarmupCosineDecay(peak, total), warmup, shape="cosine"): [warmup],
        schedules.CosineAnnealingWarmRestarts(peak, total, warmup_steps=warmup - 1 if warmup > 1 else 0): [
            max(warmup - 1, 0) + 0.5],
    }
    for schedule, points in joins.items():
        for point in points:
            # Within 2e-3 steps either side, a continuous schedule moves by at most ~(max slope) * 2e-3.
            assert _jump(schedule, point) <= peak * 2e-3 * 4 / max(1, min(warmup, total - warmup)) + 1e-6 * peak, (
                schedule, point)


@SETTINGS
@given(rates, st.integers(1, 1000), st.floats(0.01, 1.0), st.lists(st.integers(1, 3000), min_size=1, max_size=5,
                                                                    unique=True))
def test_decays_never_increase(rate, step_size, gamma, milestones):
    for schedule in (
        schedules.StepDecay(rate, step_size, gamma),
        schedules.MultiStepDecay(rate, sorted(milestones), gamma),
        schedules.NaturalExpDecay(rate, gamma, decay_steps=step_size),
    ):
        values = schedule_values(schedule, range(0, 4000, 7))
        # Equal rates may differ by one float32 ulp (vectorized and scalar pow round differently).
        assert np.all(np.diff(values) <= 2e-7 * values[1:]), schedule


def test_restarts_are_discontinuous():
    """The check above is not vacuous: it flags a real jump."""
    schedule = schedules.CosineAnnealingWarmRestarts(0.1, 100)
    assert _jump(schedule, 100) > 0.09


def test_whole_periods_are_counted_exactly_at_their_boundary():
    """XLA may divide through a rounded reciprocal (107 / 107 -> 0.99999994): a boundary step must still count."""
    divisors = np.arange(1, 400)
    for divisor in divisors:
        steps = [int(divisor) - 1, int(divisor), 3 * int(divisor)]
        np.testing.assert_array_equal(schedule_values(schedules.StepDecay(1.0, int(divisor), 0.5), steps),
                                      [1.0, 0.5, 0.125])
        restarts = schedules.CosineAnnealingWarmRestarts(1.0, int(divisor))
        np.testing.assert_allclose(schedule_values(restarts, steps[1:]), [1.0, 1.0], rtol=1e-6)
        cyclic = schedules.CyclicalLearningRate(0.0, 1.0, int(divisor))
        np.testing.assert_allclose(schedule_values(cyclic, [2 * int(divisor), int(divisor)]), [0.0, 1.0], atol=1e-7)
        stairs = schedules.NaturalExpDecay(1.0, 1.0, decay_steps=int(divisor), staircase=True)
        np.testing.assert_allclose(schedule_values(stairs, steps[1:]), [np.exp(-1.0), np.exp(-3.0)], rtol=1e-6)
