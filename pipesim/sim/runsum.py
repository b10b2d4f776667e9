"""A running float sum that ends bit for bit equal to the builtin ``sum`` over the same values.

Links report the mean of their transfers' queueing delays. Keeping every delay to sum them at
the end costs a float per transfer (millions in a long run); folding each into a running total
costs nothing, but the total must be the very number ``sum(delays)`` gives, or metrics would
change with the bookkeeping. CPython adds floats in order with one double accumulator up to
3.11; from 3.12 ``sum`` also carries a Neumaier compensation term and adds it at the end when
it is finite and not zero (see "What's New In Python 3.12", builtins: ``sum`` "now uses
Neumaier summation"). ``running_sum`` mirrors whichever the running interpreter does.
"""

from __future__ import annotations

import math
import sys

#: Whether the builtin ``sum`` of floats compensates (CPython 3.12 and later).
COMPENSATED = sys.version_info >= (3, 12)


def running_sum(total: float, comp: float, x: float) -> tuple[float, float]:
    """``(total, comp)`` after adding ``x``; start from ``(0.0, 0.0)``."""
    t = total + x
    if COMPENSATED:
        if abs(total) >= abs(x):
            comp += (total - t) + x
        else:
            comp += (x - t) + total
    return t, comp


def sum_result(total: float, comp: float) -> float:
    """The sum the builtin would return for the values folded into ``(total, comp)``."""
    if comp and math.isfinite(comp):
        return total + comp
    return total
