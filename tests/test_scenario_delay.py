"""The message delay a scenario hands to cost-aware generators and the REDUCE_GRAD pass."""

from __future__ import annotations

import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.plan import generate, insert_reduce_grads
from pipesim.scenario import build, load_scenario


def chain(p: int, schedule: dict, *, bandwidth: str = "1 GB/s", latency: str = "1 ms") -> dict:
    """p GPUs in a line (g0 - g1 - ... ), every hop ``bandwidth`` and ``latency``; 4 MB messages."""
    devices = [f"g{i}" for i in range(p)]
    links = [{"a": devices[i], "b": devices[i + 1], "bandwidth": bandwidth, "latency": latency}
             for i in range(p - 1)]
    return {
        "name": "delay",
        "costs": {"per": "device", "F": 1.0, "B": 2.0, "message_bytes": 4e6},
        "topology": {"kind": "graph", "devices": devices, "links": links},
        "parallel": {"pp": p, "microbatches": 2 * p},
        "schedule": schedule,
    }


def test_delay_is_the_mean_lone_message_time_over_boundaries():
    # Hanayo on a 4-GPU line: its V route crosses g0-g1, g1-g2, g2-g3 down and back up; every
    # crossing is one hop of 4 MB at 1 GB/s plus 1 ms: 5 ms each way, so the mean is 5 ms.
    built = build(load_scenario(chain(4, {"name": "hanayo"})))
    assert built.message_delay == pytest.approx(4e6 / 1e9 + 1e-3)
    # With the devices placed g0, g2, g1, g3 the boundaries are 2, 1 and 2 hops long (both ways).
    sc = chain(4, {"name": "hanayo"})
    sc["parallel"]["placement"] = [0, 2, 1, 3]
    built = build(load_scenario(sc))
    hop = 4e6 / 1e9
    assert built.message_delay == pytest.approx((2 * (hop + 2e-3) + (hop + 1e-3)) / 3)
    assert built.describe()["network"]["order_message_delay"] == built.message_delay


def test_free_network_means_no_delay():
    sc = chain(4, {"name": "hanayo"})
    del sc["topology"]
    assert build(load_scenario(sc)).message_delay == 0.0


@pytest.mark.parametrize("schedule,m", [
    ({"name": "hanayo"}, 4),
    ({"name": "hanayo", "options": {"waves": 2}}, 4),
    ({"name": "chimera", "options": {"up_placement": "shift=2"}}, 8),
])
def test_slow_network_changes_the_order_and_it_is_no_slower_at_that_delay(schedule, m):
    # 0.4 s per message against F = 1 s per device share (a chunk: 0.5 s or less): the delay
    # matters. The scenario's order is built with it; the same generator at delay 0 is the control.
    sc = chain(4, schedule, bandwidth="0.01 GB/s", latency="0 s")
    sc["parallel"]["microbatches"] = m
    built = build(load_scenario(sc))
    delay = built.message_delay
    assert delay == pytest.approx(4e6 / 0.01e9)
    free = generate(schedule["name"], 4, m, costs=built.costs, **schedule.get("options", {}))
    plain = [[a for a in row if a.kind.name != "REDUCE_GRAD"] for row in built.schedule.actions]
    plain_free = [[a for a in row if a.kind.name != "REDUCE_GRAD"] for row in free.actions]
    assert plain != plain_free
    with_delay = evaluate(built.schedule, built.costs, message_delay=delay).makespan
    without = evaluate(free, built.costs, message_delay=delay).makespan
    assert with_delay <= without + 1e-12


def test_order_built_for_a_delay_is_never_slower_at_it():
    # The guarantee behind the rule (the delay-0 orders are among the candidates), over a grid.
    for name, opts in (("hanayo", {}), ("hanayo", {"waves": 2}), ("chimera", {"up_placement": "shift=2"})):
        for m in (4, 8):
            stages = 8 * opts.get("waves", 1) if name == "hanayo" else 8
            costs = Costs.make(stages, F=0.5, B=1.0)
            for delay in (0.05, 0.3, 1.0):
                fast = generate(name, 4, m, costs=costs, message_delay=delay, **opts)
                free = generate(name, 4, m, costs=costs, **opts)
                assert (evaluate(fast, costs, message_delay=delay).makespan
                        <= evaluate(free, costs, message_delay=delay).makespan + 1e-12), (name, opts, m, delay)


def test_reduce_grad_pass_takes_a_delay_but_scenarios_place_it_in_bubbles():
    # DualPipe's REDUCE_GRAD placement is timed: with slow messages the idle gaps move. The
    # scenario path places it on the order's own bubbles (no delay), whatever the network.
    costs = Costs.make(8, F=1.0, B=2.0, I=1.0, W=1.0)
    fast = generate("dualpipe", 4, 8, costs=costs)
    base = fast.with_actions([[a for a in row if a.kind.name != "REDUCE_GRAD"] for row in fast.actions])
    slow = insert_reduce_grads(base, costs, message_delay=3.0)

    def where(s):
        return [[i for i, a in enumerate(row) if a.kind.name == "REDUCE_GRAD"] for row in s.actions]

    assert where(insert_reduce_grads(base, costs)) == where(fast)
    assert where(slow) != where(fast)
    assert where(generate("dualpipe", 4, 8, costs=costs, message_delay=3.0)) == where(fast)
