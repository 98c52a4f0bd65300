"""LazyAdam: Adam that updates only the rows of a variable that received a gradient (TF-Addons semantics)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.optimizers._base import is_indexed_slices, overwrite_with_average
from keras_optkit.optimizers._numerics import one_minus_power


def _summed_rows(gradient: Any) -> tuple[Any, Any]:
    """``(indices, values)`` of an IndexedSlices, sorted, each entry holding the total gradient of its row.

    A gather that reads a row twice yields two entries for it; the row's gradient is their sum. The usual way to
    get it (``unique`` then ``unsorted_segment_sum``) has a data-dependent output size, which XLA cannot compile,
    so the entries are kept, sorted so that equal indices are adjacent, and each gets its row's total. Duplicate
    entries then compute the same new row and writing it twice is harmless.
    """
    order = ops.argsort(gradient.indices)
    indices = ops.take(gradient.indices, order)
    values = ops.take(gradient.values, order, axis=0)
    is_first = ops.concatenate(
        [ops.ones((1,), dtype="bool"), ops.not_equal(indices[1:], indices[:-1])], axis=0
    )
    segments = ops.cumsum(ops.cast(is_first, "int32")) - 1
    totals = ops.segment_sum(values, segments, num_segments=ops.shape(indices)[0])
    return indices, ops.take(totals, segments, axis=0)


@register(
    "optimizer",
    "LazyAdam: Adam that moves only the rows with a gradient (sparse embedding updates, as TF-Addons).",
    example={"learning_rate": 0.01},
    slots=2,
    float16_variables=False,
    sparse_updates=True,
)
class LazyAdam(keras.optimizers.Optimizer):
    r"""Adam that updates the moments and the variable only on the rows that received a gradient.

    For each row :math:`r` present in the gradient at step :math:`t` (global step count, starting at 1):

    .. math::

        m_{t,r} = \beta_1 m_{t-1,r} + (1-\beta_1) g_{t,r}, \qquad
        v_{t,r} = \beta_2 v_{t-1,r} + (1-\beta_2) g_{t,r}^2

        \theta_{t,r} = \theta_{t-1,r} - \eta_t \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
            \frac{m_{t,r}}{\sqrt{v_{t,r}} + \epsilon}

    Rows absent from the gradient keep their moments and their value exactly. For an embedding table this is
    much cheaper than Adam, which decays the moments of every row and keeps moving rows that were seen long ago;
    it is also a different optimizer: rarely seen rows are not pushed by stale momentum.

    Which rows are present:

    * On TensorFlow, the gradient of a gather (``keras.layers.Embedding``, ``ops.take``) reaches the optimizer as
      a ``tf.IndexedSlices``. Its rows are the present ones, and only they are read and written
      (``scatter_update``), as in TF-Addons. Repeated indices are summed first (a row read twice in a batch gets
      the sum of both gradients).
    * Dense gradients (every backend; JAX always differentiates an embedding lookup into a dense table) are treated
      as the sparse gradient made of their rows along the first axis that have at least one non-zero entry. For
      an embedding this gives the same result as the sparse path: rows of tokens absent from the batch have an
      all-zero gradient and are left untouched. For variables of rank 0 or 1 each entry is a row. The one
      difference: a row that was looked up but whose gradient happens to be exactly zero is skipped here and
      updated (its moments decayed) on the sparse path.

    Differences from TF-Addons, stated plainly:

    * Weight decay is the Keras base ``weight_decay`` argument (decoupled, :math:`\theta_r \leftarrow \theta_r -
      \eta\lambda\theta_r` before the step), applied lazily too: only to present rows, so absent rows keep their
      value exactly. Keras's own optimizers would decay every row at every step. ``exclude_from_weight_decay``
      works as usual. (TF-Addons' LazyAdam has no weight decay.)
    * No ``amsgrad`` option.
    * As in TF-Addons (and unlike a per-row Adam), the bias corrections use the global step count.

    Args:
        learning_rate: A float >= 0 or a ``keras.optimizers.schedules.LearningRateSchedule``. Defaults to 0.001.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate of the second moment, in [0, 1). Defaults to 0.999.
        epsilon: Added to :math:`\sqrt{v_t}` (> 0). Defaults to 1e-7, as Keras's Adam and TF-Addons.
        weight_decay: Decoupled weight decay (>= 0), applied to present rows only. Defaults to None.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name: as in ``keras.optimizers.Optimizer``.
            On TensorFlow, gradient accumulation and ``global_clipnorm`` turn an IndexedSlices into a dense
            tensor (the dense rule above then applies); ``clipnorm`` and ``clipvalue`` keep it sparse. Keras
            itself cannot divide an IndexedSlices by ``loss_scale_factor``; ``keras.optimizers.LossScaleOptimizer``
            works.

    ``float16_variables=False`` in the registry, as for Adam: with float16 slots, :math:`(1-\beta_2) g^2` underflows
    to zero for gradients below about 1e-2 while :math:`m_t` does not, so the step explodes. Use mixed precision
    (float32 variables) instead.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_optkit.optimizers import LazyAdam
        >>> table = keras.Variable(np.ones((4, 2), dtype="float32"))
        >>> gradient = np.zeros((4, 2), dtype="float32")
        >>> gradient[1] = 1.0  # only row 1 was looked up
        >>> LazyAdam(learning_rate=0.1).apply([keras.ops.convert_to_tensor(gradient)], [table])
        >>> [round(float(value), 4) for value in keras.ops.convert_to_numpy(table)[:, 0]]
        [1.0, 0.9, 1.0, 1.0]

    References:
        D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, arXiv:1412.6980; the lazy
        sparse update follows TensorFlow Addons' ``tfa.optimizers.LazyAdam``.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "lazy_adam",
        **kwargs: Any,
    ) -> None:
        learning_rate = check.check_schedule_or_rate("learning_rate", learning_rate)
        beta_1 = check.check_in_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = check.check_in_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = check.check_positive("epsilon", epsilon)
        if weight_decay is not None:
            weight_decay = check.check_non_negative("weight_decay", weight_decay)
        super().__init__(
            learning_rate=learning_rate,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _overwrite_model_variables_with_average_value(self, trainable_variables: list) -> None:
        overwrite_with_average(self, trainable_variables)

    def build(self, var_list: list) -> None:
        if self.built:
            return
        from keras_optkit.optimizers._distribute import refuse_per_replica_arguments

        refuse_per_replica_arguments(self)
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def _apply_weight_decay(self, variables: list) -> None:
        # The base class would decay every row of every variable before the step; update_step decays only the
        # present rows instead.
        return

    def _decay_factor(self, variable: Any, lr: Any) -> Any:
        """``1 - lr * weight_decay`` for this variable, or None when it is not decayed."""
        if self.weight_decay is None or not self._use_weight_decay(variable):
            return None
        return 1.0 - lr * ops.cast(self.weight_decay, variable.dtype)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        # Step-dependent scalars in float32 whatever the variable dtype.
        step = ops.cast(self.iterations + 1, "float32")
        alpha = ops.cast(
            ops.cast(learning_rate, "float32")
            * ops.sqrt(one_minus_power(self.beta_2, step))
            / one_minus_power(self.beta_1, step),
            dtype,
        )
        # 1 - beta in float64 by Python: in float32, 1 - 0.999 is off by 1.3e-5 (relative).
        one_minus_beta_1 = 1.0 - self.beta_1
        one_minus_beta_2 = 1.0 - self.beta_2
        decay = self._decay_factor(variable, lr)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]

        if is_indexed_slices(gradient):
            indices, values = _summed_rows(gradient)
            values = ops.cast(values, dtype)
            m_rows = ops.take(m, indices, axis=0)
            v_rows = ops.take(v, indices, axis=0)
            m_rows = m_rows + one_minus_beta_1 * (values - m_rows)
            v_rows = v_rows + one_minus_beta_2 * (ops.square(values) - v_rows)
            rows = ops.take(variable, indices, axis=0)
            if decay is not None:
                rows = rows * decay
            rows = rows - alpha * m_rows / (ops.sqrt(v_rows) + ops.cast(self.epsilon, dtype))
            # Writing an IndexedSlices scatters it: only these rows are touched (see TFOptimizer.assign).
            slices = type(gradient)
            self.assign(m, slices(m_rows, indices, gradient.dense_shape))
            self.assign(v, slices(v_rows, indices, gradient.dense_shape))
            self.assign(variable, slices(rows, indices, gradient.dense_shape))
            return

        gradient = ops.cast(gradient, dtype)
        # ops.where needs tensors; a JAX keras.Variable is not one.
        m = ops.convert_to_tensor(m)
        v = ops.convert_to_tensor(v)
        value = ops.convert_to_tensor(variable)
        rank = len(gradient.shape)
        nonzero = ops.not_equal(gradient, 0.0)
        present = (
            nonzero if rank <= 1 else ops.any(nonzero, axis=tuple(range(1, rank)), keepdims=True)
        )
        new_m = ops.where(present, m + one_minus_beta_1 * (gradient - m), m)
        new_v = ops.where(present, v + one_minus_beta_2 * (ops.square(gradient) - v), v)
        self.assign(self._momentums[index], new_m)
        self.assign(self._velocities[index], new_v)
        step_size = alpha * new_m / (ops.sqrt(new_v) + ops.cast(self.epsilon, dtype))
        if decay is None:
            self.assign_sub(variable, ops.where(present, step_size, 0.0))
        else:
            self.assign(variable, ops.where(present, value * decay - step_size, value))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
