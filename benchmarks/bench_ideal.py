"""Table-level throughput in actions per second.

Run: python benchmarks/bench_ideal.py
Times generation, validation (structure + dependency dry run) and evaluation separately, best
of a few repeats, so a regression in any one of them shows.
"""

from __future__ import annotations

import time

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule.registry import Registry
from pipesim.schedule.validate import validate

CASES = (("1f1b", 64, 1024, {}), ("zb-v", 32, 512, {}))


def best_of(repeats: int, fn):
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    registry = Registry.default()
    print(f"{'schedule':<10} {'p':>4} {'m':>5} {'actions':>9} {'generate':>10} {'validate':>10} {'evaluate':>10} "
          f"{'actions/s (eval)':>17} {'actions/s (all)':>16}")
    for name, p, m, opts in CASES:
        t_gen, sched = best_of(3, lambda name=name, p=p, m=m, opts=opts: registry.generate(name, p, m, **opts))
        costs = Costs.make(sched.num_stages)
        t_val, prog = best_of(3, lambda sched=sched: validate(sched))
        t_eval, result = best_of(3, lambda sched=sched, prog=prog, costs=costs: evaluate(sched, costs, program=prog))
        n = sched.num_actions
        total = t_gen + t_val + t_eval
        print(f"{name:<10} {p:>4} {m:>5} {n:>9} {t_gen:>9.3f}s {t_val:>9.3f}s {t_eval:>9.3f}s "
              f"{n / t_eval:>17,.0f} {n / total:>16,.0f}")
        del result


if __name__ == "__main__":
    main()
