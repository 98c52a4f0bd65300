"""Independent NumPy (float64) references of LazyAdam, AdaBound, LARS, Adan and MADGRAD.

Written from the papers' algorithm boxes (and, where the task follows the authors' code rather than the paper, from
the behaviour of that code as described in each function), step by step with plain loops and without Keras, so
that the tests compare two independent implementations. Every function takes the initial parameter, one gradient
per step and one learning rate per step (the caller evaluates any schedule: Keras evaluates it at the 0-based step
count, i.e. before the step), and returns the parameter after every step.

Unless a function says otherwise, ``weight_decay`` means the Keras base optimizer's decoupled decay, applied before
the update: ``theta <- theta - lr * weight_decay * theta``.
"""

from __future__ import annotations

import math

import numpy as np


def _as_float64(value):
    return np.array(value, dtype=np.float64)


def _as_rows(array):
    """A 2-D view whose rows are the "rows" of LazyAdam: axis 0 for rank >= 2, single entries for rank 0 and 1."""
    if array.ndim >= 2:
        return array.reshape(array.shape[0], -1)
    return array.reshape(-1, 1)


def lazy_adam(theta, grads, lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
    """Adam (Kingma & Ba, Algorithm 1, in the "epsilon hat" form of TF-Addons) applied row by row.

    Each gradient is either a dense array (a row is present when any of its entries is non-zero) or a sparse
    ``(indices, values)`` pair (a row is present when its index is listed, even if its values sum to zero; the
    values of repeated indices are summed). Only present rows are decayed and updated; the bias corrections use
    the global step ``t``.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    # Views: writing a row writes the arrays.
    theta_rows, m_rows, v_rows = _as_rows(theta), _as_rows(m), _as_rows(v)
    trajectory = []
    for t, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        if isinstance(grad, tuple):
            indices, values = grad
            dense = np.zeros_like(theta)
            for index, value in zip(indices, values, strict=True):
                dense[index] += value
            present = sorted(set(int(index) for index in indices))
            grad_rows = _as_rows(dense)
        else:
            grad_rows = _as_rows(_as_float64(grad))
            present = [r for r in range(grad_rows.shape[0]) if np.any(grad_rows[r] != 0.0)]
        alpha = lr * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        for r in present:
            g = grad_rows[r]
            theta_rows[r] = theta_rows[r] - lr * weight_decay * theta_rows[r]
            m_rows[r] = beta_1 * m_rows[r] + (1.0 - beta_1) * g
            v_rows[r] = beta_2 * v_rows[r] + (1.0 - beta_2) * g * g
            theta_rows[r] = theta_rows[r] - alpha * m_rows[r] / (np.sqrt(v_rows[r]) + epsilon)
        trajectory.append(theta.copy())
    return trajectory


def adabound(
    theta,
    grads,
    lrs,
    final_lr=0.1,
    beta_1=0.9,
    beta_2=0.999,
    gamma=1e-3,
    epsilon=1e-8,
    amsbound=False,
    base_lr=None,
    weight_decay=0.0,
):
    """Luo et al. (2019), Algorithm 2 (AdaBound) / 3 (AMSBound), with the bounds of the authors' code.

    eta* = final_lr * lr_t / base_lr (base_lr defaults to lrs[0]); bounds eta* (1 - 1/(gamma t + 1)) and
    eta* (1 + 1/(gamma t)); step size lr_t sqrt(1 - beta_2^t) / (1 - beta_1^t) / (sqrt(v) + eps), clipped into the
    bounds, times m.
    """
    theta = _as_float64(theta)
    base_lr = lrs[0] if base_lr is None else base_lr
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    v_max = np.zeros_like(theta)
    trajectory = []
    for t, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        theta = theta - lr * weight_decay * theta
        m = beta_1 * m + (1.0 - beta_1) * grad
        v = beta_2 * v + (1.0 - beta_2) * grad * grad
        v_max = np.maximum(v_max, v)
        denominator = np.sqrt(v_max if amsbound else v) + epsilon
        rate = lr * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        final = final_lr * lr / base_lr
        lower = final * (1.0 - 1.0 / (gamma * t + 1.0))
        upper = final * (1.0 + 1.0 / (gamma * t))
        step_size = np.minimum(np.maximum(rate / denominator, lower), upper)
        theta = theta - step_size * m
        trajectory.append(theta.copy())
    return trajectory


def lars(
    theta,
    grads,
    lrs,
    momentum=0.9,
    trust_coefficient=0.001,
    epsilon=1e-8,
    lars_weight_decay=0.0,
    adapt=True,
    weight_decay=0.0,
):
    """You et al. (2017), Algorithm 1, with timm's epsilon and "ratio 1 when a norm is 0" convention.

    local_lr = eta ||w|| / (||g|| + beta ||w|| + eps) (1 if ||w|| or ||g|| is 0, or if not ``adapt``);
    v = momentum v + lr local_lr (g + beta w); w = w - v. ``weight_decay`` (Keras's decoupled decay) is applied to
    w first, and the norms are taken after it.
    """
    theta = _as_float64(theta)
    velocity = np.zeros_like(theta)
    trajectory = []
    for grad, lr in zip(grads, lrs, strict=True):
        grad = _as_float64(grad)
        theta = theta - lr * weight_decay * theta
        weight_norm = math.sqrt(sum(float(x) ** 2 for x in theta.ravel()))
        grad_norm = math.sqrt(sum(float(x) ** 2 for x in grad.ravel()))
        local_lr = 1.0
        if adapt and weight_norm > 0.0 and grad_norm > 0.0:
            local_lr = (
                trust_coefficient
                * weight_norm
                / (grad_norm + lars_weight_decay * weight_norm + epsilon)
            )
        velocity = momentum * velocity + lr * local_lr * (grad + lars_weight_decay * theta)
        theta = theta - velocity
        trajectory.append(theta.copy())
    return trajectory


def adan(
    theta,
    grads,
    lrs,
    beta_1=0.98,
    beta_2=0.92,
    beta_3=0.99,
    epsilon=1e-8,
    no_prox=False,
    weight_decay=0.0,
):
    """Xie et al. (2022), Algorithm 1, in the official code's convention (code beta = 1 - paper beta) and with its
    bias corrections; g_0 = g_1 (no difference on the first step).

    m = b1 m + (1 - b1) g; d = b2 d + (1 - b2) (g - g_prev); n = b3 n + (1 - b3) (g + b2 (g - g_prev))^2;
    u = lr (m / (1 - b1^t) + b2 d / (1 - b2^t)) / (sqrt(n / (1 - b3^t)) + eps);
    theta = (theta - u) / (1 + lr wd), or with ``no_prox``: theta = theta (1 - lr wd) - u.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    d = np.zeros_like(theta)
    n = np.zeros_like(theta)
    previous = None
    trajectory = []
    for t, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        if previous is None:
            previous = grad
        difference = grad - previous
        m = beta_1 * m + (1.0 - beta_1) * grad
        d = beta_2 * d + (1.0 - beta_2) * difference
        n = beta_3 * n + (1.0 - beta_3) * (grad + beta_2 * difference) ** 2
        denominator = np.sqrt(n / (1.0 - beta_3**t)) + epsilon
        update = lr * (m / (1.0 - beta_1**t) + beta_2 * d / (1.0 - beta_2**t)) / denominator
        if no_prox:
            theta = theta * (1.0 - lr * weight_decay) - update
        else:
            theta = (theta - update) / (1.0 + lr * weight_decay)
        previous = grad
        trajectory.append(theta.copy())
    return trajectory


def madgrad(
    theta,
    grads,
    lrs,
    momentum=0.9,
    epsilon=1e-6,
    decouple_decay=True,
    weight_decay=0.0,
):
    """Defazio & Jelassi (2021), Algorithm 1 (MADGRAD), with the weight decay of the authors' code.

    At step k = 0, 1, ...: lambda = lr_k sqrt(k + 1); s += lambda g; nu += lambda g^2;
    z = x0 - s / (nu^(1/3) + eps); x = momentum x + (1 - momentum) z. With momentum 0, x0 is recovered from the
    current x before the step: x0 = x + s / (nu^(1/3) + eps). Weight decay: L2 (g += wd x) unless
    ``decouple_decay``, in which case x_new -= lr wd x_old after the step. With eps = 0, s / 0 (where nu = 0) is 0.
    """
    theta = _as_float64(theta)
    x0 = theta.copy()
    s = np.zeros_like(theta)
    nu = np.zeros_like(theta)

    def dual(s, nu):
        denominator = np.cbrt(nu) + epsilon
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denominator > 0.0, s / denominator, 0.0)

    trajectory = []
    for k, (grad, lr) in enumerate(zip(grads, lrs, strict=True)):
        grad = _as_float64(grad)
        if weight_decay and not decouple_decay:
            grad = grad + weight_decay * theta
        if momentum == 0.0:
            x0 = theta + dual(s, nu)
        lamb = lr * math.sqrt(k + 1)
        s = s + lamb * grad
        nu = nu + lamb * grad * grad
        z = x0 - dual(s, nu)
        new_theta = momentum * theta + (1.0 - momentum) * z
        if weight_decay and decouple_decay:
            new_theta = new_theta - lr * weight_decay * theta
        theta = new_theta
        trajectory.append(theta.copy())
    return trajectory
