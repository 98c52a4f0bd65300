"""Independent NumPy (float64) references of ADOPT, AdEMAMix and Prodigy.

Written from the papers' algorithm boxes (and, for Prodigy, the authors' reference implementation, which the paper
points to), step by step with plain loops and without Keras, so that the tests compare two independent
implementations. Every function takes the initial parameter(s), one gradient (or list of gradients) per step and
one learning rate per step (the caller evaluates any schedule: Keras evaluates it at the 0-based step count, i.e.
before the step), and returns the parameter(s) after every step.

``weight_decay`` in ADOPT and AdEMAMix means the Keras base optimizer's decoupled decay, applied before the update:
``theta <- theta - lr * weight_decay * theta``. Prodigy's decay is its own (scaled by d * lr), see ``prodigy``.
"""

from __future__ import annotations

import math

import numpy as np


def _as_float64(value):
    return np.array(value, dtype=np.float64)


def adopt(
    theta,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.9999,
    epsilon=1e-6,
    clip_exponent=0.25,
    weight_decay=0.0,
):
    """Taniguchi et al. (2024), Algorithm 1, with the clipped momentum input of the final version (c_t = t^p).

    t = 0: v = g^2 and theta is not moved. t >= 1: g_hat = clip(g / max(sqrt(v), eps), -t^p, t^p),
    m = beta_1 m + (1 - beta_1) g_hat, theta -= lr m, v = beta_2 v + (1 - beta_2) g^2.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    trajectory = []
    for t, (grad, lr) in enumerate(zip(grads, lrs, strict=True)):
        grad = _as_float64(grad)
        theta = theta - lr * weight_decay * theta
        if t == 0:
            v = grad * grad
        else:
            normalized = grad / np.maximum(np.sqrt(v), epsilon)
            if clip_exponent is not None:
                bound = float(t) ** clip_exponent
                normalized = np.minimum(np.maximum(normalized, -bound), bound)
            m = beta_1 * m + (1.0 - beta_1) * normalized
            theta = theta - lr * m
            v = beta_2 * v + (1.0 - beta_2) * grad * grad
        trajectory.append(theta.copy())
    return trajectory


def ademamix_alpha(step, alpha, warmup_steps):
    """alpha(t) = min(t alpha / T_alpha, alpha) for the 1-based step t (Pagliardini et al. 2024, Section 3)."""
    if warmup_steps is None:
        return alpha
    return min(step * alpha / warmup_steps, alpha)


def ademamix_beta_3(step, beta_1, beta_3, warmup_steps):
    """The paper's beta_3 scheduler, literally:

    min(exp(ln(beta_start) ln(beta_3) / ((1 - t/T) ln(beta_3) + (t/T) ln(beta_start))), beta_3), beta_start = beta_1.
    """
    if warmup_steps is None:
        return beta_3
    ratio = step / warmup_steps
    log_start, log_end = math.log(beta_1), math.log(beta_3)
    return min(
        math.exp(log_start * log_end / ((1.0 - ratio) * log_end + ratio * log_start)), beta_3
    )


def ademamix(
    theta,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.999,
    beta_3=0.9999,
    alpha=5.0,
    alpha_warmup_steps=None,
    beta_3_warmup_steps=None,
    epsilon=1e-8,
    weight_decay=0.0,
):
    """Pagliardini et al. (2024), Algorithm 1 (AdEMAMix) with its optional alpha and beta_3 schedulers.

    m1 = b1 m1 + (1 - b1) g; m2 = b3(t) m2 + (1 - b3(t)) g; nu = b2 nu + (1 - b2) g^2;
    theta -= lr ((m1 / (1 - b1^t) + alpha(t) m2) / (sqrt(nu / (1 - b2^t)) + eps) + weight_decay theta).
    """
    theta = _as_float64(theta)
    m1 = np.zeros_like(theta)
    m2 = np.zeros_like(theta)
    nu = np.zeros_like(theta)
    trajectory = []
    for t, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        b3 = ademamix_beta_3(t, beta_1, beta_3, beta_3_warmup_steps)
        a = ademamix_alpha(t, alpha, alpha_warmup_steps)
        m1 = beta_1 * m1 + (1.0 - beta_1) * grad
        m2 = b3 * m2 + (1.0 - b3) * grad
        nu = beta_2 * nu + (1.0 - beta_2) * grad * grad
        m1_hat = m1 / (1.0 - beta_1**t)
        nu_hat = nu / (1.0 - beta_2**t)
        update = (m1_hat + a * m2) / (np.sqrt(nu_hat) + epsilon) + weight_decay * theta
        theta = theta - lr * update
        trajectory.append(theta.copy())
    return trajectory


def prodigy(
    thetas,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.999,
    beta_3=None,
    d0=1e-6,
    d_coef=1.0,
    growth_rate=math.inf,
    safeguard_warmup=False,
    bias_correction=False,
    epsilon=1e-8,
    weight_decay=0.0,
):
    """The Adam version of Prodigy (Mishchenko & Defazio, 2023), as in the authors' reference code.

    ``thetas`` is a list of parameters and ``grads[k]`` the list of their gradients at step k: d is shared, so
    all parameters are stepped together. Returns ``(trajectory, ds)``: ``trajectory[k]`` is the list of the
    parameters after step k and ``ds[k]`` the estimate d after step k. Steps whose sum of |s| is 0 (all gradients
    so far zero) or whose learning rate is 0 change nothing, as in the authors' code; ``weight_decay`` is their
    decoupled decay, scaled by d * lr.
    """
    thetas = [_as_float64(theta) for theta in thetas]
    initial = [theta.copy() for theta in thetas]
    s = [np.zeros_like(theta) for theta in thetas]
    m = [np.zeros_like(theta) for theta in thetas]
    v = [np.zeros_like(theta) for theta in thetas]
    if beta_3 is None:
        beta_3 = math.sqrt(beta_2)
    d, d_max, numerator = d0, d0, 0.0
    steps_taken = 0  # the authors' k: skipped steps do not count
    trajectory, ds = [], []
    for step_grads, lr in zip(grads, lrs, strict=True):
        step_grads = [_as_float64(g) for g in step_grads]
        if bias_correction:
            k = steps_taken + 1
            correction = math.sqrt(1.0 - beta_2**k) / (1.0 - beta_1**k)
        else:
            correction = 1.0
        d_lr = d * lr * correction
        new_numerator = beta_3 * numerator
        denominator = 0.0
        if lr > 0.0:
            for i, grad in enumerate(step_grads):
                new_numerator += (d / d0) * d_lr * float(np.sum(grad * (initial[i] - thetas[i])))
                m[i] = beta_1 * m[i] + d * (1.0 - beta_1) * grad
                v[i] = beta_2 * v[i] + d * d * (1.0 - beta_2) * grad * grad
                s_rate = (d / d0) * (d if safeguard_warmup else d_lr)
                s[i] = beta_3 * s[i] + s_rate * grad
                denominator += float(np.sum(np.abs(s[i])))
        if denominator > 0.0:
            numerator = new_numerator
            d_hat = d_coef * numerator / denominator
            if d == d0:
                d = max(d, d_hat)
            d_max = max(d_max, d_hat)
            d = min(d_max, d * growth_rate)
            for i in range(len(thetas)):
                thetas[i] = thetas[i] - weight_decay * d_lr * thetas[i]
                thetas[i] = thetas[i] - d_lr * m[i] / (np.sqrt(v[i]) + d * epsilon)
            steps_taken += 1
        trajectory.append([theta.copy() for theta in thetas])
        ds.append(d)
    return trajectory, ds
