"""Builds the package's (and Keras's) schedule objects from the reference cases' plain configs."""

import keras

import keras_optkit.schedules as schedules

_KERAS = {
    "keras.CosineDecay": keras.optimizers.schedules.CosineDecay,
    "keras.ExponentialDecay": keras.optimizers.schedules.ExponentialDecay,
}


def build(name, config):
    """The object for ``(name, config)``; nested ``(name, config)`` tuples in Warmup/SequentialSchedule too."""
    config = dict(config)
    if "schedule" in config:
        config["schedule"] = build_nested(config["schedule"])
    if "schedules" in config:
        config["schedules"] = [build_nested(item) for item in config["schedules"]]
    cls = _KERAS.get(name) or getattr(schedules, name)
    return cls(**config)


def build_nested(spec):
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        return build(*spec)
    return spec
