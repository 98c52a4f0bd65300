"""Float32-accurate pieces shared by the Adam-family optimizers (bias corrections, RAdam's rectifier)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from keras import ops


def is_number(value: Any) -> bool:
    """Whether a hyperparameter is a Python number (as created), not a tensor a per-step schedule put there."""
    return isinstance(value, numbers.Real)


def as_float32(value: Any) -> Any:
    """A hyperparameter as a float32 scalar tensor (a number, or the tensor of a per-step schedule)."""
    return ops.cast(ops.convert_to_tensor(value), "float32")


def log(value: Any) -> Any:
    """``log(value)``: in float64 by Python for a number, in float32 for a scheduled tensor."""
    return math.log(value) if is_number(value) else ops.log(as_float32(value))


def sqrt(value: Any) -> Any:
    """``sqrt(value)``: in float64 by Python for a number, in float32 for a scheduled tensor."""
    return math.sqrt(value) if is_number(value) else ops.sqrt(as_float32(value))


def one_minus_power(beta: Any, step: Any) -> Any:
    """``1 - beta**step`` for a float32 ``step`` tensor, without the cancellation of that form near beta = 1.

    In float32, ``1 - 0.999`` is already off by 1.3e-5 (relative); ``-expm1(step * log(beta))`` with the
    logarithm taken in float64 by Python is accurate to a few ulps. A ``beta`` that a per-step schedule made a
    tensor (``HyperparameterScheduler(frequency="step")``) has its logarithm taken in float32: the rounding of
    ``beta`` itself to float32 then limits the result to about 1e-5 relative near beta = 1.
    """
    if beta == 0.0:  # a scheduled beta compares as the number it was created with
        return ops.ones_like(step)
    return -ops.expm1(step * log(beta))


# Taylor coefficients of h(x) = x / (1 - e^{-x}) - 1 - x/2 in powers of x^2, highest first:
# x^2/12 - x^4/720 + x^6/30240 - x^8/1209600 + x^10/47900160 (Bernoulli numbers; error < 1e-10 for x < 1/2).
_H_SERIES = (1.0 / 47900160.0, -1.0 / 1209600.0, 1.0 / 30240.0, -1.0 / 720.0, 1.0 / 12.0)


def sma_length(step: Any, beta_2: float) -> Any:
    r"""RAdam's :math:`\rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t)`, accurate in float32.

    While :math:`t(1-\beta_2)` is small, the closed form subtracts two numbers close to :math:`\rho_\infty`
    (1999 for beta_2 = 0.999) to get :math:`\rho_t \approx t`, losing about three digits in float32 exactly where
    the rectifier switches on and is most sensitive to :math:`\rho_t - 4`. There, with :math:`\ell = -\log\beta_2`
    and :math:`x = t\ell < 1/2`, the same quantity is :math:`\rho_t = t + (\rho_\infty - 2/\ell) - (2/\ell)\,h(x)`
    where :math:`h(x) = x / (1 - e^{-x}) - 1 - x/2 = x^2/12 - x^4/720 + \dots` is small: no cancellation.
    Beyond, the closed form (with ``expm1``) is accurate. Constants are computed in float64 by Python (in float32
    for a scheduled ``beta_2``); ``beta_2`` must be in (0, 1).
    """
    if not is_number(beta_2):
        beta_2 = as_float32(beta_2)
    log_rate = -log(beta_2)
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    x = step * log_rate
    small = ops.minimum(x, 0.5)
    small_sq = ops.square(small)
    series = ops.zeros_like(small_sq)
    for coefficient in _H_SERIES:  # Horner's scheme in x^2
        series = series * small_sq + coefficient
    h = series * small_sq
    early = step + (rho_inf - 2.0 / log_rate) - (2.0 / log_rate) * h
    large = ops.maximum(x, 0.5)
    late = rho_inf - 2.0 * step * ops.exp(-large) / -ops.expm1(-large)
    return ops.where(x < 0.5, early, late)


def rectifier(step: Any, beta_2: float, sma_threshold: float) -> tuple[Any, Any]:
    r"""Returns ``(use_rectified_step, r_t)`` for a float32 step tensor (scalars).

    :math:`r_t = \sqrt{(\rho_t - 4)(\rho_t - 2)\rho_\infty / ((\rho_\infty - 4)(\rho_\infty - 2)\rho_t)}` where
    :math:`\rho_t \ge` ``sma_threshold`` (>= 4, so the root is real); ``r_t`` is 0 elsewhere. Shared by RAdam and
    AdaBelief's ``rectify`` option. Callers skip it when :math:`\rho_\infty <` ``sma_threshold`` (never rectified).
    """
    if not is_number(beta_2):
        beta_2 = as_float32(beta_2)
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    rho = sma_length(step, beta_2)
    rectified = rho >= sma_threshold
    scale = rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0))
    safe_rho = ops.maximum(rho, 4.0)
    r_t = ops.sqrt((safe_rho - 4.0) * (safe_rho - 2.0) / safe_rho * scale)
    return rectified, ops.where(rectified, r_t, 0.0)
