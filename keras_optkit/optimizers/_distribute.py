"""Gradients summed across replicas before an optimizer computes anything global from them.

TensorFlow-only by nature (``tf.distribute``): TensorFlow is imported inside the functions, and only when the
backend is TensorFlow; on JAX and PyTorch every function returns its input unchanged.

Under ``tf.distribute`` (MirroredStrategy, TPUStrategy, ...) Keras's TensorFlow optimizers receive each replica's
own gradient and sum them across replicas inside ``_backend_update_step``, right before the per-variable updates.
An optimizer that computes something from the gradients before that point (a global norm, Prodigy's sums, a
wrapper's clipping) would compute it from one replica's share, and write state that differs between replicas.
Those optimizers sum first with :func:`sum_across_replicas`, compute from the batch gradient, then hand the
optimizer that sums again the share :func:`share_per_replica` returns: every replica holds the same sum, so the
second reduction gives it back. On JAX (``keras.distribution``, global arrays) and PyTorch there is nothing to do.
"""

from __future__ import annotations

from typing import Any

import keras


def _replica_context() -> Any:
    """The TensorFlow replica context of a strategy with several replicas, or None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def sum_across_replicas(grads: list) -> tuple[list, int]:
    """``(gradients summed over the replicas, number of replicas)``; the gradients unchanged and 1 outside a
    multi-replica TensorFlow strategy. ``None`` entries stay ``None``."""
    context = _replica_context()
    if context is None:
        return list(grads), 1
    import tensorflow as tf

    present = [g for g in grads if g is not None]
    summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present) if present else [])
    return [None if g is None else next(summed) for g in grads], context.num_replicas_in_sync


def share_per_replica(grads: list, replicas: int) -> list:
    """What each replica hands an optimizer that sums across replicas itself, so that its sum is ``grads``.

    A dense gradient is split evenly. A ``tf.IndexedSlices`` one goes whole to the first replica, and as zeros to
    the others: the strategy sums slices by concatenating them, and an optimizer that updates slice by slice
    (Keras's Adam squares each) must see the batch's slices as one device does, not each of them twice at half
    its value (zero slices add nothing)."""
    if replicas == 1:
        return list(grads)
    import tensorflow as tf

    first = tf.cast(tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0), "float32")

    def share(gradient: Any) -> Any:
        if gradient is None:
            return None
        if isinstance(gradient, tf.IndexedSlices):
            values = gradient.values * tf.cast(first, gradient.values.dtype)
            return tf.IndexedSlices(values, gradient.indices, gradient.dense_shape)
        return gradient / replicas

    return [share(g) for g in grads]


def _replicas_in_sync(optimizer: keras.optimizers.Optimizer) -> int:
    """Replicas of the tf.distribute strategy ``optimizer`` was created or is being built under (1 if none)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    strategies = [getattr(optimizer, "_distribution_strategy", None)]
    if tf.distribute.has_strategy():
        strategies.append(tf.distribute.get_strategy())
    return max([s.num_replicas_in_sync for s in strategies if s is not None] or [1])


def refuse_per_replica_arguments(optimizer: keras.optimizers.Optimizer, user: str | None = None) -> None:
    """A ``ValueError`` when ``optimizer`` (or one it wraps) uses a Keras base argument that goes wrong under a
    tf.distribute strategy with several replicas: Keras clips (``clipnorm``, ``global_clipnorm``) each replica's
    share of the gradient, not the batch gradient, and its gradient accumulation fails at the first step
    (``merge_call`` inside the replica's graph). Called when the optimizer is built, before the first batch, and
    by this package's callbacks when training begins (``user``: the callback's name, put first in the message)."""
    replicas = _replicas_in_sync(optimizer)
    if replicas < 2:
        return
    chain = [optimizer]
    while getattr(chain[-1], "inner_optimizer", None) is not None:
        chain.append(chain[-1].inner_optimizer)
    for member in chain:
        owner = type(member).__name__ if user is None else f"{user} with {type(member).__name__}"
        for name in ("clipnorm", "global_clipnorm"):
            value = getattr(member, name, None)
            if value is not None:
                raise ValueError(
                    f"{owner}: under a tf.distribute strategy with {replicas} replicas Keras applies `{name}` to "
                    "each replica's share of the gradient, not to the batch gradient, so training would differ "
                    "from one device. Wrap the optimizer in keras_optkit's AdaptiveGradientClipping (it clips the "
                    f"summed gradient) or clip without the strategy. Received: {name}={value!r}"
                )
        steps = getattr(member, "gradient_accumulation_steps", None)
        if steps:
            raise ValueError(
                f"{owner}: Keras's gradient accumulation fails under a tf.distribute strategy with {replicas} "
                "replicas (its conditional update cannot run in a replica's graph). Use a global batch "
                f"gradient_accumulation_steps times larger instead. Received: gradient_accumulation_steps={steps!r}"
            )
