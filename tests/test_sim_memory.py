"""Metrics-only simulations keep no per-transfer records and still report the same numbers.

The references: the builtin ``sum`` for the links' running delay sums, the full trace's
per-transfer spans for the per-link queueing statistics, and a recording run for every metric.
"""

import math
import random
from pathlib import Path

import pytest

from pipesim.costs import Costs
from pipesim.network import cluster
from pipesim.runner import run_built
from pipesim.scenario import build, load_scenario
from pipesim.schedule.registry import Registry
from pipesim.sim.engine import SimOptions, Simulation
from pipesim.sim.runsum import running_sum, sum_result

ROOT = Path(__file__).resolve().parents[1]


def _values(rng: random.Random, n: int) -> list[float]:
    """Floats over twenty orders of magnitude, both signs, exact zeros and cancellations."""
    out = []
    for _ in range(n):
        pick = rng.random()
        if pick < 0.15:
            out.append(0.0)
        elif pick < 0.25:
            big = rng.choice((1e16, 3.3e15, 1e20))
            out.extend((big, rng.uniform(0, 3), -big))
        else:
            out.append(rng.choice((1, -1)) * rng.uniform(0, 1) * 10.0 ** rng.randint(-12, 9))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_running_sum_ends_equal_to_the_builtin_sum(seed):
    rng = random.Random(seed)
    values = _values(rng, rng.randint(0, 300))
    if seed % 10 == 0:
        values.insert(rng.randint(0, len(values)), math.inf)  # an infinite sum stays infinite
    total, comp = 0.0, 0.0
    for x in values:
        total, comp = running_sum(total, comp, x)
    assert repr(sum_result(total, comp)) == repr(sum(values))


OPTIONS = [
    SimOptions(),
    SimOptions(policy="fifo"),
    SimOptions(chunking="1 MiB"),
    SimOptions(policy="fifo", chunking="1 MiB"),
    SimOptions(overhead=5e-6, blocking_send=True),
    SimOptions(dp=2, grad_sync="blocking"),
    SimOptions(dp=2, chunking="512 KiB"),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: f"{o.policy}-{o.chunking}-dp{o.dp}-b{o.blocking_send}")
@pytest.mark.parametrize("schedule", ["1f1b", "chimera", "zb-h1", "interleaved"])
def test_a_run_without_records_reports_the_same_metrics(schedule, opts):
    sched = Registry.default().generate(schedule, 4, 8)
    # Fractional sizes make float sums depend on the order of additions.
    costs = Costs.make(sched.num_stages, F=1e-3, B=2e-3, message_bytes=3e6 + 1 / 3, param_bytes=1e8 / 3)
    topo = cluster(2, 8, inter="eth25")
    recorded = Simulation(sched, costs, topo, opts).run()
    bare = Simulation(sched, costs, topo, SimOptions(**{**vars(opts), "record_links": False})).run()
    assert bare.simulation.network.log is None
    assert bare.metrics() == recorded.metrics()
    assert list(bare.start[0]) == list(recorded.start[0]) and list(bare.end[-1]) == list(recorded.end[-1])
    # The links' summaries equal the statistics of the per-transfer spans a trace holds.
    spans: dict[str, list[float]] = {}
    for s in recorded.trace.spans:
        if s.kind == "xfer":
            spans.setdefault(s.track, []).append(s.queued)
    rows = {"link:" + row["name"]: row for row in recorded.simulation.network.link_stats()}
    assert spans
    for track, delays in spans.items():
        row = rows[track]
        assert row["transfers"] == len(delays)
        assert row["mean_queueing_delay"] == sum(delays) / len(delays)
        assert row["max_queueing_delay"] == max(delays)


def test_a_metrics_only_outcome_refuses_to_make_up_a_trace():
    built = build(load_scenario(ROOT / "scenarios" / "quickstart.yaml", []))
    full = run_built(built, "sim")
    bare = run_built(built, "sim", trace=False)
    assert bare.metrics == full.metrics
    assert full.trace.spans
    with pytest.raises(ValueError, match="kept no trace"):
        _ = bare.trace
    # The table level computes its trace from its times: it has one either way.
    assert run_built(built, "table", trace=False).trace.spans


@pytest.mark.parametrize(("schedule", "dp"), [("1f1b", 1), ("1f1b", 2), ("zb-h1", 2), ("interleaved", 1)])
def test_a_metrics_only_run_builds_no_action_objects(schedule, dp):
    # These generators hand over integer columns; the simulation and its metrics read columns,
    # so a long metrics-only run never holds an ``Action`` per action.
    sched = Registry.default().generate(schedule, 4, 8)
    costs = Costs.make(sched.num_stages, F=1e-3, B=2e-3, message_bytes=1e6, param_bytes=1e7)
    res = Simulation(sched, costs, cluster(2, 8, inter="eth25"), SimOptions(dp=dp, record_links=False)).run()
    assert res.metrics()["makespan"] > 0
    assert sched.plain_order is not None and sched._actions is None
    assert "actions" not in vars(res.compiled.program.columns)
