"""The measurements of a learning-rate range test and the rates they suggest."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from keras_optkit import _validation as check

_SUGGESTIONS = ("minimum", "steepest", "valley")
#: ``suggest(schedule)`` is the anchor rate times ``10 ** SUGGEST_OFFSETS[schedule]`` (fitted on the design
#: half of benchmarks/lr_panel.py's panel).
SUGGEST_OFFSETS = {"constant": -0.65, "one_cycle": 0.4, "cosine": 0.0}
#: The anchor is the first rate where the smoothed loss has made this fraction of its drop to its lowest value.
ANCHOR_FRACTION = 0.5
_SCHEDULE_ALIASES = {"warmup_cosine": "cosine"}
#: A curve whose smoothed loss never falls below its start by this fraction of it is flat: nothing to read.
FLAT_TOLERANCE = 0.005


class LRFinderResult:
    r"""What a learning-rate range test measured, and the rates it suggests.

    Suggestions are read from the smoothed loss :math:`s_i` against the rate :math:`\eta_i`, in a
    window that, as in fastai, leaves out the first tenth of the steps (the loss has barely moved;
    a tenth of the steps recorded here, of those requested in fastai) and the last five (the
    blow-up). Non-finite values in the window are ignored:

    * ``minimum``: the rate at the lowest :math:`s_i`, divided by 10.
    * ``steepest``: the rate where :math:`ds/d\log\eta` is most negative (central differences,
      ``np.gradient``; fastai takes forward differences and reports the left point).
    * ``valley``: fastai's "valley". The longest valley is the longest strictly decreasing
      subsequence of :math:`s` (not necessarily contiguous; length :math:`L`, ending at index
      :math:`e`, the earliest end if several are as long). The suggestion is the rate about
      halfway along it, at index :math:`e - L + \lfloor L/3 \rfloor + \lfloor L/6 \rfloor`
      (fastai's choice; clamped at 0 here, where fastai's index can reach -1 and wrap around to
      the last rate).

    A suggestion is ``nan`` when fewer than two finite points are left in the window. These three are
    fastai's rules, kept as fastai defines them; none of them says which schedule its rate is for.

    :meth:`suggest` gives one rate per schedule family. Its anchor is the first rate at which the smoothed
    loss has come down halfway (``ANCHOR_FRACTION``) from its start (the median of the first tenth of the
    window, at least 3 points) to its lowest value; the suggestion is the anchor times
    ``10 ** SUGGEST_OFFSETS[schedule]``:

    * ``"constant"``: anchor / 4.5 (:math:`10^{-0.65}`), a rate to train at all along;
    * ``"one_cycle"``: anchor x 2.5 (:math:`10^{0.4}`), the peak of :class:`keras_optkit.schedules.OneCycle`;
    * ``"cosine"``: the anchor itself, the peak of :class:`keras_optkit.schedules.WarmupCosineDecay`.

    The anchor and the three offsets were chosen on the design half of the panel of
    ``benchmarks/lr_panel.py`` (7 small problems, 5 optimizers, batch sizes 16-128), as the one anchor whose
    best offsets minimize median + worst / 2 of the regret (best grid score minus score at the suggested
    rate); benchmarks/README.md reports how they do on the other half, where they sometimes miss badly
    (BatchNorm or SGD with small batches, whose range test keeps falling to rates that then diverge over a
    full run). The cost is the range test alone: nothing but the loss curve is read.

    Args:
        learning_rates: The rate of each step.
        losses: The loss of each step's batch.
        smoothed_losses: The bias-corrected exponential moving average of ``losses``.
        diverged: Whether the test stopped because the smoothed loss diverged.
        skip_begin: Steps left out at the start (default: a tenth of the steps).
        skip_end: Steps left out at the end (default: 5, fewer if fewer than two points would be
            left).

    Example:
        >>> import numpy as np
        >>> rates = 10.0 ** np.arange(-7.0, 1.0)
        >>> loss = np.array([2.3, 2.25, 2.0, 1.2, 0.9, 0.8, 0.85, 4.0])
        >>> result = LRFinderResult(rates, loss, loss, skip_begin=0, skip_end=0)
        >>> [f"{rate:.0e}" for rate in (result.minimum, result.steepest, result.valley)]
        ['1e-03', '1e-04', '1e-05']

    References:
        fastai, ``Learner.lr_find`` and its suggestion functions ``minimum``, ``steep`` and
        ``valley`` (https://docs.fast.ai/callback.schedule.html); the valley rule was introduced in
        fastai pull request 3377.
    """

    def __init__(
        self,
        learning_rates: Any,
        losses: Any,
        smoothed_losses: Any,
        diverged: bool = False,
        skip_begin: int | None = None,
        skip_end: int | None = None,
    ) -> None:
        self.learning_rates = np.asarray(learning_rates, dtype="float64").reshape(-1)
        self.losses = np.asarray(losses, dtype="float64").reshape(-1)
        self.smoothed_losses = np.asarray(smoothed_losses, dtype="float64").reshape(-1)
        if not len(self.learning_rates) == len(self.losses) == len(self.smoothed_losses):
            raise ValueError(
                "`learning_rates`, `losses` and `smoothed_losses` must have the same length. "
                f"Received lengths: {len(self.learning_rates)}, {len(self.losses)}, "
                f"{len(self.smoothed_losses)}"
            )
        self.diverged = check.check_bool("diverged", diverged)
        count = len(self.learning_rates)
        if skip_begin is None:
            skip_begin = count // 10
        if skip_end is None:
            skip_end = max(0, min(5, count - skip_begin - 2))
        self.skip_begin = check.check_int("skip_begin", skip_begin, minimum=0)
        self.skip_end = check.check_int("skip_end", skip_end, minimum=0)
        self.suggestions = self._suggest()

    @property
    def minimum(self) -> float:
        """The rate at the minimum smoothed loss, divided by 10."""
        return self.suggestions["minimum"]

    @property
    def steepest(self) -> float:
        """The rate where the smoothed loss falls fastest against the log of the rate."""
        return self.suggestions["steepest"]

    @property
    def valley(self) -> float:
        """The rate about halfway along the longest valley of the smoothed loss."""
        return self.suggestions["valley"]

    def suggest(self, schedule: str = "constant") -> float:
        """The rate to train at under ``schedule``, read from the range test (see the class docstring).

        Args:
            schedule: ``"constant"`` (the rate all along), ``"one_cycle"`` (the peak of a OneCycle schedule) or
                ``"cosine"`` (the peak of a warmup-cosine schedule; ``"warmup_cosine"``, the name in
                :data:`keras_optkit.tuner.SCHEDULE_FAMILIES`, is accepted too).

        Returns:
            The rate, a float.

        Raises:
            ValueError: For an unknown ``schedule``, or a curve with nothing to read: fewer than two finite
                points in the window, or a smoothed loss that never falls below its start by
                :data:`FLAT_TOLERANCE` of it.
        """
        if not isinstance(schedule, str):
            raise TypeError(f"`schedule` must be a string. Received: schedule={schedule!r}")
        family = _SCHEDULE_ALIASES.get(schedule, schedule)
        if family not in SUGGEST_OFFSETS:
            names = ", ".join(repr(name) for name in (*SUGGEST_OFFSETS, *_SCHEDULE_ALIASES))
            raise ValueError(f"`schedule` must be one of {names}. Received: schedule={schedule!r}")
        rates, values = self.window()
        if len(values) < 2:
            raise ValueError(
                "The range test has fewer than two finite smoothed losses to read a rate from (after leaving "
                f"out skip_begin={self.skip_begin} and skip_end={self.skip_end} steps). Received: "
                f"{len(self.learning_rates)} steps"
            )
        anchor = self._anchor(rates, values)
        return float(anchor * 10.0 ** SUGGEST_OFFSETS[family])

    def _anchor(self, rates: np.ndarray, values: np.ndarray) -> float:
        """The rate where the smoothed loss has come down halfway from its start to its lowest value."""
        lowest = int(np.argmin(values))
        start = float(np.median(values[: max(3, len(values) // 10)]))
        drop = start - float(values[lowest])
        if not drop > FLAT_TOLERANCE * abs(start):
            raise ValueError(
                "The smoothed loss of the range test does not fall (by more than "
                f"{FLAT_TOLERANCE:.1%} of its start): no rate to suggest. Sweep to a higher end_lr, or check "
                f"that the model trains. Received: start {start:.4g}, lowest {values[lowest]:.4g} at rate "
                f"{rates[lowest]:.3g}"
            )
        if lowest == len(values) - 1:
            warnings.warn(
                "The smoothed loss of the range test still falls at the end of the sweep (no valley): the "
                f"suggestion may be too low. Sweep to a higher end_lr than {self.learning_rates[-1]:.3g}.",
                stacklevel=3,
            )
        halfway = start - ANCHOR_FRACTION * drop
        return float(rates[int(np.flatnonzero(values[: lowest + 1] <= halfway)[0])])

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        """The rates and smoothed losses the suggestions are read from: ``skip_begin`` and ``skip_end``
        steps left out, non-finite points dropped."""
        stop = len(self.learning_rates) - self.skip_end
        rates = self.learning_rates[self.skip_begin : stop]
        values = self.smoothed_losses[self.skip_begin : stop]
        finite = np.isfinite(values) & np.isfinite(rates) & (rates > 0)
        return rates[finite], values[finite]

    def _suggest(self) -> dict[str, float]:
        rates, values = self.window()
        if len(values) < 2:
            return dict.fromkeys(_SUGGESTIONS, float("nan"))
        slopes = np.gradient(values, np.log(rates))
        return {
            "minimum": float(rates[np.argmin(values)] / 10.0),
            "steepest": float(rates[np.argmin(slopes)]),
            "valley": float(rates[_valley_index(values)]),
        }

    def plot(self, ax: Any = None, log: bool = True) -> Any:
        """Plots the losses against the rates, marks the suggestions, and returns the matplotlib
        ``Axes``.

        See :func:`keras_optkit.viz.plot_lr_finder.plot_lr_finder`.
        """
        from keras_optkit.viz.plot_lr_finder import plot_lr_finder

        return plot_lr_finder(self, ax=ax, log=log)

    def summary(self) -> str:
        """A few lines for a log or a notebook: the range swept, how it ended, the lowest smoothed
        loss, :meth:`suggest`'s rate for each schedule and fastai's three suggestions."""
        steps = len(self.learning_rates)
        if steps == 0:
            return "Learning-rate range test: no steps recorded."
        ending = "stopped: the smoothed loss diverged" if self.diverged else "completed"
        lines = [
            f"Learning-rate range test: {steps} steps, rates {self.learning_rates[0]:.3g} to "
            f"{self.learning_rates[-1]:.3g}, {ending}."
        ]
        finite = np.isfinite(self.smoothed_losses)
        if finite.any():
            best = int(np.flatnonzero(finite)[np.argmin(self.smoothed_losses[finite])])
            lines.append(
                f"  lowest smoothed loss {self.smoothed_losses[best]:.4g} at rate "
                f"{self.learning_rates[best]:.3g}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                per_schedule = {family: self.suggest(family) for family in SUGGEST_OFFSETS}
            except ValueError:
                lines.append("  suggest(): none, the curve has nothing to read (suggest() says why)")
            else:
                lines.append("  suggest(): " + ", ".join(
                    f"{family} {rate:.3g}" for family, rate in per_schedule.items()))
        lines.append("  fastai's rules:")
        lines += [f"  {name:>10}: {rate:.3g}" for name, rate in self.suggestions.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        if len(self.learning_rates) == 0:
            return "LRFinderResult(steps=0)"
        suggested = ", ".join(f"{name}={rate:.3g}" for name, rate in self.suggestions.items())
        return (
            f"LRFinderResult(steps={len(self.learning_rates)}, learning_rates="
            f"[{self.learning_rates[0]:.3g} .. {self.learning_rates[-1]:.3g}], "
            f"diverged={self.diverged}, {suggested})"
        )


def _valley_index(values: np.ndarray) -> int:
    # lengths[i]: the longest strictly decreasing subsequence ending at i.
    lengths = np.ones(len(values), dtype=int)
    for index in range(1, len(values)):
        higher = values[:index] > values[index]
        if higher.any():
            lengths[index] = lengths[:index][higher].max() + 1
    end = int(np.argmax(lengths))
    length = int(lengths[end])
    return max(0, end - length + length // 3 + length // 6)
