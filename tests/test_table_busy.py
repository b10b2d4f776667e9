"""Table-level busy time is each device's summed durations, added in list order.

A device that never waits then has a busy time equal to its own span, bit for bit, so no
bubble ratio can come out below zero by rounding (a pairwise sum can land a few ulp above).
"""

from __future__ import annotations

import random

import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.plan import generate


@pytest.mark.parametrize("name", ["gpipe", "1f1b", "zb-h1"])
@pytest.mark.parametrize("seed", range(40))
def test_no_bubble_ratio_below_zero(name, seed):
    rnd = random.Random(seed)
    p, m = rnd.choice([1, 2]), rnd.randint(1, 9)
    s = generate(name, p, m)
    costs = Costs.make(s.num_stages, F=[rnd.choice([0.1, 0.7, 1.3, 2.9]) for _ in range(s.num_stages)],
                       B=[rnd.choice([0.2, 0.3, 1.1]) for _ in range(s.num_stages)],
                       I=[rnd.choice([0.1, 0.3]) for _ in range(s.num_stages)],
                       W=[rnd.choice([0.1, 0.2]) for _ in range(s.num_stages)])
    r = evaluate(s, costs)
    assert r.bubble_ratio >= 0.0 and r.span_bubble_ratio >= 0.0


def test_a_device_that_never_waits_has_no_bubble():
    r = evaluate(generate("gpipe", 1, 7), Costs.make(1, F=1.3, B=0.2))
    assert r.busy == [r.makespan] and r.bubble_ratio == 0.0 and r.span_bubble_ratio == 0.0
