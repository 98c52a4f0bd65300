"""Schedules survive get_config/from_config, keras.optimizers.serialize/deserialize and .keras save/load."""

import inspect
import json

import keras
import numpy as np
import pytest

import keras_optkit.schedules as schedules
from keras_optkit.schedules import list_schedules, schedule_values

STEPS = [0, 1, 7, 50, 99, 100, 101, 250, 599, 600, 999, 1000, 1500]


def _nested_examples():
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=500, alpha=0.1)
    return {
        "Warmup(OneCycle)": schedules.Warmup(schedules.OneCycle(0.1, 800), warmup_steps=50, shape="cosine"),
        "Warmup(keras.CosineDecay)": schedules.Warmup(cosine, warmup_steps=100, initial_learning_rate=1e-4,
                                                      shape="exponential"),
        "Sequential(Warmup, keras.ExponentialDecay, float)": schedules.SequentialSchedule(
            [
                schedules.Warmup(0.05, warmup_steps=20),
                keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=100, decay_rate=0.5),
                0.001,
            ],
            boundaries=[20, 600],
        ),
    }


def _all_examples():
    examples = {entry.name: entry.build() for entry in list_schedules()}
    examples.update(_nested_examples())
    return examples


EXAMPLES = _all_examples()


@pytest.fixture(params=sorted(EXAMPLES), ids=str)
def schedule(request):
    return EXAMPLES[request.param]


@pytest.mark.parametrize("entry", list_schedules(), ids=lambda entry: entry.name)
def test_config_holds_every_init_argument(entry):
    config = entry.build().get_config()
    arguments = [name for name in inspect.signature(entry.cls.__init__).parameters if name != "self"]
    assert sorted(config) == sorted(arguments)
    for name, value in entry.example.items():
        assert config[name] == value


def test_config_round_trip_gives_same_values(schedule):
    config = schedule.get_config()
    json.dumps(config)  # a config must be plain JSON
    clone = type(schedule).from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(schedule_values(clone, STEPS), schedule_values(schedule, STEPS))


def test_optimizer_serialize_deserialize_round_trip(schedule):
    """keras-tuner copies optimizers this way; the copy must carry the same schedule."""
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    copy = keras.optimizers.deserialize(json.loads(json.dumps(keras.optimizers.serialize(optimizer))))
    restored = copy._learning_rate  # the schedule object the optimizer evaluates each step
    assert type(restored) is type(schedule)
    np.testing.assert_array_equal(schedule_values(restored, STEPS), schedule_values(schedule, STEPS))


def test_keras_file_round_trip_without_custom_objects(schedule, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.optimizer._learning_rate
    assert type(restored) is type(schedule)
    assert int(loaded.optimizer.iterations) == 2
    np.testing.assert_array_equal(schedule_values(restored, STEPS), schedule_values(schedule, STEPS))
    # The loaded optimizer's current rate is the schedule at its restored step.
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)), schedule_values(schedule, [2])[0], rtol=1e-7
    )


@keras.saving.register_keras_serializable(package="keras_optkit_tests")
def _quarter_per_cycle(cycle):
    return keras.ops.power(0.25, cycle - 1.0)


def test_cyclical_custom_scale_fn_round_trip():
    schedule = schedules.CyclicalLearningRate(0.001, 0.01, step_size=10, scale_fn=_quarter_per_cycle)
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    copy = keras.optimizers.deserialize(json.loads(json.dumps(keras.optimizers.serialize(optimizer))))
    restored = copy._learning_rate
    assert restored.scale_fn is _quarter_per_cycle
    np.testing.assert_array_equal(schedule_values(restored, range(60)), schedule_values(schedule, range(60)))
    # Second cycle's peak is a quarter of the first's amplitude.
    np.testing.assert_allclose(schedule_values(schedule, [30])[0], 0.001 + 0.009 / 4, rtol=1e-6)
