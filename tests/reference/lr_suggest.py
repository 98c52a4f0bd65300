"""Independent reference of ``LRFinderResult.suggest``, written from its documented rule with plain Python
lists and loops (no NumPy vectorization, nothing imported from keras_optkit).

The rule: in the window (``skip_begin`` steps left out at the start, ``skip_end`` at the end, non-finite points
and non-positive rates dropped), take the start level ``s0`` = the median of the first ``max(3, n // 10)``
smoothed losses and the lowest smoothed loss ``m`` (its first occurrence); the anchor is the first rate, at or
before the lowest point, whose smoothed loss is at most ``s0 - fraction * (s0 - m)``; the suggestion is the
anchor times ``10 ** offset``.
"""

import math


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return 0.5 * (ordered[middle - 1] + ordered[middle])


def window(rates, smoothed, skip_begin, skip_end):
    stop = len(rates) - skip_end
    points = []
    for index in range(skip_begin, stop):
        rate, value = float(rates[index]), float(smoothed[index])
        if math.isfinite(rate) and math.isfinite(value) and rate > 0:
            points.append((rate, value))
    return points


def anchor(rates, smoothed, skip_begin, skip_end, fraction):
    points = window(rates, smoothed, skip_begin, skip_end)
    values = [value for _, value in points]
    start = _median(values[: max(3, len(values) // 10)])
    lowest_index = 0
    for index, value in enumerate(values):
        if value < values[lowest_index]:
            lowest_index = index
    target = start - fraction * (start - values[lowest_index])
    for index in range(lowest_index + 1):
        if values[index] <= target:
            return points[index][0]
    raise AssertionError("unreachable: the lowest point itself meets the target")


def suggest(rates, smoothed, skip_begin, skip_end, fraction, offset):
    return anchor(rates, smoothed, skip_begin, skip_end, fraction) * 10.0**offset
