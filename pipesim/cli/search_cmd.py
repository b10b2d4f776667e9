"""`pipesim search`: the fastest plan and order for a scenario's cluster under a memory limit.

Two forms: ``pipesim search SCENARIO.yaml`` (plans built through the workload model, the best
re-scored by the contention-aware simulation) and ``pipesim search [NAME] -p 4 -m 8 --costs
F=1,B=2 [--delay D]`` (the table level with a constant delay, like ``pipesim table``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipesim.cli.common import duration, parse_pairs
from pipesim.search.errors import SearchError

DEFAULT_BUDGET = "2000"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", default=None, metavar="SCENARIO",
                   help="a scenario file; or, with -p/-m/--costs, a schedule name whose layout to search (default 1f1b)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="scenario override (repeatable)")
    p.add_argument("-p", "--devices", type=int, default=None, help="table form: pipeline devices")
    p.add_argument("-m", "--microbatches", type=int, default=None, help="table form: microbatches")
    p.add_argument("-v", "--chunks", type=int, default=None, help="table form: chunks per device (interleaved, hanayo)")
    p.add_argument("--costs", default=None, metavar="F=1,B=2",
                   help="table form: one device's share of one model copy (default F=1, B=2F), divided among each "
                        "layout's stages so that every layout does the same work")
    p.add_argument("--split-backward", nargs="?", const="on", default=None, metavar="I=1,W=1",
                   help="pin the backward split into I and W (zero-bubble style); in the table form optionally their "
                        "costs. Default: both whole and split are searched where I and W have costs (a model, or "
                        "costs giving I and W), else as the scenario's schedule does")
    p.add_argument("--no-split-backward", dest="split_backward", action="store_const", const="off",
                   help="pin the backward whole (one B per microbatch)")
    p.add_argument("--delay", default=None, help="table form: constant delay of every cross-device message (default 0)")
    p.add_argument("--memory-limit", default=None, metavar="1p|2p|BYTES",
                   help="per-device bound on stashed activations: kp = k x 1F1B's (p microbatches of a device's "
                        "share), or a size such as '40 GB' (default: none)")
    p.add_argument("--space", default=None, metavar="order,m,v,layout,split,placement,backward",
                   help="what to search (default: all that apply; m and split need a model, placement a scenario, "
                        "backward the costs of I and W)")
    p.add_argument("--budget", default=DEFAULT_BUDGET, metavar="SECONDS|EVALS",
                   help=f"a time (30s) or a number of candidate evaluations (default {DEFAULT_BUDGET}; deterministic)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--executor", choices=("process", "dask"), default="process",
                   help="run plans on a process pool (default) or on Dask")
    p.add_argument("--address", default=None, help="Dask scheduler address (with --executor dask)")
    p.add_argument("--seed", type=int, default=0, help="seed of the order search and of sampled plans (default 0)")
    p.add_argument("--max-plans", type=int, default=48, help="most plans tried; a larger space is sampled (default 48)")
    p.add_argument("--rescore", type=int, default=4, help="plans re-scored on the network (default 4)")
    p.add_argument("--rounds", type=int, default=2, help="network rounds per re-scored plan (default 2)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write best.csv (+ layout.json), gantt.png, ranked.csv/.md and result.json here")
    p.add_argument("--save-csv", default=None, metavar="FILE", help="write the best order as a PyTorch CSV")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


def _whole(value: int | None, flag: str, least: int) -> None:
    if value is not None and value < least:
        raise SearchError(f"{flag}: {value}; must be a whole number >= {least}")


def _is_table_form(args: argparse.Namespace) -> bool:
    return any(x is not None for x in (args.devices, args.microbatches, args.costs, args.delay, args.chunks))


def _request(args: argparse.Namespace) -> tuple[Any, Any, tuple[str, ...], Any]:
    """``(base, axes, space, built base scenario or None)``."""
    from pipesim.search import request

    split = args.split_backward
    if not _is_table_form(args):
        if args.target is None:
            raise SearchError("give a scenario file, or the table form -p P -m M [--costs F=1,B=2]")
        path = Path(args.target)
        if not path.is_file():
            raise SearchError(f"scenario: file '{path}' not found (for the table form give -p and -m)")
        if split not in (None, "on", "off"):
            raise SearchError(f"--split-backward: {split!r}; a scenario takes its costs from the scenario, so give "
                              "the flag alone (on) or 'off'")
        pin = None if split is None else split == "on"
        base, axes, space, built = request.from_scenario(path, args.set, space_text=args.space, seed=args.seed,
                                                         split_backward=pin)
        return base, axes, space, built
    if args.set:
        raise SearchError("--set: overrides apply to a scenario, not to the table form (-p/-m/--costs)")
    if args.target is not None and Path(args.target).is_file():
        raise SearchError(f"give a scenario file or the table form -p/-m/--costs, not both (got '{args.target}')")
    costs: dict[str, float] = {k: duration(v, flag="--costs")
                               for k, v in parse_pairs(args.costs, flag="--costs", allowed=("F", "B", "I", "W")).items()}
    costs.setdefault("F", 1.0)
    wants = None if split is None else split != "off"
    if split not in (None, "on", "off"):
        costs.update({k: duration(v, flag="--split-backward")
                      for k, v in parse_pairs(split, flag="--split-backward", allowed=("I", "W")).items()})
    delay = duration(args.delay, flag="--delay") if args.delay is not None else 0.0
    base, axes, space = request.from_table(args.devices or 4, args.microbatches or 8, costs, schedule=args.target,
                                           degree=args.chunks, delay=delay, space_text=args.space,
                                           split_backward=wants)
    return base, axes, space, None


class _Line:
    """The live progress line (rich, on stderr, only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.status: Any = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console

            self.status = Console(stderr=True).status("search: starting")
            self.status.start()

    def __call__(self, text: str) -> None:
        if self.status is not None:
            self.status.update(f"search: {text}")

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()


def run(args: argparse.Namespace) -> int:
    from pipesim.search.limits import parse_budget, parse_memory_limit
    from pipesim.search.plan import Settings, search_plan

    for value, flag, least in ((args.jobs, "--jobs", 1), (args.max_plans, "--max-plans", 1),
                               (args.rescore, "--rescore", 1), (args.rounds, "--rounds", 0),
                               (args.devices, "-p/--devices", 1), (args.microbatches, "-m/--microbatches", 1),
                               (args.chunks, "-v/--chunks", 1)):
        _whole(value, flag, least)
    memory = parse_memory_limit(args.memory_limit)
    budget = parse_budget(args.budget)
    if args.address is not None and args.executor != "dask":
        raise SearchError(f"--address {args.address}: a scheduler address is for --executor dask")
    base, axes, space, built = _request(args)
    settings = Settings(space, memory, args.seed, rounds=args.rounds)
    line = _Line(args.format == "text")
    try:
        result = search_plan(base, axes, settings, budget=budget, max_plans=args.max_plans, rescore=args.rescore,
                             jobs=args.jobs, executor=args.executor, address=args.address, report=line)
    finally:
        line.stop()
    metrics = result.best_scored.metrics
    from pipesim.search.report import json_document

    doc = json_document(result, metrics)
    if args.save_csv:
        from pipesim.schedule.torch_csv import write_csv

        write_csv(result.best_scored.schedule, args.save_csv)
    if args.out:
        _write_out(Path(args.out), args, result, doc, base, built)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        _print_text(result, doc, args)
    return 0


def _write_out(out: Path, args: argparse.Namespace, result: Any, doc: dict[str, Any], base: Any, built: Any) -> None:
    from pipesim.plot import plot_gantt
    from pipesim.search.report import (
        named_rows_scenario,
        named_rows_table,
        over_limit,
        search_rows,
        write_best,
        write_ranked,
    )
    from pipesim.search.score import simulate_trace

    out.mkdir(parents=True, exist_ok=True)
    sched = result.best_scored.schedule
    write_best(sched, out)
    named = (over_limit(named_rows_scenario(args.target, args.set, None), result, args.memory_limit)
             if built is not None else named_rows_table(base, result.best.plan.microbatches))
    write_ranked(search_rows(result) + named, out / "ranked")
    (out / "result.json").write_text(json.dumps(doc, indent=2) + "\n")
    trace = simulate_trace(base, result.best.plan, sched)
    m = doc["metrics"]
    plot_gantt(trace, out / "gantt.png", links=built is not None,
               title=f"search best: {result.best.plan.label()} | makespan {m['makespan']:.4g} | "
                     f"bubble {100 * m['bubble_ratio']:.1f}%")


def _print_text(result: Any, doc: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    best, free = result.best, result.free_best
    m = doc["metrics"]
    level = "simulated on the scenario's network" if result.level == "sim" else "table level"
    console.print(f"[bold]best[/bold]: {best.plan.label()}  (order: {best.source})")
    table = Table(show_header=False, box=None)
    table.add_row("makespan", f"{m['makespan']:.6g} ({level})")
    if result.level == "sim":
        table.add_row("table level (free network)", f"{best.table_time:.6g}")
        same = "the same order" if doc["free_network"]["same_order"] else "a different order"
        free_sim = doc["free_network"]["sim_time"]
        table.add_row("without the network", f"{free.plan.label()}: {free.table_time:.6g} at the table level, "
                      f"{free_sim:.6g} on this network ({same})")
    table.add_row("backward", "split into I and W" if best.plan.split_backward else "whole B")
    table.add_row("bubble ratio", f"{m['bubble_ratio']:.4f}")
    table.add_row("peak activations per device", " ".join(str(x) for x in m.get("peak_activations", [])))
    ok = sum(1 for t in result.tried if t.status == "ok")
    table.add_row("plans", f"{len(result.tried)} tried, {ok} feasible; {result.evaluations} evaluations")
    for note in result.notes:
        table.add_row("note", note)
    console.print(table)
    if args.out:
        console.print(f"wrote {args.out}/ (best.csv, gantt.png, ranked.csv, ranked.md, result.json)")
    if args.save_csv:
        console.print(f"wrote {args.save_csv}")
