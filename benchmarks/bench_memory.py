"""Peak memory and time of a metrics-only `pipesim run`, per action.

Run: python benchmarks/bench_memory.py [-p 256] [-m 4096] [--level sim]
Writes a 1F1B scenario (explicit costs, 8 MiB messages, p/8 nodes x 8 GPUs with NVLink inside
and InfiniBand NDR between, whole messages as flows, no Gantt, no trace), runs
``python -m pipesim run SCENARIO --no-files --json`` in a subprocess and reads the child's peak
resident set from ``resource.getrusage(RUSAGE_CHILDREN)``. A tiny run of the same scenario
(m = 1) gives the interpreter's own footprint, so the per-action figure is the growth. Prints
wall and CPU time (the child's user + system time: steadier than wall time on a shared
machine), peak memory, and both per action (2·p·m actions). Budgets are raised for the run,
since measuring them is the point.

Measured (2-core machine shared with other work, load average 5-6; the two versions back to
back): -p 256 -m 4096 peaks at 1,164 MiB, 553 B per action above the interpreter's 58 MiB,
24.4 us CPU (58.5 us wall) per action; the version before, which kept a record per message
and per link crossing, every arrival event and lists of float objects even with no trace to
build, peaked at 3,518 MiB, 1,730 B per action, 35.1 us CPU (63.0 us wall). Both report a
makespan of 131.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def scenario(p: int, m: int) -> dict[str, object]:
    return {
        "name": f"bench_1f1b_p{p}_m{m}",
        "costs": {"F": "10 ms", "B": "20 ms", "message_bytes": "8 MiB", "activation_bytes": "64 MiB"},
        "topology": {"kind": "cluster", "num_nodes": max(1, p // 8), "gpus_per_node": min(p, 8),
                     "intra": "nvlink4", "inter": "ib-ndr", "gpus_per_nic": 1},
        "network": {"chunk_bytes": "auto"},
        "parallel": {"pp": p, "microbatches": m},
        "schedule": "1f1b",
        "outputs": {"gantt": False, "trace": False},
        "limits": {"max_events": 10**9, "max_memory": "1 TiB"},
    }


def measure(p: int, m: int, level: str) -> tuple[float, float, float, dict[str, object]]:
    """(wall seconds, CPU seconds, peak RSS bytes, metrics) of one run in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(scenario(p, m)), encoding="utf-8")
        # A wrapper process per measurement: RUSAGE_CHILDREN is the peak over all children
        # so far, so each run gets a parent of its own.
        code = ("import resource, subprocess, sys, time\n"
                "t = time.perf_counter()\n"
                "out = subprocess.run([sys.executable, '-m', 'pipesim', 'run', sys.argv[1], '--no-files', '--json',"
                " '--level', sys.argv[2]], check=True, capture_output=True, text=True).stdout\n"
                "wall = time.perf_counter() - t\n"
                "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
                "print(wall, use.ru_maxrss * 1024, use.ru_utime + use.ru_stime)\nprint(out)\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", code, str(path), level], check=True, capture_output=True,
                              text=True, env=env)
        first, _, rest = done.stdout.partition("\n")
        wall, rss, cpu = (float(x) for x in first.split())
        return wall, cpu, rss, json.loads(rest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", type=int, default=256)
    ap.add_argument("-m", type=int, default=4096)
    ap.add_argument("--level", choices=("sim", "table"), default="sim")
    args = ap.parse_args()
    _, _, base_rss, _ = measure(args.p, 1, args.level)
    t0 = time.perf_counter()
    wall, cpu, rss, metrics = measure(args.p, args.m, args.level)
    actions = 2 * args.p * args.m
    print(f"1F1B p={args.p} m={args.m} ({actions:,} actions), {args.level} level, metrics only: "
          f"{wall:.1f} s ({cpu:.1f} s CPU), peak RSS {rss / 2**20:,.0f} MiB "
          f"(interpreter and imports {base_rss / 2**20:,.0f} MiB)")
    print(f"per action: {1e6 * wall / actions:.1f} us ({1e6 * cpu / actions:.1f} us CPU), "
          f"{(rss - base_rss) / actions:,.0f} B above the interpreter "
          f"({rss / actions:,.0f} B with it); makespan {metrics['makespan']:.4g} s; "
          f"measured in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
