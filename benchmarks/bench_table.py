"""The table level end to end against its bare evaluation loop.

Run: python benchmarks/bench_table.py [--repeat 5] [--clock wall|cpu]

For each case (scenarios/paper_costs.yaml with the overrides below) it times

  (a) the bare evaluation loop: ``pipesim.ideal.run_table`` on a program already compiled and
      validated -- the loop over the program's order computing every start and end time;
  (b) the whole table path: ``pipesim.runner.run_built(built, "table")`` -- compile (columns,
      structure check, dependencies, durations, activation memory), the deadlock dry run (at
      the table level the same walk that times the actions) and the metrics; no trace.

Each figure is the best of ``--repeat`` runs, with the garbage collector run before each, and
(a) and (b) alternate so that both see the same machine conditions. ``--clock cpu`` counts this
process's CPU time instead of wall time: steadier on a shared machine (all of it runs in one
thread). The target is (b) <= 2 x (a) on 1F1B p=64, m=512.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pipesim.ideal import run_table
from pipesim.runner import run_built
from pipesim.scenario import build, load_scenario
from pipesim.timeline import compile_schedule

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "paper_costs.yaml"
CASES = (
    ("1f1b", ["parallel.pp=64", "parallel.microbatches=512", "topology.gpus=64"]),
    ("zb-v", ["schedule.name=zb-v", "parallel.pp=32", "parallel.microbatches=512", "topology.gpus=32"]),
)


def timed(fn: Callable[[], object], clock: Callable[[], float]) -> float:
    gc.collect()
    t0 = clock()
    fn()
    return clock() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"{'case':<6} {'p':>3} {'m':>4} {'actions':>8} {'(a) loop':>10} {'(b) table path':>15} {'b/a':>6} "
          f"{'actions/s (a)':>14} {'actions/s (b)':>14}")
    for name, overrides in CASES:
        built = build(load_scenario(SCENARIO, overrides))
        compiled = compile_schedule(built.schedule, built.costs)  # validated: has its order
        loop = whole = float("inf")
        for _ in range(args.repeat):
            loop = min(loop, timed(partial(run_table, compiled), clock))
            whole = min(whole, timed(partial(run_built, built, "table"), clock))
        s, n = built.schedule, built.schedule.num_actions
        print(f"{name:<6} {s.num_devices:>3} {s.num_microbatches:>4} {n:>8} {loop:>9.4f}s {whole:>14.4f}s "
              f"{whole / loop:>6.2f} {n / loop:>14,.0f} {n / whole:>14,.0f}")


if __name__ == "__main__":
    main()
