"""Independent NumPy (float64) references of the classic optimizers' update rules.

Written from the papers' algorithm boxes (and, where the package follows it, TF-Addons' documented behaviour),
step by step and without Keras, so that the tests compare two independent implementations. Every function takes
the initial parameter(s), one gradient per step and one learning rate per step (the caller evaluates any schedule:
Keras evaluates it at the 0-based step count, i.e. before the step), and returns the parameter after every step.

``weight_decay`` everywhere means the Keras base optimizer's decoupled decay, applied before the update:
``theta <- theta - lr * weight_decay * theta``.
"""

from __future__ import annotations

import math

import numpy as np


def _as_float64(value):
    return np.array(value, dtype=np.float64)


def _decoupled_decay(theta, lr, weight_decay):
    return theta - lr * weight_decay * theta


def momentum_sgd(theta, grads, lrs, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    """b_t = mu b_{t-1} + (1 - dampening) g_t (b_0 = 0); theta -= lr b_t, or lr (g_t + mu b_t) with Nesterov."""
    theta = _as_float64(theta)
    buffer = np.zeros_like(theta)
    trajectory = []
    for grad, lr in zip(grads, lrs, strict=True):
        grad = _as_float64(grad)
        theta = _decoupled_decay(theta, lr, weight_decay)
        if momentum == 0:
            direction = grad
        else:
            buffer = momentum * buffer + (1.0 - dampening) * grad
            direction = grad + momentum * buffer if nesterov else buffer
        theta = theta - lr * direction
        trajectory.append(theta.copy())
    return trajectory


def tfa_warmup_lr(lr, step, total_steps, warmup_proportion, min_lr):
    """TF-Addons RectifiedAdam's built-in schedule: linear warmup to ``lr``, then linear decay to ``min_lr``.

    ``step`` is 1-based. Returns ``lr`` unchanged when ``total_steps`` is 0.
    """
    if total_steps <= 0:
        return lr
    warmup_steps = total_steps * warmup_proportion
    decay_steps = max(total_steps - warmup_steps, 1.0)
    if step <= warmup_steps:
        return lr * step / warmup_steps
    return lr + (min_lr - lr) / decay_steps * min(step - warmup_steps, decay_steps)


def radam_rho(step, beta_2):
    """The length of the approximated simple moving average, rho_t, of Liu et al. (2019), Algorithm 2."""
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    return rho_inf - 2.0 * step * beta_2**step / (1.0 - beta_2**step)


def radam_rectifier(step, beta_2):
    """The variance rectification term r_t of Liu et al. (2019), Algorithm 2 (defined for rho_t >= 4)."""
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    rho = radam_rho(step, beta_2)
    return math.sqrt(
        (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
    )


def radam(
    theta,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-7,
    amsgrad=False,
    sma_threshold=5.0,
    total_steps=0,
    warmup_proportion=0.1,
    min_lr=0.0,
    weight_decay=0.0,
):
    """Rectified Adam (Liu et al. 2019, Algorithm 2) with TF-Addons' epsilon, threshold and warmup options.

    Where rho_t >= sma_threshold: theta -= lr_t r_t m_hat / (sqrt(v_hat) + eps); elsewhere theta -= lr_t m_hat.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    v_max = np.zeros_like(theta)
    trajectory = []
    for step, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        theta = _decoupled_decay(theta, lr, weight_decay)
        lr_t = tfa_warmup_lr(lr, step, total_steps, warmup_proportion, min_lr)
        m = beta_1 * m + (1.0 - beta_1) * grad
        v = beta_2 * v + (1.0 - beta_2) * grad**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1.0 - beta_1**step)
        v_hat = (v_max if amsgrad else v) / (1.0 - beta_2**step)
        if radam_rho(step, beta_2) >= sma_threshold:
            update = radam_rectifier(step, beta_2) * m_hat / (np.sqrt(v_hat) + epsilon)
        else:
            update = m_hat
        theta = theta - lr_t * update
        trajectory.append(theta.copy())
    return trajectory


def adabelief(
    theta,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-14,
    amsgrad=False,
    rectify=False,
    sma_threshold=5.0,
    weight_decay=0.0,
):
    """AdaBelief (Zhuang et al. 2020, Algorithm 2): s_t = b2 s + (1 - b2)(g - m_t)^2 + eps, step m_hat/(sqrt(s_hat)+eps).

    ``rectify`` switches RAdam's rectification on: lr m_hat below the threshold, r_t times the step above it.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    s = np.zeros_like(theta)
    s_max = np.zeros_like(theta)
    trajectory = []
    for step, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        theta = _decoupled_decay(theta, lr, weight_decay)
        m = beta_1 * m + (1.0 - beta_1) * grad
        s = beta_2 * s + (1.0 - beta_2) * (grad - m) ** 2 + epsilon
        s_max = np.maximum(s_max, s)
        m_hat = m / (1.0 - beta_1**step)
        s_hat = (s_max if amsgrad else s) / (1.0 - beta_2**step)
        adaptive = m_hat / (np.sqrt(s_hat) + epsilon)
        if not rectify:
            update = adaptive
        elif radam_rho(step, beta_2) >= sma_threshold:
            update = radam_rectifier(step, beta_2) * adaptive
        else:
            update = m_hat
        theta = theta - lr * update
        trajectory.append(theta.copy())
    return trajectory


def yogi(
    theta,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-3,
    initial_accumulator_value=1e-6,
    l1_regularization_strength=0.0,
    l2_regularization_strength=0.0,
    activation="sign",
    weight_decay=0.0,
):
    """Yogi (Zaheer et al. 2018, Algorithm 2) with TF-Addons' bias-corrected step and proximal L1/L2 step.

    v_t = v + (1 - b2) sign(g^2 - v) g^2; alpha = lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v_t) + eps);
    theta -= alpha m_t, then theta = argmin_w (w - theta)^2 / (2 alpha) + l1 |w| + l2 w^2 / 2, per coordinate.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    v = np.full_like(theta, initial_accumulator_value)
    trajectory = []
    for step, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        theta = _decoupled_decay(theta, lr, weight_decay)
        m = beta_1 * m + (1.0 - beta_1) * grad
        difference = grad**2 - v
        towards = np.sign(difference) if activation == "sign" else np.tanh(10.0 * difference)
        v = v + (1.0 - beta_2) * towards * grad**2
        alpha = lr * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step) / (np.sqrt(v) + epsilon)
        theta = theta - alpha * m
        new_theta = np.empty_like(theta)
        for index in np.ndindex(theta.shape):  # the proximal step, one coordinate at a time
            value, a = theta[index], alpha[index]
            magnitude = max(abs(value) - a * l1_regularization_strength, 0.0)
            new_theta[index] = math.copysign(magnitude, value) / (
                1.0 + a * l2_regularization_strength
            )
        theta = new_theta
        trajectory.append(theta.copy())
    return trajectory


def novograd(
    theta,
    grads,
    lrs,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-7,
    moment_weight_decay=0.0,
    grad_averaging=False,
    amsgrad=False,
    weight_decay=0.0,
):
    """NovoGrad (Ginsburg et al. 2019, Algorithm 1) for one layer: a scalar second moment of ||g||^2.

    v_1 = ||g_1||^2, then v_t = b2 v + (1 - b2) ||g_t||^2; m_t = b1 m + c_t (g_t / (sqrt(v_t) + eps) + d theta),
    with c_t = 1 - b1 from step 2 on under grad_averaging (else 1); theta -= lr m_t.
    """
    theta = _as_float64(theta)
    m = np.zeros_like(theta)
    v = 0.0
    v_max = 0.0
    trajectory = []
    for step, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        grad = _as_float64(grad)
        theta = _decoupled_decay(theta, lr, weight_decay)
        squared_norm = float(np.sum(grad**2))
        v = squared_norm if step == 1 else beta_2 * v + (1.0 - beta_2) * squared_norm
        v_max = max(v_max, v)
        bracket = (
            grad / (math.sqrt(v_max if amsgrad else v) + epsilon) + moment_weight_decay * theta
        )
        if grad_averaging and step > 1:
            bracket = (1.0 - beta_1) * bracket
        m = beta_1 * m + bracket
        theta = theta - lr * m
        trajectory.append(theta.copy())
    return trajectory


def gradient_norm_ratio_sgd(
    thetas, grads, lrs, epsilon=1e-8, max_ratio=2.0, momentum=0.0, weight_decay=0.0
):
    """SGD on several variables with eta_t = eta * clip(N_t / N_{t-1}, 1/max_ratio, max_ratio), eta_1 = eta.

    N_t = max(sum over all variables of ||g||^2, epsilon); with momentum, v = mu v - eta_t g and theta += v.
    ``thetas`` is a list of initial parameters and ``grads[step]`` a list with one gradient per parameter.
    Returns trajectories[variable][step].
    """
    thetas = [_as_float64(theta) for theta in thetas]
    velocities = [np.zeros_like(theta) for theta in thetas]
    previous = None
    trajectories = [[] for _ in thetas]
    for step_grads, lr in zip(grads, lrs, strict=True):
        step_grads = [_as_float64(grad) for grad in step_grads]
        current = max(sum(float(np.sum(grad**2)) for grad in step_grads), epsilon)
        ratio = (
            1.0 if previous is None else min(max(current / previous, 1.0 / max_ratio), max_ratio)
        )
        previous = current
        for index, grad in enumerate(step_grads):
            theta = _decoupled_decay(thetas[index], lr, weight_decay)
            velocities[index] = momentum * velocities[index] - lr * ratio * grad
            thetas[index] = theta + velocities[index]
            trajectories[index].append(thetas[index].copy())
    return trajectories
