"""Simulation-level speed against SimPy's own floor.

Run: python benchmarks/bench_engine.py [--p 64] [--m 512]
1F1B on 8 nodes x 8 GPUs (NVLink inside a node, InfiniBand NDR between nodes), GPT-3 1.3B-class
message sizes. Reports wall time, SimPy events processed, and the wall time SimPy needs to
process the same number of bare timeout events in one process -- the floor any SimPy model
pays. The target is <= 3x that floor.
"""

from __future__ import annotations

import argparse
import time

import simpy

from pipesim.costs import Costs
from pipesim.network.topology import cluster
from pipesim.schedule.registry import Registry
from pipesim.sim.engine import Simulation


def events_scheduled(env: simpy.Environment) -> int:
    """Events SimPy has scheduled so far, read from its own event-id counter.

    SimPy numbers every scheduled event with ``next(env._eid)`` (ties in its heap); reading the
    counter once after the run costs nothing, whereas overriding ``schedule`` to count would
    slow the very loop being measured.
    """
    return next(env._eid)


def bare_timeouts(n: int) -> float:
    """Wall time for SimPy to process ``n`` timeout events (one process, back to back)."""
    env = simpy.Environment()

    def proc():  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield env.timeout(1e-6)

    env.process(proc())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=64)
    ap.add_argument("--m", type=int, default=512)
    ap.add_argument("--schedule", default="1f1b")
    args = ap.parse_args()
    sched = Registry.default().generate(args.schedule, args.p, args.m)
    # ~10 ms forwards, 8 MiB boundary messages (GPT-3 1.3B, b=1, s=2048, bf16)
    costs = Costs.make(sched.num_stages, F=10e-3, B=20e-3, message_bytes=8 * 2**20)
    nodes = max(1, args.p // 8)
    topo = cluster(nodes, 8, intra="nvlink4", inter="ib-ndr")
    t0 = time.perf_counter()
    sim = Simulation(sched, costs, topo)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = sim.run()
    t_run = time.perf_counter() - t0
    events = events_scheduled(sim.env)
    floor = bare_timeouts(events)
    print(f"schedule {args.schedule}, p={args.p}, m={args.m}, {sched.num_actions} actions, "
          f"{len(sim.trace.messages)} messages, makespan {result.makespan:.4f} s (simulated)")
    print(f"build (validate + prepare): {t_build:.3f} s")
    print(f"run: {t_run:.3f} s wall, {events:,} SimPy events, {events / t_run:,.0f} events/s")
    print(f"floor: {floor:.3f} s for {events:,} bare timeouts -> run / floor = {t_run / floor:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
