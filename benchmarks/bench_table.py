"""The table level end to end against its bare evaluation loop.

Run: python benchmarks/bench_table.py [--repeat 9] [--clock wall|cpu] [--fresh N]

For each case (scenarios/paper_costs.yaml with the overrides below), each repeat times

  (b) the whole table path: ``pipesim.runner.run_built(built, "table")`` -- compile (columns,
      structure check, dependencies, durations, activation memory), the deadlock check (an
      order guessed and checked with numpy, ``pipesim.schedule.presort``, else the walk that
      times the actions), the timing loop and the metrics; no trace;
  (a) then the bare evaluation loop, ``pipesim.ideal.run_table``, over the very program (b)
      compiled and validated: the loop over its order computing every start and end time.

and (a0), the loop over a program compiled once before the repeats. The target (<= 2 on 1F1B
p=64, m=512) is judged strictly, best (b) over best (a0) ("b/a0"), and the median of the
paired ratios (b) / (a) is printed beside it. (a) and (a0) used to differ by a fifth: the loop
read lists of ints made while compiling, scattered in memory when made between runs; it now
reads memoryviews (``pipesim.schedule.deps.loop_view``), and the two agree. The garbage
collector runs before each timing. ``--clock cpu`` counts this process's CPU time instead of
wall time: steadier on a shared machine (all of it runs in one thread).

``--fresh N`` measures as ``pipesim run`` meets it instead: N new Python processes per case
each time one (b), and N others one (a) over a program they compiled first; the best of each.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
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


def once(case: int, what: str, clock: Callable[[], float]) -> float:
    """One (b) or one (a) in this process, which has run nothing else."""
    built = build(load_scenario(SCENARIO, CASES[case][1]))
    if what == "b":
        return timed(partial(run_built, built, "table", trace=False), clock)
    return timed(partial(run_table, compile_schedule(built.schedule, built.costs)), clock)


def fresh(runs: int, clock_name: str) -> None:
    print(f"{'case':<6} {'(a) loop, new process':>22} {'(b) table path, new process':>28} {'b/a':>6}")
    for case, (name, _) in enumerate(CASES):
        best = {}
        for what in ("a", "b"):
            cmd = [sys.executable, __file__, "--clock", clock_name, "--once", f"{case}:{what}"]
            best[what] = min(float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                             for _ in range(runs))
        print(f"{name:<6} {best['a'] * 1e3:>20.1f}ms {best['b'] * 1e3:>26.1f}ms {best['b'] / best['a']:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--fresh", type=int, default=0, metavar="N")
    parser.add_argument("--once", help=argparse.SUPPRESS)
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    if args.once:
        case, what = args.once.split(":")
        print(once(int(case), what, clock))
        return
    if args.fresh:
        fresh(args.fresh, args.clock)
        return
    print(f"{'case':<6} {'p':>3} {'m':>4} {'actions':>8} {'(a) loop':>9} {'(a0) loop':>10} {'(b) table path':>15} "
          f"{'b/a0':>6} {'paired b/a':>11} {'actions/s (b)':>14}")
    for name, overrides in CASES:
        built = build(load_scenario(SCENARIO, overrides))
        early = compile_schedule(built.schedule, built.costs)  # validated: has its order
        loops, early_loops, wholes, ratios = [], [], [], []
        for _ in range(args.repeat):
            gc.collect()
            t0 = clock()
            outcome = run_built(built, "table", trace=False)
            whole = clock() - t0
            loop = timed(partial(run_table, outcome.result.compiled), clock)
            del outcome
            early_loops.append(timed(partial(run_table, early), clock))
            loops.append(loop)
            wholes.append(whole)
            ratios.append(whole / loop)
        s, n = built.schedule, built.schedule.num_actions
        a, a0, b = min(loops), min(early_loops), min(wholes)
        print(f"{name:<6} {s.num_devices:>3} {s.num_microbatches:>4} {n:>8} {a * 1e3:>7.1f}ms {a0 * 1e3:>8.1f}ms "
              f"{b * 1e3:>13.1f}ms {b / a0:>6.2f} {statistics.median(ratios):>11.2f} {n / b:>14,.0f}")


if __name__ == "__main__":
    main()
