"""The base of the regularizers whose strength can change during training without recompiling."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check


class TunableRegularizer(keras.regularizers.Regularizer, keras.layers.Layer):
    """A weight regularizer whose strengths are non-trainable ``float32`` variables the model tracks.

    Keras computes a regularizer's penalty inside the compiled train step. A Keras regularizer keeps its strength
    as a Python float, which the step freezes when it is traced. Here each strength is a variable, created when the
    regularizer is. The regularizer is also a layer, so a layer that stores it (``Dense(kernel_regularizer=...)``)
    tracks it as a sub-layer. Its variables then join ``model.non_trainable_variables``: they are part of the
    state every backend's train step reads afresh, JAX included. Assigning a strength
    (``regularizer.l2.assign(1e-4)``, :meth:`set_strength`, or ``HyperparameterScheduler(regularizer.l2, ...)``)
    changes the loss from the next step on, without retracing.

    The current strengths are saved in the configuration, so a ``.keras`` file restores them. One instance may be
    shared by several layers; one assignment then changes all their penalties. After loading, each layer holds
    its own copy.

    From a callback on JAX, reach the model through ``self.model`` before assigning: that is what makes Keras
    sync the JAX state and read the new value.

    Subclasses set ``strength_names`` and implement :meth:`penalty`.
    """

    strength_names: tuple[str, ...] = ()

    def __init__(self, name: str | None = None, **strengths: float) -> None:
        keras.layers.Layer.__init__(self, name=name)
        for strength_name in self.strength_names:
            value = check.check_non_negative(strength_name, strengths[strength_name])
            variable = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(value),
                trainable=False,
                dtype="float32",
                name=strength_name,
            )
            setattr(self, strength_name, variable)
        self.built = True

    def __call__(self, x: Any) -> Any:
        return self.penalty(ops.cast(x, "float32"))

    def penalty(self, x: Any) -> Any:
        """The penalty of weights ``x`` (float32)."""
        raise NotImplementedError

    def current(self, name: str | None = None) -> float:
        """The current value of strength ``name`` (the only one when None) as a Python float."""
        name = name or self.strength_names[0]
        check.check_choice("name", name, self.strength_names)
        return float(ops.convert_to_numpy(getattr(self, name)))

    def set_strength(self, **values: float) -> None:
        """Assigns new strengths, e.g. ``set_strength(l2=1e-4)``."""
        for name, value in values.items():
            check.check_choice("strength name", name, self.strength_names)
            getattr(self, name).assign(check.check_non_negative(name, value))

    def get_config(self) -> dict[str, Any]:
        return {name: self.current(name) for name in self.strength_names}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TunableRegularizer:
        return cls(**config)

    # The strengths travel in the configuration; saving them as weights too would break loading a regularizer
    # shared by several layers (saved once, looked for under every layer).
    def save_own_variables(self, store: Any) -> None:
        del store

    def load_own_variables(self, store: Any) -> None:
        del store

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={self.current(name):g}" for name in self.strength_names)
        return f"{type(self).__name__}({values})"
