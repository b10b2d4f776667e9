"""The warm-up that races the first gradient up a chain: against a brute force over every
warm-up length, timed by the table level, and as the list scheduler carries it out."""

from __future__ import annotations

import itertools
import math

import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule.registry import Registry
from pipesim.search.construct import Rule, list_order
from pipesim.search.problem import activation_limit, build_problem
from pipesim.search.race import race_warmup
from pipesim.search.timing import Timer, peaks

REGISTRY = Registry.default()


def _problem(p, m, delay):
    layout = REGISTRY.generate("1f1b", p, m).layout
    # Uneven stages, so that the devices' forwards do not line up with the gradient's arrivals.
    costs = Costs.make(p, F=[1.0 + 0.37 * s for s in range(p)], I=[1.3 - 0.11 * s for s in range(p)],
                       W=[0.6] * p)
    return build_problem(layout, costs, split_backward=True, message_delay=delay, edge_delay=None), costs


def _worst_idle(problem, costs, delay, warmup):
    """Worst idle before the first backward over the devices when device d runs warmup[d]
    forwards, then microbatch 0's backward, then the rest; None if that order deadlocks."""
    p, m = problem.num_devices, problem.layout.num_microbatches
    rows = []
    for d in range(p):
        fs = [problem.f_id[(d, k)] for k in range(m)]
        gs = [problem.g_id[(d, k)] for k in range(m)]
        ws = [problem.w_id[(d, k)] for k in range(m)]
        rows.append(fs[: warmup[d]] + gs[:1] + fs[warmup[d]:] + gs[1:] + ws)
    if not Timer(problem).time(rows):
        return None
    ref = evaluate(problem.schedule(rows), costs, message_delay=delay)
    ids = {a: g for g, a in enumerate(ref.program.actions)}
    worst = 0.0
    for d, row in enumerate(rows):
        first = ref.start[ids[problem.action(row[0])]]
        backward = ref.start[ids[problem.action(row[warmup[d]])]]
        worst = max(worst, backward - first - warmup[d] * costs.forward[d])
    return worst


@pytest.mark.parametrize("p,m,units,delay", [(3, 7, 4, 0.3), (4, 6, 5, 0.15), (4, 6, math.inf, 0.4), (5, 5, 3, 0.0)])
def test_race_warmup_minimises_the_worst_idle_of_any_warmup(p, m, units, delay):
    problem, costs = _problem(p, m, delay)
    limit = [units] * p
    got = race_warmup(problem, limit)
    assert got is not None and got[-1] == 1 and all(1 <= k <= min(m, units) for k in got)
    best = math.inf
    top = min(m, units)
    for head in itertools.product(range(1, top + 1), repeat=p - 1):
        value = _worst_idle(problem, costs, delay, (*head, 1))
        if value is not None:
            best = min(best, value)
    assert _worst_idle(problem, costs, delay, got) == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("p,m,k", [(4, 12, 2), (6, 20, 2), (6, 20, 1), (8, 24, 2)])
def test_list_scheduler_runs_the_race_warmup(p, m, k):
    problem, costs = _problem(p, m, 0.2)
    limit = activation_limit(problem.layout, costs, k * p)
    warmup = race_warmup(problem, limit)
    assert warmup is not None
    orders = list_order(problem, Rule(2.0, 0.0, 0.0, True, warmup), limit)
    assert orders is not None
    for d, row in enumerate(orders):
        kinds = [problem.kind[g] for g in row]
        assert kinds.index(2) == warmup[d]  # that many forwards (kind 0) before the first I (kind 2)
        assert set(kinds[: warmup[d]]) == {0}
    assert all(x <= y for x, y in zip(peaks(problem, orders), limit, strict=True))
    assert Timer(problem).time(orders)


def test_race_warmup_only_for_chains():
    v = REGISTRY.generate("zb-v", 4, 8)
    costs = Costs.make(v.num_stages)
    problem = build_problem(v.layout, costs, split_backward=True, message_delay=0.0, edge_delay=None)
    assert race_warmup(problem, [math.inf] * 4) is None
