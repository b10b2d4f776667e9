"""`pipesim net`: replay explicit transfers on a network and print when each finishes."""

from __future__ import annotations

import argparse
import json

from pipesim.budget import chunks_per_message
from pipesim.cli.common import add_budget_arguments, budget_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("flows", help="flows YAML: a topology, a policy and `flows: [{name, src, dst, bytes, start}]`")
    p.add_argument("--json", action="store_true", help='print {"flows": [{"name", "finish"}, ...]}')
    p.add_argument("--policy", choices=("fair", "fifo"), default=None, help="override the file's queue policy")
    p.add_argument("--gantt", metavar="FILE", default=None, help="also draw the link lanes of the replay")
    add_budget_arguments(p, memory=False)


def run(args: argparse.Namespace) -> int:
    from pipesim.netreplay import format_flows, load_flows, read_flows, replay
    from pipesim.sim.records import TransferLog, network_trace

    raw = load_flows(args.flows)
    if args.policy:
        raw = {**raw, "policy": args.policy}
    spec = read_flows(raw)
    chunk = spec.chunking.size if spec.chunking.mode == "fixed" else None  # auto/fluid: one flow each
    # Each flow is at least one transfer (one per chunk) on at least one link.
    events = sum(chunks_per_message(nbytes, chunk) for _, _, nbytes, _ in spec.flows)
    budget_from_args(args).check(events, f"flows file {args.flows}")
    log = TransferLog() if args.gantt else None
    results = replay(spec, log=log)
    if args.gantt and log is not None:
        from pipesim.plot import plot_gantt

        # The topology's devices are the rows (empty: a replay has no compute); links below.
        trace = network_trace(log, list(spec.topology.devices))
        trace.meta.setdefault("schedule", f"flows: {args.flows}")
        plot_gantt(trace, args.gantt, links=True)
    if args.json:
        print(json.dumps({"flows": [{"name": n, "finish": t} for n, t in results]}, indent=2))
    else:
        print(format_flows(results))
    return 0
