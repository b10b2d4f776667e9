"""Does the simulation's cost per action stay flat as the pipeline gets deeper?

Run: python benchmarks/bench_scaling.py [--actions 32768] [--repeat 3] [--clock wall|cpu]
1F1B with the same number of actions (2 p m) at p = 16 and p = 256, on two networks: the
bench_engine cluster (8 GPUs per node, NVLink inside, InfiniBand NDR between) and a chain of
p hosts joined by one WAN link each. Prints wall time per action (the best of ``--repeat``
runs, trace not built; ``--record`` keeps the link records) and the ratio of p = 256 to p = 16; the target is <= 1.3x.
``--clock cpu`` counts this process's CPU time instead of wall time: on a shared machine other
processes' load then stretches both depths alike instead of whichever ran during a burst.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from pipesim.costs import Costs
from pipesim.network import Topology, cluster, wan_chain
from pipesim.schedule.registry import Registry
from pipesim.sim.engine import SimOptions, Simulation


def per_action(p: int, actions: int, topo: Topology, repeat: int, record: bool, clock: Callable[[], float]) -> float:
    m = actions // (2 * p)
    sched = Registry.default().generate("1f1b", p, m)
    costs = Costs.make(p, F=10e-3, B=20e-3, message_bytes=8 * 2**20)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = clock()
        Simulation(sched, costs, topo, SimOptions(record_links=record)).run()
        best = min(best, clock() - t0)
    return best / sched.num_actions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=32768)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--record", action="store_true", help="keep link records, as a run that draws a trace does")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    nets = {"cluster": lambda p: cluster(max(1, p // 8), 8, intra="nvlink4", inter="ib-ndr"),
            "chain": lambda p: wan_chain(p, "wan")}
    for name, make in nets.items():
        cost = {p: per_action(p, args.actions, make(p), args.repeat, args.record, clock) for p in (16, 256)}
        print(f"{name}: {args.actions} actions, per action p=16 {1e6 * cost[16]:.1f} us, "
              f"p=256 {1e6 * cost[256]:.1f} us, ratio {cost[256] / cost[16]:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
