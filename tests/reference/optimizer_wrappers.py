"""Independent NumPy (float64) references of the optimizer wrappers and of the Keras optimizers they wrap in tests.

Written from the papers (plain loops over output units, no Keras):

* ``centralize``: gradient centralization, Yong et al. 2020 (arXiv:2004.01461), the GC operator, with the output
  unit on the last axis (Keras layouts).
* ``clip_unitwise``: adaptive gradient clipping, Brock et al. 2021 (arXiv:2102.06171), the AGC rule, units on the
  last axis, vectors and scalars as one unit.
* ``lookahead``: Zhang et al. 2019 (arXiv:1907.08610), Algorithm 1.
* ``keras_sgd`` and ``keras_adam``: the rules of Keras's ``SGD`` and ``Adam`` (Kingma & Ba 2015, arXiv:1412.6980,
  Algorithm 1 in the "epsilon hat" form of their Section 2, which Keras uses), the inner optimizers of the tests.

Trajectory functions take the initial parameter, one gradient per step and one learning rate per step (the caller
evaluates any schedule at the 0-based step count, as Keras does) and return the parameter after every step.

``lookahead`` takes the inner optimizer's *updates* (its parameter change at each step), not the inner optimizer:
for SGD, Adam and RAdam without weight decay of their own, the update depends only on the gradients seen so far,
never on the parameter's value, so Lookahead's resets of the fast weights leave it unchanged. ``updates`` turns an
inner trajectory into those updates.
"""

from __future__ import annotations

import numpy as np


def _units(array):
    """Index tuples of the units: one per index of the last axis for rank >= 2, the whole array otherwise."""
    if array.ndim <= 1:
        return [Ellipsis]
    return [(Ellipsis, unit) for unit in range(array.shape[-1])]


def centralize(gradient):
    """Each unit's gradient minus its own mean; rank <= 1 gradients unchanged."""
    gradient = np.array(gradient, dtype=np.float64)
    if gradient.ndim <= 1:
        return gradient
    centralized = gradient.copy()
    for unit in _units(gradient):
        centralized[unit] = gradient[unit] - np.mean(gradient[unit])
    return centralized


def clip_unitwise(gradient, weight, clip_factor=0.01, eps=1e-3):
    """G_i * min(1, clip_factor * max(|W_i|, eps) / |G_i|) for each unit i (Frobenius norms)."""
    gradient = np.array(gradient, dtype=np.float64)
    weight = np.array(weight, dtype=np.float64)
    clipped = gradient.copy()
    for unit in _units(gradient):
        gradient_norm = np.sqrt(np.sum(gradient[unit] ** 2))
        max_norm = clip_factor * max(np.sqrt(np.sum(weight[unit] ** 2)), eps)
        if gradient_norm > max_norm:
            clipped[unit] = gradient[unit] * (max_norm / gradient_norm)
    return clipped


def clip_by_norm(gradient, clipnorm):
    """Keras's per-tensor ``clipnorm``: the gradient rescaled to norm ``clipnorm`` if its norm is larger."""
    gradient = np.array(gradient, dtype=np.float64)
    norm = np.sqrt(np.sum(gradient**2))
    return gradient * (clipnorm / norm) if norm > clipnorm else gradient


def _transform_and_decay(theta, grad, lr, weight_decay, transform):
    """The wrapper's part of a step: the gradient transformation (seeing the weights), then decoupled decay."""
    grad = np.array(grad, dtype=np.float64)
    if transform is not None:
        grad = transform(grad, theta)
    if weight_decay:
        theta = theta - lr * weight_decay * theta
    return theta, grad


def keras_sgd(theta, grads, lrs, momentum=0.0, weight_decay=0.0, transform=None):
    """Keras SGD: v = momentum * v - lr * g (v_0 = 0); theta += v.

    ``transform(grad, theta)`` and then ``weight_decay`` (decoupled, ``theta -= lr * weight_decay * theta``) run
    first at each step, as a wrapper does before its inner optimizer's step.
    """
    theta = np.array(theta, dtype=np.float64)
    velocity = np.zeros_like(theta)
    trajectory = []
    for grad, lr in zip(grads, lrs, strict=True):
        theta, grad = _transform_and_decay(theta, grad, lr, weight_decay, transform)
        velocity = momentum * velocity - lr * grad
        theta = theta + velocity
        trajectory.append(theta.copy())
    return trajectory


def keras_adam(
    theta, grads, lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0, transform=None
):
    """Adam with epsilon added to sqrt(v_t): theta -= lr sqrt(1 - b2^t) / (1 - b1^t) * m_t / (sqrt(v_t) + eps).

    ``weight_decay`` and ``transform`` as in ``keras_sgd``.
    """
    theta = np.array(theta, dtype=np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    trajectory = []
    for step, (grad, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        theta, grad = _transform_and_decay(theta, grad, lr, weight_decay, transform)
        m = beta_1 * m + (1.0 - beta_1) * grad
        v = beta_2 * v + (1.0 - beta_2) * grad**2
        step_size = lr * np.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        theta = theta - step_size * m / (np.sqrt(v) + epsilon)
        trajectory.append(theta.copy())
    return trajectory


def updates(theta, trajectory):
    """The parameter change at each step of a trajectory that starts from ``theta``."""
    previous = [np.array(theta, dtype=np.float64)] + [
        np.asarray(point) for point in trajectory[:-1]
    ]
    return [np.asarray(point) - before for point, before in zip(trajectory, previous, strict=True)]


def lookahead(theta, inner_updates, sync_period=6, slow_step_size=0.5, lrs=None, weight_decay=0.0):
    """Lookahead, Algorithm 1: k fast steps from the slow weights phi, then phi += alpha (theta_k - phi).

    ``weight_decay`` is the wrapper's decoupled decay, applied to the fast weights as part of each fast step
    (after the period's start was recorded): ``theta <- theta - lr * weight_decay * theta`` (``lrs`` are the inner
    optimizer's learning rates).
    Returns the fast weights (the model's weights) after every step.
    """
    slow = np.array(theta, dtype=np.float64)
    fast = slow.copy()
    trajectory = []
    for step, update in enumerate(inner_updates, start=1):
        if weight_decay:
            fast = fast - lrs[step - 1] * weight_decay * fast
        fast = fast + update
        if step % sync_period == 0:
            slow = slow + slow_step_size * (fast - slow)
            fast = slow.copy()
        trajectory.append(fast.copy())
    return trajectory
