"""What every optimizer wrapper shares: resolving, building, stepping, saving and serializing an inner optimizer.

A wrapper is itself a full ``keras.optimizers.Optimizer``. The base class's ``apply`` does what it does for any
optimizer (empty-gradient filtering, loss-scale unscaling, gradient accumulation, clipping, decoupled weight decay,
EMA, constraints, the step counter) and then, instead of a per-variable ``update_step``, this module's
``_backend_update_step`` runs the wrapper's pipeline:

1. ``transform_gradient(gradient, variable)`` on each gradient (identity here; gradient centralization, AGC, ...),
2. ``before_inner_step(variables)`` (nothing here; Lookahead records the weights at the start of a period),
3. the wrapper's decoupled weight decay, if any (``weight_decay``, with the inner optimizer's learning rate),
4. ``inner_optimizer.apply(gradients, variables)``: the wrapped optimizer's own step, with its own state,
5. ``after_inner_step(variables)`` (nothing here; Lookahead's synchronization).

The wrapper's ``variables`` are its own followed by the inner optimizer's, in a stable order, so ``stateless_apply``
(the JAX trainer), ``.keras`` saving and ``set_weights`` see the whole state. The learning rate is the inner
optimizer's. A wrapper of a wrapper works the same way.

Not covered: multi-replica ``tf.distribute`` strategies (e.g. ``MirroredStrategy``). The hooks assign the wrapper's
slots in replica context, which such strategies reject for variables without an aggregation; the default strategy
(one device), XLA and JAX are tested.
"""

from __future__ import annotations

import copy
from typing import Any

import keras
from keras import ops

from keras_optkit._registry import get_entry
from keras_optkit.optimizers._base import overwrite_with_average
from keras_optkit.optimizers._distribute import share_per_replica, sum_across_replicas


def dense_gradient(gradient: Any, variable: Any) -> Any:
    """A gradient as a dense tensor of the variable's static shape.

    TensorFlow gives an ``Embedding`` a sparse ``tf.IndexedSlices`` gradient; densified, its shape is only known
    at run time, which per-unit reductions in a compiled step cannot take. A transform that mixes rows (a mean or a
    norm over the rows of each unit) needs the dense gradient: rows absent from the batch are zero in it.
    """
    return ops.reshape(ops.convert_to_tensor(gradient), variable.shape)


def _refuse_unwrappable(wrapper: str, inner: keras.optimizers.Optimizer) -> None:
    """Optimizers a wrapper cannot go around, refused at construction with the order that works.

    Keras's trainer asks the outermost optimizer to scale the loss; a ``LossScaleOptimizer`` inside a wrapper
    would never be asked, yet would still divide the gradients by its scale (training ~2**15 times too slowly),
    and a transform (clipping, centralization) would see scaled gradients. A ``MultiOptimizer`` routes variables
    to its sub-optimizers, which a wrapper's own step and slow weights do not follow.
    """
    if isinstance(inner, keras.optimizers.LossScaleOptimizer):
        raise ValueError(
            f"{wrapper} cannot wrap a LossScaleOptimizer: put the loss scaling outside, "
            f"keras.optimizers.LossScaleOptimizer({wrapper}(...)), so that the loss is scaled and the gradients "
            f"are unscaled before {wrapper} sees them. Received: optimizer={inner!r}"
        )
    multi = getattr(keras.optimizers, "MultiOptimizer", None)
    if multi is not None and isinstance(inner, multi):
        raise ValueError(
            f"{wrapper} cannot wrap a MultiOptimizer: wrap each of its optimizers instead (a MultiOptimizer whose "
            f"OptimizerMap or selector returns {wrapper}(keras.optimizers.Adam()), ...). Received: optimizer={inner!r}"
        )


def resolve_optimizer(optimizer: Any) -> keras.optimizers.Optimizer:
    """Returns ``optimizer`` as a Keras optimizer; a name or config dict gives a fresh instance every call.

    Accepts an instance (returned as is), a Keras name (``"adam"``), a registered name (``"keras_optkit>RAdam"``),
    the name of an optimizer of this package (``"radam"``, built with its defaults) or a config dict as produced by
    ``keras.optimizers.serialize`` (deep-copied first: registry examples are shared and must stay untouched).
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(optimizer, (str, dict)):
        raise TypeError(
            "`optimizer` must be a keras.optimizers.Optimizer, an optimizer name or a config dict. "
            f"Received: optimizer={optimizer!r}"
        )
    try:
        return keras.optimizers.get(copy.deepcopy(optimizer))
    except (ValueError, TypeError) as keras_error:
        if isinstance(optimizer, str):
            try:
                entry = get_entry("optimizer", optimizer)
            except ValueError:
                pass
            else:
                return keras.optimizers.get(f"keras_optkit>{entry.name}")
        raise ValueError(
            f"`optimizer` is not a known optimizer name or config ({keras_error}). Received: optimizer={optimizer!r}"
        ) from keras_error


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class of the optimizers that wrap another optimizer (private: subclass it, do not instantiate it).

    Subclasses override ``transform_gradient``, ``before_inner_step`` and/or ``after_inner_step`` (and ``build``
    for their own slots). The hooks run inside traced functions (TF graph, XLA, JAX): ``ops`` and ``self.assign``
    only, no Python branching on tensor values.

    The base arguments (``weight_decay``, ``clipnorm``, ``use_ema``, ...) act at the wrapper's level: clipping
    happens before ``transform_gradient``, weight decay right before the inner step (with the inner optimizer's
    learning rate), EMA averages the weights after the whole wrapped step. The wrapped optimizer may have its own
    as well.

    Loss scaling: the gradients must be unscaled before a transformation such as AGC sees them, so the wrapper owns
    the loss scale factor. If only the wrapped optimizer has one, the wrapper takes it over (and clears it on the
    wrapped optimizer, as ``keras.optimizers.LossScaleOptimizer`` does).
    """

    def __init__(
        self,
        optimizer: Any,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        inner_optimizer = resolve_optimizer(optimizer)
        _refuse_unwrappable(type(self).__name__, inner_optimizer)
        if inner_optimizer.loss_scale_factor is not None:
            if loss_scale_factor is not None:
                raise ValueError(
                    "Set `loss_scale_factor` on the wrapper or on the wrapped optimizer, not on both. Received: "
                    f"loss_scale_factor={loss_scale_factor!r} and a wrapped optimizer with "
                    f"loss_scale_factor={inner_optimizer.loss_scale_factor!r}"
                )
            loss_scale_factor = inner_optimizer.loss_scale_factor
            inner_optimizer.loss_scale_factor = None
        # The wrapper has no learning rate of its own: a callable (not a tracked variable) that reads the inner one.
        super().__init__(
            learning_rate=self._inner_learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.inner_optimizer = inner_optimizer

    def _inner_learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def variables(self) -> list:
        return self._variables + self.inner_optimizer.variables

    def build(self, var_list: list) -> None:
        if self.built:
            return
        from keras_optkit.optimizers._distribute import refuse_per_replica_arguments

        refuse_per_replica_arguments(self)
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        super().build(var_list)

    def transform_gradient(self, gradient: Any, variable: Any) -> Any:
        """Returns the gradient handed to the inner optimizer (identity here)."""
        return gradient

    def before_inner_step(self, trainable_variables: list) -> None:
        """Runs before the inner optimizer's step (nothing here)."""

    def after_inner_step(self, trainable_variables: list) -> None:
        """Runs after the inner optimizer's step (nothing here)."""

    def _apply_weight_decay(self, variables: list) -> None:
        # The base class decays the weights before _backend_update_step; a wrapper decays them inside its step,
        # after transform_gradient and before_inner_step have seen the weights as they were (AGC measures them,
        # Lookahead's period starts from them), right before the inner step, like an AdamW step would.
        pass

    def _backend_update_step(
        self, grads: list, trainable_variables: list, learning_rate: Any
    ) -> None:
        # Called by the base class's apply() in place of the per-variable update_step loop (the learning rate
        # argument is the inner optimizer's, which the inner optimizer reads itself).
        # A transform sees the batch gradient, not one replica's share of it (tf.distribute).
        grads, replicas = sum_across_replicas(grads)
        grads = [
            self.transform_gradient(grad, variable)
            for grad, variable in zip(grads, trainable_variables, strict=True)
        ]
        self.before_inner_step(trainable_variables)
        super()._apply_weight_decay(trainable_variables)
        self.inner_optimizer.apply(share_per_replica(grads, replicas), trainable_variables)
        self.after_inner_step(trainable_variables)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} steps through its inner optimizer; call apply()."
        )

    def finalize_variable_values(self, var_list: list) -> None:
        inner = self.inner_optimizer
        if inner.use_ema and type(inner).finalize_variable_values is keras.optimizers.Optimizer.finalize_variable_values:
            overwrite_with_average(inner, var_list)  # a copy of the average (Keras's own optimizers alias it on JAX)
        else:
            inner.finalize_variable_values(var_list)
        super().finalize_variable_values(var_list)

    def _overwrite_model_variables_with_average_value(self, trainable_variables: list) -> None:
        overwrite_with_average(self, trainable_variables)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["learning_rate"]  # the inner optimizer's, saved with it
        config["optimizer"] = keras.saving.serialize_keras_object(self.inner_optimizer)
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict | None = None
    ) -> OptimizerWrapper:
        config = dict(config)
        if isinstance(config.get("optimizer"), dict):
            # Keras's deserializers edit the dict they are given. `keras.optimizers.deserialize` only knows the
            # optimizers in its lookup table (Keras 3.15's lacks Lamb, and returns the bare class name for it);
            # the generic deserializer imports the module the config names.
            config["optimizer"] = keras.saving.deserialize_keras_object(
                copy.deepcopy(config["optimizer"]), custom_objects=custom_objects
            )
        return cls(**config)
