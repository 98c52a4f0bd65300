"""Gradual magnitude pruning during `fit`, on every backend and with any optimizer."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_optkit import _validation as check
from keras_optkit._registry import register
from keras_optkit.callbacks._control import (
    innermost_optimizer,
    retrace_train_step,
    training_optimizer,
)
from keras_optkit.pruning import _masks
from keras_optkit.pruning.constant_sparsity import ConstantSparsity
from keras_optkit.pruning.pruning_mask import PruningMask
from keras_optkit.pruning.sparsity_schedule import SparsitySchedule, deserialize_sparsity_schedule


@register(
    "callback",
    "Gradual magnitude pruning: masks from |w| on a sparsity schedule, pruned weights kept at 0 in every step.",
    example={"schedule": ConstantSparsity(0.5)},
)
class MagnitudePruning(keras.callbacks.Callback):
    r"""Prune the smallest weights of the chosen kernels on a sparsity schedule while the model trains.

    Each chosen kernel gets a 0/1 mask (:class:`~keras_optkit.pruning.PruningMask`, two non-trainable
    variables). At every *update step* :math:`t` of the schedule (from ``begin_step``, every ``frequency`` steps;
    :math:`t` is the optimizer's ``iterations`` before the step) the masks are recomputed from the current
    magnitudes at sparsity :math:`s_t`, before the step runs, and the pruned weights are set to 0:

    * ``structure="weight"``: :math:`\mathrm{round}(s_t N)` weights of smallest :math:`|w|` per kernel
      (``scope="layer"``), or over all chosen kernels together (``scope="global"``); ties: lower flat index;
    * ``structure="unit"``: :math:`\mathrm{round}(s_t U)` output units (Dense units, Conv filters) of smallest L2
      norm per kernel; :func:`~keras_optkit.pruning.shrink` can then remove them;
    * ``structure="n:m"`` (e.g. ``"2:4"``): the :math:`n` largest :math:`|w|` of every :math:`m` consecutive
      weights along the input axis (the layout sparse tensor cores run); the schedule must be constant at
      :math:`1 - n/m` (``ConstantSparsity(0.5)`` for 2:4) and sets when the groups are re-ranked.

    Between updates the masks hold, and every optimizer step keeps the pruned weights at exactly 0 inside the
    compiled train step (the mask is the kernel's constraint, applied after each update): with any optimizer,
    so neither momentum nor Adam's moments bring a pruned weight back. Pruned weights stay 0 as sparsity grows
    (they are the smallest), so the pruned set only grows under a non-decreasing schedule. Each mask remembers
    the update step it belongs to: after ``.keras`` save and load, or ``BackupAndRestore``, training resumes with
    the same masks and recomputes them only at the schedule's next update step. A model saved with masks needs
    this package to load; :func:`~keras_optkit.pruning.strip_pruning` makes a plain one. On JAX the train step is
    retraced whenever the masks change (the JAX trainer's optimizer step cannot read non-trainable variables).
    With ``steps_per_execution=k`` masks can only change every ``k`` steps: an update falls on the first
    execution at or after its step. The epoch logs get ``sparsity``, the fraction of the chosen weights masked.

    Difference from TensorFlow Model Optimization (``prune_low_magnitude`` + ``UpdatePruningStep``): no layer
    wrappers and no model rebuild (the callback works on the compiled model, on TF, JAX and PyTorch); the mask
    is applied after each update rather than in the forward pass, so the kernel itself is sparse at all times.

    Args:
        schedule: A sparsity schedule (:class:`~keras_optkit.pruning.PolynomialDecaySparsity`,
            :class:`~keras_optkit.pruning.ConstantSparsity`).
        layers: Which layers: None (every Dense and Conv1D/2D/3D kernel), a regular expression searched for in
            layer names, or a callable ``layer -> bool``. Choosing nothing is an error before the first batch.
        scope: ``"layer"`` or ``"global"``.
        structure: ``"weight"``, ``"unit"`` or ``"n:m"``.
        verbose: 0: quiet; 1: print each mask update.

    Example:
        >>> from keras_optkit.callbacks import MagnitudePruning
        >>> from keras_optkit.pruning import PolynomialDecaySparsity
        >>> pruning = MagnitudePruning(PolynomialDecaySparsity(0.0, 0.9, begin_step=0, end_step=1000))
        >>> # model.fit(x, y, epochs=..., callbacks=[pruning]); then keras_optkit.pruning.strip_pruning(model)

    References:
        Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model compression",
        arXiv:1710.01878 (2017); Mishra et al., "Accelerating Sparse Deep Neural Networks", arXiv:2104.08378
        (2021) (2:4 structured sparsity).
    """

    def __init__(
        self,
        schedule: SparsitySchedule,
        layers: _masks.LayerFilter = None,
        scope: str = "layer",
        structure: str = "weight",
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.schedule = deserialize_sparsity_schedule(schedule)
        self.layers = _masks.check_layers_argument(layers)
        self._structure = _masks.parse_structure(structure)
        self.structure = structure
        self.scope = _masks.check_scope(scope, self._structure[0])
        self.verbose = check.check_int("verbose", verbose, minimum=0)
        kind, n, m = self._structure
        if kind == "n:m":
            wanted = 1.0 - n / m
            start = self.schedule.sparsity_at(self.schedule.begin_step)
            if abs(start - wanted) > 1e-6 or abs(self.schedule.target_sparsity - wanted) > 1e-6:
                raise ValueError(
                    f"structure={structure!r} keeps {n} of every {m} weights, a sparsity of {wanted:g} from the "
                    f"first update on: the schedule must be constant at {wanted:g}, e.g. ConstantSparsity({wanted:g}). "
                    f"Received: schedule={self.schedule!r}"
                )
        self._chosen: list[keras.Layer] = []
        self._holders: list[PruningMask] = []
        self._first_step = self._launched = 0
        self._next: int | None = None
        self._synced = self._traced_this_fit = False
        self.sparsity = 0.0

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        # Attached as soon as fit hands the model over, before any on_train_begin: BackupAndRestore, wherever it
        # stands in the list, then restores the masks with the weights.
        if getattr(model, "built", False):
            try:
                self._attach(model)
            except ValueError:
                pass  # reported by on_train_begin, with the model's layers named

    def _attach(self, model: keras.Model) -> None:
        chosen = _masks.select_layers(model, self.layers)
        if self._structure[0] == "n:m":
            _masks.check_groups(chosen, self._structure[2])
        attached_before = all(PruningMask.of(layer) is not None for layer in chosen)
        self._chosen = chosen
        self._holders = [PruningMask.attach(layer) for layer in chosen]
        if not attached_before:
            retrace_train_step(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        training_optimizer(self.model, type(self).__name__)
        self._attach(self.model)
        self._synced = self._traced_this_fit = False

    def _sync(self) -> None:
        """Reads where training stands at the first batch of each epoch, once the other callbacks have run
        (BackupAndRestore may have restored the weights, the masks and the optimizer's counter at the start, a
        NaNGuard an earlier state at any epoch)."""
        model = self.model
        # The copies JAX reads, from masks restored or assigned since they were set.
        changed = [holder.refresh() for holder in self._holders]
        # A step traced in an earlier fit holds the copies of then; within a fit, only a change needs a trace.
        if (any(changed) or not self._traced_this_fit) and keras.backend.backend() == "jax":
            retrace_train_step(model)
        self._traced_this_fit = True
        self.sparsity = self._masked_fraction()
        self._first_step = self._step()
        self._launched = 0
        due = self.schedule.last_update_step(self._first_step)
        if due is not None and any(int(ops.convert_to_numpy(h.mask_step)) != due for h in self._holders):
            self._update(due)
        self._next = self._update_after(due)
        self._synced = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._synced = False

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if not self._synced:
            self._sync()
            return
        # The optimizer's counter advances by at most one per step launched, so it is read (a device-to-host
        # copy) only once an update may be due.
        if self._next is None or self._first_step + self._launched < self._next:
            return
        step = self._step()
        if step >= self._next:
            due = self.schedule.last_update_step(step)
            self._update(due)
            self._next = self._update_after(due)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._launched += int(getattr(self.model, "steps_per_execution", 1) or 1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["sparsity"] = self.sparsity

    def on_train_end(self, logs: dict | None = None) -> None:
        # An optimizer's EMA (use_ema=True) overwrites the weights with averages when fit ends: mask them again.
        for layer, holder in zip(self._chosen, self._holders, strict=True):
            kernel = np.asarray(ops.convert_to_numpy(layer.kernel))
            layer.kernel.assign((kernel * holder.numpy()).astype(kernel.dtype))

    def _step(self) -> int:
        return int(ops.convert_to_numpy(innermost_optimizer(self.model.optimizer).iterations))

    def _update_after(self, due: int | None) -> int | None:
        """The first update step after ``due`` (the first one of all when ``due`` is None); None when none is left."""
        schedule = self.schedule
        step = schedule.begin_step if due is None else due + schedule.frequency
        return None if schedule.end_step is not None and step > schedule.end_step else step

    def _update(self, due: int) -> None:
        model = self.model  # on JAX, syncs the trainer's state into the variables first
        sparsity = self.schedule.sparsity_at(due)
        kernels = [np.asarray(ops.convert_to_numpy(layer.kernel)) for layer in self._chosen]
        masks = _masks.compute_masks(kernels, sparsity, self.scope, self._structure)
        for layer, holder, kernel, mask in zip(self._chosen, self._holders, kernels, masks, strict=True):
            holder.set_mask(mask, due)
            layer.kernel.assign((kernel * mask).astype(kernel.dtype))
        self.sparsity = self._masked_fraction()
        if keras.backend.backend() == "jax":
            retrace_train_step(model)
        if self.verbose:
            print(f"\nMagnitudePruning: step {due}, target sparsity {sparsity:.4f}, masked {self.sparsity:.4f}.")

    def _masked_fraction(self) -> float:
        masks = [holder.numpy() for holder in self._holders]
        size = sum(mask.size for mask in masks)
        return float(sum(mask.size - np.count_nonzero(mask) for mask in masks) / size) if size else 0.0

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "layers": _masks.layer_filter_config(self.layers),
            "scope": self.scope,
            "structure": self.structure,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MagnitudePruning:
        return cls(**config)
