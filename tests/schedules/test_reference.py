"""Every schedule against the independent NumPy/Python reference in tests/reference/schedules.py."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_optkit.schedules import list_schedules, schedule_values
from tests.reference.schedules import CASES, SCALE_FN_CASES, reference_value
from tests.schedules._build import build

RTOL = 1e-6
# Keras's own schedules compute `1 + cos(x)` and `rate ** (t / s)` directly in float32, which loses up to ~6e-5
# relative near the end of a decay; cases that run them (alone or nested) are held to that, ours to RTOL.
KERAS_RTOL = 1e-4
# Rates that are exactly zero in the reference (e.g. the end of a decay to 0) must be zero, or as near as float32
# denormals allow.
ATOL = 1e-30
EVERY_STEP_LIMIT = 6000


def _case_id(case):
    name, config, _ = case
    return name + "-" + "-".join(f"{key}={value}" for key, value in sorted(config.items()) if key != "schedule")[:60]


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_matches_reference_at_every_step(case):
    name, config, steps = case
    schedule = build(name, config)
    # The case's chosen steps (phase boundaries and their neighbours, far past the end) and every step up to a limit.
    # Keras's own schedules (checked here only to validate their references, which nested cases use) branch with
    # `ops.cond`, one slow eager call per step on JAX: they are checked at the case's chosen steps only.
    every = range(0, min(max(steps), EVERY_STEP_LIMIT) + 1) if not name.startswith("keras.") else []
    all_steps = sorted(set(steps) | set(every))
    expected = np.array([reference_value(name, config, step) for step in all_steps])
    actual = schedule_values(schedule, all_steps)
    rtol = KERAS_RTOL if "keras." in repr(case) else RTOL
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=ATOL, err_msg=f"{name} {config}")


@pytest.mark.parametrize("case", SCALE_FN_CASES, ids=lambda case: f"{case[0]}-{case[1].get('scale_mode')}")
def test_cyclical_scale_fn_matches_reference(case):
    name, config, steps = case
    schedule = build(name, config)
    expected = [reference_value(name, config, step) for step in steps]
    np.testing.assert_allclose(schedule_values(schedule, steps), expected, rtol=RTOL, atol=ATOL)


def test_every_registered_schedule_has_reference_cases():
    covered = {case[0] for case in CASES}
    missing = [entry.name for entry in list_schedules() if entry.name not in covered]
    assert not missing, f"schedules without reference cases in tests/reference/schedules.py: {missing}"


@pytest.mark.parametrize("case", CASES[::3], ids=[_case_id(case) for case in CASES[::3]])
def test_python_int_and_tensor_steps_agree(case):
    name, config, steps = case
    schedule = build(name, config)
    for step in steps[:: max(1, len(steps) // 6)]:
        from_int = float(ops.convert_to_numpy(schedule(step)))
        from_int64 = float(ops.convert_to_numpy(schedule(ops.convert_to_tensor(step, dtype="int64"))))
        from_int32 = float(ops.convert_to_numpy(schedule(ops.convert_to_tensor(step, dtype="int32"))))
        # As the optimizer's `iterations`: an int64 variable, not trainable (PyTorch cannot make an int trainable).
        step_variable = keras.Variable(step, dtype="int64", trainable=False)
        from_variable = float(ops.convert_to_numpy(schedule(step_variable)))
        assert from_int == from_int64 == from_int32 == from_variable, (name, step)
        rtol = KERAS_RTOL if "keras." in repr(case) else RTOL
        np.testing.assert_allclose(from_int, reference_value(name, config, step), rtol=rtol, atol=ATOL)


@pytest.mark.parametrize("entry", list_schedules(), ids=lambda entry: entry.name)
def test_returns_float32_scalar_for_scalar_step(entry):
    value = entry.build()(3)
    assert ops.shape(value) == ()
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
