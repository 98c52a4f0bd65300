"""SearchSpace: validation, conditional declaration, and the objects a trial's values build."""

import keras
import keras_tuner
import numpy as np
import pytest

from keras_optkit.schedules import CosineAnnealingWarmRestarts, OneCycle, WarmupCosineDecay
from keras_optkit.tuner import LogRange, SearchSpace
from keras_optkit.tuner.recipe import build_optimizer, build_schedule


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learning_rate": (1e-1, 1e-3)}, "learning_rate"),
        ({"learning_rate": (0.0, 1e-3)}, "learning_rate"),
        ({"l2": (1e-2, 1e-4)}, "l2"),
        ({"l1": (-1.0, 1e-4)}, "l1"),
        ({"weight_decay": (1.0, 0.5)}, "weight_decay"),
        ({"optimizers": []}, "optimizers"),
        ({"optimizers": ["adam", "not_an_optimizer"]}, "optimizers"),
        ({"optimizers": ["Lookahead"]}, "optimizers"),  # a wrapper needs an inner optimizer
        ({"schedules": []}, "schedules"),
        ({"schedules": ["constant", "sawtooth"]}, "schedules"),
        ({"batch_sizes": []}, "batch_sizes"),
        ({"batch_sizes": [32, 0]}, "batch_sizes"),
        ({"learning_rate": {"sgd": (1e-3, 1e-1)}, "optimizers": ["adam"]}, "learning_rate"),
        ({"regularize_layers": "dense(["}, "regularize_layers"),
    ],
)
def test_bad_search_space_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SearchSpace(**kwargs)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="l2"):
        SearchSpace(l2=0.01)
    with pytest.raises(TypeError, match="regularize_layers"):
        SearchSpace(regularize_layers=3)


def test_registry_optimizers_are_families():
    space = SearchSpace(optimizers=["adam", "radam", "Adan"])
    assert space.optimizers == ("adam", "RAdam", "Adan")


def _sample_all(space, trials, seed):
    """Sample trial values the way keras-tuner's random oracle does: only active hyperparameters get a value."""
    declared = keras_tuner.HyperParameters()
    space.declare(declared)
    samples = []
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        hp = declared.copy()
        hp.values = {}
        for parameter in hp.space:
            if hp.is_active(parameter):
                hp.values[parameter.name] = parameter.random_sample(int(rng.integers(1 << 30)))
        samples.append(hp.values)
    return samples


def test_conditional_space_never_samples_an_unselected_family():
    space = SearchSpace(
        optimizers=["adam", "adamw", "sgd", "RAdam"],
        l1=(1e-6, 1e-3),
        batch_sizes=[16, 64],
    )
    samples = _sample_all(space, 300, seed=0)
    seen_families = set()
    for values in samples:
        optimizer, schedule = values["optimizer"], values["schedule"]
        seen_families.add((optimizer, schedule))
        for key in values:
            if "/" not in key:
                continue
            owner, _ = key.split("/", 1)
            if owner in space.optimizers:
                assert owner == optimizer, (key, values)
            if owner in space.schedules:
                assert owner == schedule, (key, values)
            if owner == "adamw":
                assert optimizer == "adamw"
        assert f"{optimizer}/learning_rate" in values
        assert ("sgd/momentum" in values) == (optimizer == "sgd")
        assert ("weight_decay/on" in values) == (optimizer != "adamw")
        for name in ("l1", "l2"):
            assert (name in values) == bool(values[f"{name}/on"])
    # The sampler did visit every optimizer x schedule combination, so the checks above covered them.
    assert len(seen_families) == 4 * 5


def test_declare_returns_the_values_of_the_chosen_families_only():
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "sgd")
    hp.Fixed("schedule", "one_cycle")
    hp.Fixed("weight_decay/on", False)
    values = SearchSpace().declare(hp)
    assert values["optimizer"] == "sgd" and values["schedule"] == "one_cycle"
    assert set(values) == {"optimizer", "learning_rate", "momentum", "schedule", "pct_start", "weight_decay", "l2"}
    assert values["weight_decay"] == 0.0
    assert 1e-4 <= values["learning_rate"] <= 1e-1


@pytest.mark.parametrize(
    ("values", "expected_type"),
    [
        ({"schedule": "constant"}, float),
        ({"schedule": "warmup_cosine", "warmup_fraction": 0.1}, WarmupCosineDecay),
        ({"schedule": "one_cycle", "pct_start": 0.25}, OneCycle),
        ({"schedule": "exponential", "decay_rate": 0.9}, keras.optimizers.schedules.ExponentialDecay),
        ({"schedule": "cosine_restarts", "cycles": 3}, CosineAnnealingWarmRestarts),
    ],
)
def test_build_schedule_spans_the_run(values, expected_type):
    schedule = build_schedule({"learning_rate": 0.05, **values}, total_steps=300, steps_per_epoch=30)
    assert isinstance(schedule, expected_type)
    if values["schedule"] == "warmup_cosine":
        assert schedule.warmup_steps == 30 and schedule.total_steps == 300
        assert float(schedule(30)) == pytest.approx(0.05)
    if values["schedule"] == "one_cycle":
        assert schedule.total_steps == 300 and schedule.pct_start == 0.25
        assert float(schedule(74)) == pytest.approx(0.05)  # PyTorch OneCycleLR peaks at pct_start * total - 1
    if values["schedule"] == "exponential":
        assert float(schedule(30)) == pytest.approx(0.05 * 0.9, rel=1e-6)
    if values["schedule"] == "cosine_restarts":
        assert schedule.first_cycle_steps == 100
        assert float(schedule(100)) == pytest.approx(0.05)


def test_build_optimizer_carries_the_values():
    sgd = build_optimizer({"optimizer": "sgd", "momentum": 0.93, "weight_decay": 1e-4}, 0.02)
    assert isinstance(sgd, keras.optimizers.SGD)
    assert sgd.momentum == 0.93 and sgd.weight_decay == 1e-4
    assert float(sgd.learning_rate) == pytest.approx(0.02)
    adam = build_optimizer({"optimizer": "adam", "weight_decay": 0.0}, 1e-3)
    assert adam.weight_decay is None
    radam = build_optimizer({"optimizer": "RAdam"}, 1e-3)
    assert type(radam).__name__ == "RAdam"


def test_narrowed_range_is_centred_in_log_scale():
    narrowed = LogRange(1e-5, 1.0).narrowed(1e-3, span=100.0)
    assert narrowed.low == pytest.approx(1e-4) and narrowed.high == pytest.approx(1e-2)


@pytest.mark.parametrize(
    ("learning_rate", "received"),
    [(None, "learning_rate=None"), (1e-3, "learning_rate=0.001"), ({"adam": None}, "learning_rate['adam']=None")],
)
def test_learning_rate_must_be_a_range(learning_rate, received):
    with pytest.raises(TypeError, match="learning_rate") as raised:
        SearchSpace(learning_rate=learning_rate)
    assert f"Received: {received}" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "class_name"),
    [
        ("Muon", "Muon"),
        ("ScheduleFreeAdamW", "ScheduleFreeAdamW"),
        ("schedule_free_adamw", "ScheduleFreeAdamW"),
        ("Lamb", "Lamb"),
        ("lion", "Lion"),
        ("Adafactor", "Adafactor"),
    ],
)
def test_newer_keras_optimizers_are_families(name, class_name):
    space = SearchSpace(optimizers=["adam", name])
    (family,) = space.optimizers[1:]
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", family)
    values = space.declare(hp)
    assert space.learning_rate_ranges[family].low <= values["learning_rate"] <= space.learning_rate_ranges[
        family].high
    optimizer = build_optimizer({**values, "weight_decay": 1e-3}, 0.01)
    assert isinstance(optimizer, getattr(keras.optimizers, class_name))
    assert float(optimizer.learning_rate) == pytest.approx(0.01) and optimizer.weight_decay == pytest.approx(1e-3)


def test_muon_decay_off_decays_nothing():
    # Muon decays the variables it steps with AdamW by `adam_weight_decay`, not `weight_decay`.
    off = build_optimizer({"optimizer": "muon", "weight_decay": 0.0}, 0.01)
    assert off.weight_decay is None and off.adam_weight_decay is None
    on = build_optimizer({"optimizer": "muon", "weight_decay": 1e-3}, 0.01)
    assert on.weight_decay == pytest.approx(1e-3) and on.adam_weight_decay == pytest.approx(1e-3)


@pytest.mark.parametrize("pct_start", [0.1, 0.3, 0.5])  # the searched range's ends and middle
def test_one_cycle_is_valid_for_every_run_of_three_steps_or_more(pct_start):
    for total_steps in range(3, 41):
        schedule = build_schedule({"learning_rate": 0.05, "schedule": "one_cycle", "pct_start": pct_start},
                                  total_steps=total_steps, steps_per_epoch=total_steps)
        rates = np.array([float(schedule(step)) for step in range(total_steps)])
        assert rates[0] < rates.max() <= 0.05 * (1 + 1e-6) and rates[-1] < rates.max(), total_steps
        assert schedule.pct_start >= pct_start
        if pct_start * total_steps >= 2:  # long enough: the searched warmup fraction is kept
            assert schedule.pct_start == pct_start


def test_search_space_fitted_to_short_runs_leaves_one_cycle_out():
    space = SearchSpace()
    assert space.fitted_to(3) is space
    with pytest.warns(UserWarning, match="one_cycle.*2 step"):
        short = space.fitted_to(2)
    assert short.schedules == tuple(name for name in space.schedules if name != "one_cycle")
    assert short.learning_rate_ranges == space.learning_rate_ranges
    with pytest.raises(ValueError, match="schedules"):
        SearchSpace(schedules=["one_cycle"]).fitted_to(1)
    with pytest.raises(ValueError, match="total_steps=2"):
        build_schedule({"learning_rate": 0.05, "schedule": "one_cycle", "pct_start": 0.3}, 2, 2)
