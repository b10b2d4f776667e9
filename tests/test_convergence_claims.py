"""What the papers say about asynchronous pipelines, checked on the character-level LM with
fixed seeds (docs/convergence.md#what-the-tests-pin-down):

* PipeDream's delays grow with depth (p - s - 1 per stage) and so do its iterations to target;
* PipeDream-2BW's delay is 1 at any depth and costs a small factor over synchronous training;
* delay compensation (weight prediction, error feedback) narrows that gap.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from pipesim.convergence import Optimizer, Training, for_schedule, make_problem, run_stale

TARGET = 2.2  # nats per character on held-out text; the initial loss is ln(26) = 3.26
SEEDS = (0, 1)


@cache
def _problem():
    return make_problem("charlm")


@cache  # several tests share a baseline
def _iterations(schedule: str, p: int, lr: float, budget: int, compensation: str = "none") -> float:
    pattern = for_schedule(schedule, p, 8, budget)
    training = Training(Optimizer("adam", lr), microbatch_size=8, compensation=compensation, stop_below=TARGET)
    its = [run_stale(_problem(), pattern, training, seed).iterations_to(TARGET) for seed in SEEDS]
    assert None not in its, f"{schedule} p={p} lr={lr} missed the target within {budget} iterations"
    return float(np.mean(its))  # type: ignore[arg-type]


def test_pipedream_iterations_grow_with_stages():
    its = [_iterations("pipedream", p, 0.02, 80) for p in (2, 4, 8)]
    assert its[0] < its[1] < its[2]


def test_2bw_stays_within_a_small_factor_of_synchronous():
    sync = _iterations("1f1b", 4, 0.005, 100)
    assert sync < _iterations("pipedream-2bw", 4, 0.005, 100) <= 1.5 * sync
    # and no worse with depth: every stage of every depth replays the same delay-1 pattern
    shallow, deep = for_schedule("pipedream-2bw", 2, 8, 100), for_schedule("pipedream-2bw", 8, 8, 100)
    assert all(np.array_equal(deep.forward[s], shallow.forward[0]) for s in range(8))
    assert all(np.array_equal(deep.update[s], shallow.update[0]) for s in range(8))


@pytest.mark.parametrize("compensation", ["predict", "feedback"])
def test_delay_compensation_narrows_the_2bw_gap(compensation):
    sync = _iterations("1f1b", 4, 0.01, 100)
    plain = _iterations("pipedream-2bw", 4, 0.01, 100)
    fixed = _iterations("pipedream-2bw", 4, 0.01, 100, compensation)
    assert sync < fixed < plain
    assert fixed - sync <= 0.6 * (plain - sync)
