"""`pipesim levels`: formula, table and simulation side by side for one scenario.

The three columns agree where their assumptions meet (uniform costs, free network); where
they part, the difference is what communication (or cost imbalance) does to the schedule.
"""

from __future__ import annotations

import argparse
import json
from statistics import fmean
from typing import Any

from pipesim.cli.common import add_budget_arguments, budget_overrides, plain_console, plain_table
from pipesim.cli.run_cmd import load_built
from pipesim.units import format_size, format_time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario field, repeatable")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_budget_arguments(p)


def formula_column(built: Any) -> dict[str, Any]:
    """Closed forms with the mean per-stage costs (exact when costs are uniform)."""
    from pipesim.formulas import closed_form

    sched, costs = built.schedule, built.costs
    kw: dict[str, Any] = {"F": fmean(costs.forward), "B": fmean(costs.backward), "I": fmean(costs.backward_input),
          "W": fmean(costs.backward_weight)}
    options: dict[str, Any] = {k: v for k, v in sched.options.items() if isinstance(v, int | float | str | bool)}
    try:
        try:
            cf = closed_form(sched.name, sched.num_devices, built.microbatches, **kw, **options)
        except TypeError:
            cf = closed_form(sched.name, sched.num_devices, built.microbatches, **kw)
    except ValueError as exc:
        return {"available": False, "why": str(exc)}
    msg = fmean(costs.message_bytes)
    return {
        "available": True,
        "makespan": cf.makespan,
        "bubble_ratio": cf.bubble_ratio,
        "peak_activations": max(cf.peak_activations) if cf.peak_activations else None,
        "bytes_moved": 2 * cf.p2p_per_microbatch * sched.num_microbatches * msg * built.sim_options.dp,
        "notes": cf.notes,
    }


def compare(built: Any) -> dict[str, Any]:
    from pipesim.runner import run_built

    table = run_built(built, "table")
    sim = run_built(built, "sim")
    table_bytes = sum(m.nbytes for m in table.trace.messages) * built.sim_options.dp
    return {
        "formula": formula_column(built),
        "table": {"makespan": table.metrics["makespan"], "bubble_ratio": table.metrics["bubble_ratio"],
                  "peak_activations": max(table.metrics["peak_activations"]), "bytes_moved": table_bytes,
                  "samples_per_s": table.metrics["samples_per_s"]},
        "sim": {"makespan": sim.metrics["makespan"], "bubble_ratio": sim.metrics["bubble_ratio"],
                "peak_activations": max(sim.metrics["peak_activations"]), "bytes_moved": sim.metrics["bytes_moved"],
                "samples_per_s": sim.metrics["samples_per_s"]},
    }


def run(args: argparse.Namespace) -> int:
    built = load_built(args.scenario, [*args.overrides, *budget_overrides(args)])
    doc = compare(built)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return 0

    f, t, s = doc["formula"], doc["table"], doc["sim"]

    def fmt(value: Any, kind: str) -> str:
        if value is None:
            return "n/a"
        if kind == "time":
            return format_time(value)
        if kind == "ratio":
            return f"{value:.2%}"
        if kind == "bytes":
            return format_size(value)
        if kind == "rate":
            return f"{value:.4g}"
        return f"{value:g}"

    sched = built.schedule
    table = plain_table("", "formula (uniform costs)", "table (free network)", "simulation", "sim / table",
                        title=f"{built.scenario.name}: {sched.name}, p={sched.num_devices}, m={sched.num_microbatches}",
                        title_justify="left")
    for column in table.columns[1:]:
        column.justify = "right"
    for label, key, kind in (("makespan", "makespan", "time"), ("bubble ratio", "bubble_ratio", "ratio"),
                             ("activation peak (microbatches)", "peak_activations", "num"),
                             ("bytes moved", "bytes_moved", "bytes"), ("samples/s", "samples_per_s", "rate")):
        fv = f.get(key) if f.get("available") else None
        ratio = s[key] / t[key] if t.get(key) else None
        table.add_row(label, fmt(fv, kind), fmt(t[key], kind), fmt(s[key], kind),
                      "" if ratio is None else f"{ratio:.3f}x")
    console = plain_console()
    console.print(table)
    if not f.get("available"):
        console.print(f"formula: {f['why']}")
    elif f.get("notes"):
        console.print(f"formula notes: {f['notes']}")
    slow = s["makespan"] / t["makespan"] - 1 if t["makespan"] else 0.0
    console.print(f"communication adds {slow:.1%} to the makespan on this network.")
    return 0
