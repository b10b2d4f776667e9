"""Order search: candidates per second of the inner loop, and the Zero Bubble paper's Table 5.

Run: python benchmarks/bench_search.py [--seconds 60] [--only-speed]

Part 1 times one candidate order of a ~1,000- and a ~25,000-action program three ways: the
table level's ``evaluate`` (validates and compiles every time), the search's full re-timing
(``Timer.time``) and its incremental re-timing from a random position of one device's list
(``Timer.retime``, what a local-search move costs).

Part 2 runs ``search_order`` on the paper's twelve configurations (Table 9 per-stage times,
every message charged T_comm) under its 1p and 2p activation limits with the span objective,
and compares the bubble rate 1 - m(T_F+T_B+T_W)/cost (cost: the longest device's own span)
with the paper's ZB-1p and ZB-2p (Table 5). Source: Qi et al., "Zero Bubble Pipeline
Parallelism", ICLR 2024; the numbers are in docs/reference.md.
"""

from __future__ import annotations

import argparse
import random
import time

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule.registry import Registry
from pipesim.search import search_order
from pipesim.search.problem import activation_limit, build_problem
from pipesim.search.timing import Timer

# (model, p, m, T_F, T_B (= I), T_W, T_comm, ZB-1p, ZB-2p): Tables 9 and 5 of the paper.
TABLE5 = (
    ("1.5B", 8, 24, 18.522, 18.086, 9.337, 0.601, 0.1585, 0.0433),
    ("1.5B", 8, 32, 18.513, 18.086, 9.331, 0.626, 0.1242, 0.0039),
    ("1.5B", 8, 64, 18.546, 18.097, 9.321, 0.762, 0.0674, 0.0026),
    ("6.2B", 8, 24, 29.718, 29.444, 19.927, 0.527, 0.1323, 0.0029),
    ("6.2B", 8, 32, 29.802, 29.428, 19.530, 0.577, 0.1045, 0.0022),
    ("6.2B", 8, 64, 29.935, 29.621, 19.388, 0.535, 0.0554, 0.0010),
    ("14.6B", 16, 48, 11.347, 11.248, 8.132, 0.377, 0.1397, 0.0066),
    ("14.6B", 16, 64, 11.307, 11.254, 8.101, 0.379, 0.1088, 0.0054),
    ("14.6B", 16, 128, 11.325, 11.308, 8.109, 0.378, 0.0576, 0.0028),
    ("28.3B", 32, 96, 10.419, 10.207, 7.715, 0.408, 0.1421, 0.0038),
    ("28.3B", 32, 128, 10.408, 10.204, 7.703, 0.408, 0.1106, 0.0029),
    ("28.3B", 32, 256, 10.402, 10.248, 7.698, 0.460, 0.0594, 0.0018),
)


def speed() -> None:
    registry = Registry.default()
    print(f"{'program':<18} {'actions':>8} {'evaluate':>12} {'full re-time':>13} {'incremental':>12} {'candidates/s':>13}")
    for p, m in ((8, 42), (32, 256)):
        sched = registry.generate("zb-h2", p, m)
        costs = Costs.make(p, F=10.4, I=10.2, W=7.7)
        t0 = time.perf_counter()
        evaluate(sched, costs, message_delay=0.4)
        t_eval = time.perf_counter() - t0
        prob = build_problem(sched.layout, costs, split_backward=True, message_delay=0.4, edge_delay=None)
        orders = prob.orders_of(sched, "benchmark")
        timer = Timer(prob)
        reps = 50 if p == 8 else 5
        t0 = time.perf_counter()
        for _ in range(reps):
            timer.time(orders)
        t_full = (time.perf_counter() - t0) / reps
        rng = random.Random(0)
        moves = 500 if p == 8 else 50
        t0 = time.perf_counter()
        for _ in range(moves):
            d = rng.randrange(p)
            timer.retime(d, rng.randrange(len(orders[d])), orders[d])
        t_inc = (time.perf_counter() - t0) / moves
        print(f"zb-h2 p={p} m={m:<6} {prob.size:>8} {t_eval * 1e3:>10.2f}ms {t_full * 1e3:>11.3f}ms "
              f"{t_inc * 1e3:>10.3f}ms {1 / t_inc:>13.0f}")


def table5(seconds: float) -> None:
    registry = Registry.default()
    print(f"\nZero Bubble Table 5 under the paper's limits ({seconds:g} s per search, objective: longest own span)")
    print(f"{'model':<6} {'p':>3} {'m':>4} {'limit':>5} {'actions':>8} {'paper':>7} {'search':>7} {'':>5} "
          f"{'evals':>7} {'secs':>6}  source")
    missed = []
    for model, p, m, tf, tb, tw, tc, zb1, zb2 in TABLE5:
        costs = Costs.make(p, F=tf, I=tb, W=tw)
        layout = registry.generate("1f1b", p, m).layout
        for k, paper in ((1, zb1), (2, zb2)):
            t0 = time.perf_counter()
            res = search_order(layout, costs, split_backward=True, message_delay=tc,
                               memory_limit=activation_limit(layout, costs, k * p), max_seconds=seconds,
                               objective="span")
            secs = time.perf_counter() - t0
            rate = 1.0 - m * (tf + tb + tw) / res.span
            ok = rate <= paper + 5e-5  # the paper prints four decimals
            if not ok:
                missed.append(f"{model} m={m} {k}p: {rate:.4f} vs {paper:.4f}")
            print(f"{model:<6} {p:>3} {m:>4} {k:>4}p {res.schedule.num_actions:>8} {paper:>7.4f} {rate:>7.4f} "
                  f"{'ok' if ok else 'MISS':>5} {res.evaluations:>7} {secs:>6.1f}  {res.source}")
    print(f"\nreached {24 - len(missed)} of 24" + ("; missed: " + "; ".join(missed) if missed else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget of each Table 5 search")
    parser.add_argument("--only-speed", action="store_true", help="skip the Table 5 searches")
    args = parser.parse_args()
    speed()
    if not args.only_speed:
        table5(args.seconds)


if __name__ == "__main__":
    main()
