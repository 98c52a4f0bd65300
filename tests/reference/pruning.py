"""Independent NumPy / pure-Python references for magnitude pruning, written from the definitions.

The sparsity schedules follow Zhu & Gupta (arXiv:1710.01878), eq. (1); the masks rank weights with Python's
``sorted`` on ``(magnitude, index)`` keys, so ties go to the lower flat index by construction.
"""

import math

import numpy as np


def polynomial_sparsity(step, initial, final, begin, end, power=3.0):
    """s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^p on [t0, t1]; s_f after; 0 before t0."""
    if step < begin:
        return 0.0
    if step >= end:
        return final
    progress = (step - begin) / (end - begin)
    return final + (initial - final) * (1.0 - progress) ** power


def constant_sparsity(step, sparsity, begin):
    return 0.0 if step < begin else sparsity


def update_steps(begin, frequency, end, last_step):
    """Every step in [0, last_step] at which the masks are recomputed: begin, begin + f, ... up to end."""
    steps, step = [], begin
    while step <= last_step and (end is None or step <= end):
        steps.append(step)
        step += frequency
    return steps


def _zero_smallest(magnitudes, count):
    order = sorted(range(len(magnitudes)), key=lambda index: (magnitudes[index], index))
    keep = [1.0] * len(magnitudes)
    for index in order[:count]:
        keep[index] = 0.0
    return keep


def weight_masks(kernels, sparsity, scope):
    """Masks of single weights: the round(s * size) smallest |w| per kernel, or over all kernels together."""
    flats = [[abs(float(v)) for v in np.asarray(kernel).reshape(-1)] for kernel in kernels]
    if scope == "layer":
        return [
            np.array(_zero_smallest(flat, round(sparsity * len(flat))), dtype=np.float32).reshape(np.shape(kernel))
            for flat, kernel in zip(flats, kernels, strict=True)
        ]
    joined = [value for flat in flats for value in flat]
    keep = _zero_smallest(joined, round(sparsity * len(joined)))
    masks, start = [], 0
    for flat, kernel in zip(flats, kernels, strict=True):
        masks.append(np.array(keep[start:start + len(flat)], dtype=np.float32).reshape(np.shape(kernel)))
        start += len(flat)
    return masks


def unit_mask(kernel, sparsity):
    """Whole output units (last axis) with the smallest L2 norm zeroed: round(s * units) of them."""
    kernel = np.asarray(kernel, dtype=np.float64)
    units = kernel.shape[-1]
    columns = kernel.reshape(-1, units)
    norms = [math.sqrt(sum(float(v) ** 2 for v in columns[:, unit])) for unit in range(units)]
    keep = _zero_smallest(norms, round(sparsity * units))
    mask = np.zeros(kernel.shape, dtype=np.float32)
    for unit in range(units):
        mask[..., unit] = keep[unit]
    return mask


def n_m_mask(kernel, n, m):
    """Of every m consecutive weights along the input axis (second to last), the n largest |w| kept."""
    kernel = np.asarray(kernel)
    mask = np.zeros(kernel.shape, dtype=np.float32)
    inputs = kernel.shape[-2]
    for position in np.ndindex(*kernel.shape[:-2], kernel.shape[-1]):
        *spatial, output = position
        for start in range(0, inputs, m):
            group = [abs(float(kernel[(*spatial, start + offset, output)])) for offset in range(m)]
            keep = _zero_smallest(group, m - n)
            for offset in range(m):
                mask[(*spatial, start + offset, output)] = keep[offset]
    return mask
