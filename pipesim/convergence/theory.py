"""Closed forms for gradient descent with a constant delay on a quadratic.

On f(x) = lambda/2 * x^2, gradient descent whose gradient is tau updates old is the linear
recurrence x(t+1) = x(t) - a * x(t - tau) with a = lr * lambda. Its solutions are sums of
z^t over the roots of the characteristic polynomial z^(tau+1) - z^tau + a = 0, so

* the asymptotic rate is the largest root modulus (``delayed_rate``): |x(t)| ~ C * rate^t;
* the recurrence is asymptotically stable iff 0 < a < 2 cos(tau*pi / (2*tau + 1))
  (``stability_limit``; Levin & May 1976, docs/reference.md#asynchronous-pipelines-and-staleness).

On a quadratic with several curvatures every eigen-direction follows its own recurrence, and
the slowest one sets the rate. The loss is quadratic in x, so it decays as rate^(2t).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def stability_limit(tau: int) -> float:
    """The largest stable lr * lambda for delay ``tau`` (2 at tau = 0, 1 at tau = 1)."""
    if tau < 0:
        raise ValueError(f"delay: {tau}; must be >= 0")
    return 2.0 * math.cos(tau * math.pi / (2 * tau + 1))


def delayed_rate(a: float, tau: int) -> float:
    """Largest modulus among the roots of z^(tau+1) - z^tau + a (per-step contraction of x)."""
    if tau < 0:
        raise ValueError(f"delay: {tau}; must be >= 0")
    coeffs = np.zeros(tau + 2)
    coeffs[0], coeffs[1], coeffs[-1] = 1.0, -1.0, a  # z^(tau+1) - z^tau + ... + a
    if tau == 0:
        return abs(1.0 - a)
    return float(np.max(np.abs(np.roots(coeffs))))


def quadratic_rate(step_times_curvatures: Iterable[float], tau: int) -> float:
    """The rate on a quadratic: the slowest eigen-direction's ``delayed_rate``."""
    return max(delayed_rate(float(a), tau) for a in step_times_curvatures)


def iterations_for(reduction: float, rate: float) -> float:
    """Steps for the loss to shrink by ``reduction`` (< 1) at ``rate`` per step of x: the loss
    falls as rate^(2t). Infinite when rate >= 1."""
    if not 0 < reduction < 1:
        raise ValueError(f"reduction: {reduction}; must be in (0, 1)")
    return math.inf if rate >= 1 else math.log(reduction) / (2.0 * math.log(rate))
