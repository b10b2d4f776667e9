"""Simulation-level speed against SimPy's own floor.

Run: python benchmarks/bench_engine.py [--p 64] [--m 512] [--repeat 5]
1F1B on 8 nodes x 8 GPUs (NVLink inside a node, InfiniBand NDR between nodes), GPT-3 1.3B-class
message sizes. Reports wall time, SimPy events processed, and the wall time SimPy needs to
process the same number of bare timeout events in one process -- the floor any SimPy model
pays. The target is <= 3x that floor. Each run is followed at once by its floor, so a pair sees
the same machine conditions; the report gives the best of each and the median ratio of the pairs
(on a shared machine single timings vary by 10-20 %).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import simpy

from pipesim.costs import Costs
from pipesim.network import cluster
from pipesim.schedule.registry import Registry
from pipesim.sim.engine import Simulation


def events_scheduled(env: simpy.Environment) -> int:
    """Events SimPy has scheduled so far, read from its own event-id counter.

    SimPy numbers every scheduled event with ``next(env._eid)`` (ties in its heap); reading the
    counter once after the run costs nothing, whereas overriding ``schedule`` to count would
    slow the very loop being measured.
    """
    return next(env._eid)


class TimedEnvironment(simpy.Environment):
    """Times ``run`` (the event loop) without touching ``step``, so the loop is not slowed."""

    loop_time = 0.0

    def run(self, until=None):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return super().run(until)
        finally:
            self.loop_time = time.perf_counter() - t0


def bare_timeouts(n: int, processes: int = 1) -> float:
    """Wall time for SimPy to process ``n`` timeout events from ``processes`` processes, each
    yielding timeouts back to back (one process: the floor the target is set against; as many
    as the model has: the same floor with a realistically deep event queue)."""
    env = simpy.Environment()

    def proc(count: int, period: float):  # type: ignore[no-untyped-def]
        for _ in range(count):
            yield env.timeout(period)

    for i in range(processes):
        # Distinct periods interleave the processes as a real model's do.
        env.process(proc(n // processes + (i < n % processes), 1e-6 * (1.0 + i / processes)))
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=64)
    ap.add_argument("--m", type=int, default=512)
    ap.add_argument("--schedule", default="1f1b")
    ap.add_argument("--repeat", type=int, default=5, help="run/floor pairs to measure")
    args = ap.parse_args()
    sched = Registry.default().generate(args.schedule, args.p, args.m)
    # ~10 ms forwards, 8 MiB boundary messages (GPT-3 1.3B, b=1, s=2048, bf16)
    costs = Costs.make(sched.num_stages, F=10e-3, B=20e-3, message_bytes=8 * 2**20)
    nodes = max(1, args.p // 8)
    topo = cluster(nodes, 8, intra="nvlink4", inter="ib-ndr")
    builds, runs, loops, floors, records = [], [], [], [], []
    for _ in range(max(1, args.repeat)):
        # Start every pair from a clean heap: the previous simulation is garbage now, and without
        # this its cycles would be collected inside (and slow down) the next measured phase.
        sim = result = None
        gc.collect()
        t0 = time.perf_counter()
        sim = Simulation(sched, costs, topo, env_factory=TimedEnvironment)
        builds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = sim.run()
        runs.append(time.perf_counter() - t0)
        loops.append(sim.env.loop_time)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        _ = sim.trace.spans  # link and compute spans, messages, memory samples: built on first read
        records.append(time.perf_counter() - t0)
        # The floor right after each run, so that each pair sees the same machine conditions.
        floors.append(bare_timeouts(events_scheduled(sim.env)))
    events = events_scheduled(sim.env)
    processes = sched.num_devices + sum(hasattr(link, "process") for link in sim.network.links)
    deep = min(bare_timeouts(events, processes) for _ in range(max(1, args.repeat) // 2 + 1))
    ratios = sorted(r / f for r, f in zip(runs, floors, strict=True))
    print(f"schedule {args.schedule}, p={args.p}, m={args.m}, {sched.num_actions} actions, "
          f"{len(sim.trace.messages)} messages, makespan {result.makespan:.4f} s (simulated)")
    print(f"build (validate + prepare): {min(builds):.3f} s")
    print(f"run: {min(runs):.3f} s wall (event loop {min(loops):.3f} s, the rest setup and trace assembly), "
          f"{events:,} SimPy events, {events / min(runs):,.0f} events/s")
    print(f"trace: {min(records):.3f} s more on first read (spans for every action and link crossing, message and "
          f"memory records; not part of run)")
    print(f"floor: {min(floors):.3f} s for {events:,} bare timeouts")
    print(f"run / floor: {min(runs) / min(floors):.2f}x best against best; per run/floor pair: "
          f"median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}x (target <= 3x)")
    print(f"context: {deep:.3f} s for the same timeouts from {processes} processes (a queue as deep as the "
          f"model's) -> run / that = {min(runs) / deep:.2f}x")
    print(f"({len(runs)} runs: {', '.join(f'{t:.3f}' for t in runs)} s)")

if __name__ == "__main__":
    main()
