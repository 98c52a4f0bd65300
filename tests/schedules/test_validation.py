"""Every argument that can be wrong is rejected at construction with an error naming it and the value."""

import keras
import pytest

from keras_optkit import schedules

S = schedules
BAD = [
    # (class, valid kwargs, argument, bad value, error type)
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "max_learning_rate", 0.0, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "max_learning_rate", "0.1", TypeError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "total_steps", 1, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "total_steps", 10.5, TypeError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "pct_start", 1.0, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "pct_start", 0.005, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100, "three_phase": True}, "pct_start", 0.6, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "div_factor", -1.0, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "final_div_factor", 0, ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "anneal_strategy", "cosine", ValueError),
    (S.OneCycle, {"max_learning_rate": 0.1, "total_steps": 100}, "three_phase", "yes", TypeError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "initial_learning_rate", -0.1, ValueError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "maximal_learning_rate", 0.05, ValueError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "step_size", 0, ValueError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "mode", "sawtooth", ValueError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "gamma", 1.5, ValueError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "gamma", 0.0, ValueError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "scale_fn", 3, TypeError),
    (S.CyclicalLearningRate, {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 10},
     "scale_mode", "epoch", ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "initial_learning_rate", 0.0, ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "first_cycle_steps", 0, ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "cycle_mult", 0.5, ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "cycle_mult", 1.0001, ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "min_learning_rate", 0.2, ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "peak_decay", 0.0, ValueError),
    (S.CosineAnnealingWarmRestarts, {"initial_learning_rate": 0.1, "first_cycle_steps": 10},
     "warmup_steps", 10, ValueError),
    (S.WarmupCosineDecay, {"peak_learning_rate": 0.1, "total_steps": 100}, "peak_learning_rate", -1.0, ValueError),
    (S.WarmupCosineDecay, {"peak_learning_rate": 0.1, "total_steps": 100}, "total_steps", 0, ValueError),
    (S.WarmupCosineDecay, {"peak_learning_rate": 0.1, "total_steps": 100}, "warmup_steps", 100, ValueError),
    (S.WarmupCosineDecay, {"peak_learning_rate": 0.1, "total_steps": 100}, "warmup_steps", -1, ValueError),
    (S.WarmupCosineDecay, {"peak_learning_rate": 0.1, "total_steps": 100}, "initial_learning_rate", -1e-3,
     ValueError),
    (S.WarmupCosineDecay, {"peak_learning_rate": 0.1, "total_steps": 100}, "final_learning_rate", float("nan"),
     ValueError),
    (S.NaturalExpDecay, {"initial_learning_rate": 0.1, "decay_rate": 0.5}, "initial_learning_rate", 0, ValueError),
    (S.NaturalExpDecay, {"initial_learning_rate": 0.1, "decay_rate": 0.5}, "decay_rate", -0.5, ValueError),
    (S.NaturalExpDecay, {"initial_learning_rate": 0.1, "decay_rate": 0.5}, "decay_steps", 0, ValueError),
    (S.NaturalExpDecay, {"initial_learning_rate": 0.1, "decay_rate": 0.5}, "staircase", 1, TypeError),
    (S.StepDecay, {"initial_learning_rate": 0.1, "step_size": 10}, "initial_learning_rate", None, TypeError),
    (S.StepDecay, {"initial_learning_rate": 0.1, "step_size": 10}, "step_size", 0, ValueError),
    (S.StepDecay, {"initial_learning_rate": 0.1, "step_size": 10}, "gamma", 0.0, ValueError),
    (S.MultiStepDecay, {"initial_learning_rate": 0.1, "milestones": [10]}, "milestones", [], ValueError),
    (S.MultiStepDecay, {"initial_learning_rate": 0.1, "milestones": [10]}, "milestones", [20, 10], ValueError),
    (S.MultiStepDecay, {"initial_learning_rate": 0.1, "milestones": [10]}, "milestones", [10, 10], ValueError),
    (S.MultiStepDecay, {"initial_learning_rate": 0.1, "milestones": [10]}, "milestones", [0, 10], ValueError),
    (S.MultiStepDecay, {"initial_learning_rate": 0.1, "milestones": [10]}, "milestones", 10, TypeError),
    (S.MultiStepDecay, {"initial_learning_rate": 0.1, "milestones": [10]}, "gamma", -0.1, ValueError),
    (S.LinearSchedule, {"initial_learning_rate": 0.1, "final_learning_rate": 0.0, "total_steps": 10},
     "initial_learning_rate", -0.1, ValueError),
    (S.LinearSchedule, {"initial_learning_rate": 0.1, "final_learning_rate": 0.0, "total_steps": 10},
     "final_learning_rate", -0.1, ValueError),
    (S.LinearSchedule, {"initial_learning_rate": 0.1, "final_learning_rate": 0.0, "total_steps": 10},
     "total_steps", 0, ValueError),
    (S.InverseSqrtDecay, {"peak_learning_rate": 0.1, "warmup_steps": 10}, "peak_learning_rate", 0.0, ValueError),
    (S.InverseSqrtDecay, {"peak_learning_rate": 0.1, "warmup_steps": 10}, "warmup_steps", 0, ValueError),
    (S.WarmupStableDecay, {"peak_learning_rate": 0.1, "total_steps": 100, "warmup_steps": 10, "decay_steps": 20},
     "peak_learning_rate", 0.0, ValueError),
    (S.WarmupStableDecay, {"peak_learning_rate": 0.1, "total_steps": 100, "warmup_steps": 10, "decay_steps": 20},
     "warmup_steps", 90, ValueError),
    (S.WarmupStableDecay, {"peak_learning_rate": 0.1, "total_steps": 100, "warmup_steps": 10, "decay_steps": 20},
     "decay_steps", 0, ValueError),
    (S.WarmupStableDecay, {"peak_learning_rate": 0.1, "total_steps": 100, "warmup_steps": 10, "decay_steps": 20},
     "final_learning_rate", -1.0, ValueError),
    (S.WarmupStableDecay, {"peak_learning_rate": 0.1, "total_steps": 100, "warmup_steps": 10, "decay_steps": 20},
     "decay_shape", "exp", ValueError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10}, "schedule", "cosine", TypeError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10}, "schedule", -0.1, ValueError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10}, "warmup_steps", -1, ValueError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10}, "initial_learning_rate", -1.0, ValueError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10}, "shape", "quadratic", ValueError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10, "shape": "exponential", "initial_learning_rate": 1e-3},
     "initial_learning_rate", 0.0, ValueError),
    (S.Warmup, {"schedule": 0.1, "warmup_steps": 10, "shape": "exponential", "initial_learning_rate": 1e-3},
     "schedule", 0.0, ValueError),
    (S.SequentialSchedule, {"schedules": [0.1, 0.01], "boundaries": [10]}, "schedules", [0.1], ValueError),
    (S.SequentialSchedule, {"schedules": [0.1, 0.01], "boundaries": [10]}, "schedules", 0.1, TypeError),
    (S.SequentialSchedule, {"schedules": [0.1, 0.01], "boundaries": [10]}, "schedules", [0.1, "x"], TypeError),
    (S.SequentialSchedule, {"schedules": [0.1, 0.01], "boundaries": [10]}, "boundaries", [10, 20], ValueError),
    (S.SequentialSchedule, {"schedules": [0.1, 0.01, 0.001], "boundaries": [10, 20]}, "boundaries", [20, 10],
     ValueError),
    (S.ScaledSchedule, {"schedule": 0.1, "factor": 0.5}, "factor", -0.5, ValueError),
    (S.ScaledSchedule, {"schedule": 0.1, "factor": 0.5}, "factor", "half", TypeError),
    (S.ScaledSchedule, {"schedule": 0.1, "factor": 0.5}, "schedule", "cosine", TypeError),
]


@pytest.mark.parametrize("cls,valid,argument,value,error", BAD,
                         ids=[f"{case[0].__name__}-{case[2]}={case[3]!r}" for case in BAD])
def test_bad_argument_is_rejected_with_its_name(cls, valid, argument, value, error):
    cls(**valid)  # the valid configuration itself builds
    with pytest.raises(error, match=f"`{argument}"):
        cls(**{**valid, argument: value})


def test_every_schedule_has_a_bad_argument_case():
    covered = {case[0] for case in BAD}
    assert set(S.__all__) - {"list_schedules", "schedule_values"} == {cls.__name__ for cls in covered}


def test_exponential_warmup_rejects_a_schedule_starting_at_zero():
    starts_at_zero = S.LinearSchedule(0.0, 0.1, total_steps=10)
    with pytest.raises(ValueError, match="schedule"):
        S.Warmup(starts_at_zero, 5, initial_learning_rate=1e-3, shape="exponential")


def test_keras_schedules_are_accepted_as_nested():
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert S.Warmup(decay, 5).schedule is decay
    assert S.SequentialSchedule([decay, 0.01], [10]).schedules[0] is decay
