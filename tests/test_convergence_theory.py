"""The stale executor against the closed forms of delayed gradient descent on a quadratic.

x(t+1) = x(t) - a x(t - tau) (a = lr x curvature) is asymptotically stable iff
0 < a < 2 cos(tau pi / (2 tau + 1)) (Levin & May 1976; docs/reference.md#asynchronous-pipelines-and-staleness),
and |x(t)| decays (or grows) as r^t, r the largest root modulus of z^(tau+1) - z^tau + a.
The loss is quadratic in x, so it scales as r^(2t): that is what is measured here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipesim.convergence import (
    Optimizer,
    Training,
    constant_delay,
    delayed_rate,
    for_schedule,
    iterations_for,
    make_problem,
    quadratic_rate,
    run_stale,
    stability_limit,
)


def _scalar(a: float, tau: int, iterations: int, factor: float = 1e4):
    """Delayed GD on f = (x - x*)^2 / 2 through the executor (one stage, one microbatch)."""
    problem = make_problem("quadratic", dim=1, cond=1, blocks=1)
    training = Training(Optimizer("sgd", a), microbatch_size=1, diverge_factor=factor)
    return run_stale(problem, constant_delay(1, 1, iterations, tau), training, seed=0)


def _measured_rate(loss: np.ndarray, skip: int) -> float:
    """r from a least-squares fit of log(loss) = c + 2 t log r, above the float floor."""
    keep = np.flatnonzero(loss > loss[0] * 1e-22)
    t = keep[keep >= skip]
    slope = np.polyfit(t, np.log(loss[t]), 1)[0]
    return math.exp(slope / 2)


def _settled(loss: np.ndarray, reduction: float) -> int:
    """Iterations after which the loss stays below ``reduction`` x its start: an oscillating
    solution crosses the optimum now and then, so the first dip below says little."""
    return int(np.flatnonzero(loss > reduction * loss[0])[-1]) + 1


def test_stability_limit_values():
    assert stability_limit(0) == 2.0
    assert stability_limit(1) == pytest.approx(1.0)
    assert stability_limit(2) == pytest.approx((math.sqrt(5) - 1) / 2)  # 2 cos(2 pi / 5)
    for tau in range(1, 9):  # at the limit the dominant root sits on the unit circle
        assert delayed_rate(stability_limit(tau), tau) == pytest.approx(1.0, abs=1e-6)
        assert delayed_rate(0.99 * stability_limit(tau), tau) < 1 < delayed_rate(1.01 * stability_limit(tau), tau)


@pytest.mark.parametrize("tau", [1, 2, 4, 8])
@pytest.mark.parametrize("frac", [0.5, 0.8])
def test_measured_rate_is_the_characteristic_root(tau, frac):
    a = frac * stability_limit(tau)
    curve = _scalar(a, tau, 400)
    assert not curve.diverged
    assert _measured_rate(curve.loss, skip=4 * tau + 5) == pytest.approx(delayed_rate(a, tau), rel=0.015)


@pytest.mark.parametrize("tau,a", [(1, 0.8), (2, 0.5), (4, 0.25), (1, 0.3)])
def test_slowdown_from_delay_agrees_with_theory(tau, a):
    """Iterations to shrink the loss 1e12-fold, with delay tau and without, against
    log(reduction) / (2 log r). With a small step (a = 0.3, tau = 1) the delayed recurrence is
    *faster* (|z| = sqrt(a) < 1 - a), and the executor finds that too."""
    reduction = 1e-12
    curve, base = _scalar(a, tau, 800), _scalar(a, 0, 800)
    got, ref = _settled(curve.loss, reduction), _settled(base.loss, reduction)
    assert got < 800 and ref < 800
    assert got == pytest.approx(iterations_for(reduction, delayed_rate(a, tau)), rel=0.15)
    predicted = iterations_for(reduction, delayed_rate(a, tau)) / iterations_for(reduction, delayed_rate(a, 0))
    assert got / ref == pytest.approx(predicted, rel=0.15)
    assert (got > ref) == (delayed_rate(a, tau) > abs(1 - a))


@pytest.mark.parametrize("tau", [1, 2, 3])
def test_step_above_the_limit_diverges_at_the_predicted_rate(tau):
    limit = stability_limit(tau)
    above = _scalar(1.1 * limit, tau, 400, factor=1e30)
    assert above.loss[-1] > 1e6 * above.loss[0]
    assert _measured_rate(above.loss, skip=20) == pytest.approx(delayed_rate(1.1 * limit, tau), rel=0.01)
    below = _scalar(0.9 * limit, tau, 400)
    assert not below.diverged and below.loss[-1] < 1e-6 * below.loss[0]


def test_2bw_on_a_quadratic_follows_the_delay_one_theory():
    """A real schedule's pattern: 2BW is delay 1, so lr x lambda_max above 1 diverges where
    synchronous training (limit 2) still converges, and below it the rate is the slowest
    eigen-direction's root."""
    problem = make_problem("quadratic")  # eigenvalues in [0.05, 1]
    lam = problem.eigenvalues
    bw, sync = for_schedule("pipedream-2bw", 4, 4, 300), for_schedule("1f1b", 4, 4, 300)
    for lr, stable in ((0.9, True), (1.2, False)):
        training = Training(Optimizer("sgd", lr), microbatch_size=1)
        curve = run_stale(problem, bw, training, seed=0)
        assert curve.diverged is not stable
        assert run_stale(problem, sync, training, seed=0).loss[-1] < 1e-9
        if stable:
            assert _measured_rate(curve.loss, skip=100) == pytest.approx(quadratic_rate(lr * lam, 1), rel=0.01)
