"""`pipesim compare`: every requested schedule on one scenario at equal work, ranked."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pipesim.cli.common import add_figure_arguments
from pipesim.units import format_size, format_time

COLUMNS = ("rank", "schedule", "feasible", "iteration_time", "table_time", "samples_per_s", "peak_memory",
           "memory_unit", "bubble_compute", "bubble_comm", "bubble_collective", "bytes_moved", "weight_copies",
           "stages", "note", "reason")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--schedules", default="all", metavar="a,b,c|all",
                   help="schedules to compare (default all registered ones)")
    p.add_argument("--microbatches", type=int, default=None, metavar="M",
                   help="microbatches per iteration for every schedule (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario value for every schedule (repeatable)")
    p.add_argument("--table-only", action="store_true", help="skip the simulation (free network only)")
    p.add_argument("--split", choices=("balanced", "scenario"), default="balanced",
                   help="layer split of a model-based scenario: balanced (default: each schedule gets the split that "
                        "balances its devices' costs, embedding and LM head included) or scenario (keep "
                        "model.layers_per_stage where its length fits the schedule)")
    p.add_argument("--problem", default=None, metavar="NAME",
                   help="also train this problem with each schedule's staleness (quadratic | logistic | mlp | "
                        "charlm) and add time to --target, as `pipesim converge` does with the problem's defaults")
    p.add_argument("--target", type=float, default=None, metavar="LOSS", help="target loss for --problem")
    p.add_argument("--seeds", type=int, default=3, help="seeds per schedule with --problem (default 3)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.add_argument("--csv", metavar="FILE", default=None, help="also write the rows as CSV")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="also draw one stacked figure: a Gantt block per schedule on a shared time axis and a bar panel")
    add_figure_arguments(p)


def _records(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(rows, 1):
        d = r.as_dict()
        d["rank"] = i if r.feasible else None
        out.append(d)
    return out


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1%}"


def _memory(r: Any) -> str:
    if r.peak_memory is None:
        return ""
    if r.memory_unit == "bytes":
        return format_size(r.peak_memory)
    return f"{r.peak_memory:.3g} " + ("model-stage units" if r.memory_unit == "model-stage" else "stage-units")


def run(args: argparse.Namespace) -> int:
    from pipesim.compare import compare, parse_schedules
    from pipesim.schedule import Registry

    names = parse_schedules(args.schedules, Registry.default())
    for flag, target in (("--csv", args.csv), ("--plot", args.plot)):
        if target:  # said before the runs, not after minutes of them
            try:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"{flag}: cannot write '{target}' ({exc.strerror})") from None
    traces: dict[str, Any] | None = {} if args.plot else None
    rows = compare(args.scenario, names, overrides=args.overrides, microbatches=args.microbatches,
                   simulate=not args.table_only, traces=traces, split=args.split)
    records = _records(rows)
    if args.problem is not None:
        _add_time_to_target(args, rows, records)
    elif args.target is not None:
        raise ValueError("--target: give --problem too (the problem whose loss is the target)")
    if args.csv:
        with _writable(args.csv, "--csv") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
    if args.plot:
        from pipesim.compare_plot import plot_compare

        assert traces is not None
        plot_compare(rows, traces, args.plot, title=args.title, font_size=args.font_size,
                     **({"width": args.width} if args.width is not None else {}))
    if args.json:
        print(json.dumps(records, indent=2, default=str))
        return 0
    from pipesim.cli.common import plain_console, plain_table

    table = plain_table("#", "schedule", "iteration", "free net", "samples/s", "peak mem", "bubble: compute",
                        "comm wait", "collective", "moved", "weights", "note / why infeasible",
                        *(["time to target"] if args.problem is not None else []),
                        title=f"pipesim compare {args.scenario}: equal work, ranked by iteration time")
    for rec, r in zip(records, rows, strict=True):
        why = r.reason if not r.feasible else r.note
        table.add_row(
            str(rec["rank"] or "-"), r.schedule + ("" if r.feasible else " (infeasible)"),
            format_time(r.iteration_time) if r.iteration_time is not None else "",
            format_time(r.table_time) if r.table_time is not None else "",
            f"{r.samples_per_s:.4g}" if r.samples_per_s else "", _memory(r), _pct(r.bubble_compute),
            _pct(r.bubble_comm), _pct(r.bubble_collective),
            format_size(r.bytes_moved) if r.bytes_moved is not None else "",
            f"{r.weight_copies:g}" if r.weight_copies is not None else "", why,
            *([format_time(rec["time_to_target_s"]) if rec.get("time_to_target_s") is not None else "-"]
              if args.problem is not None else []))
    console = plain_console(width=220)
    console.print(table)
    for extra in (args.csv, args.plot):
        if extra:
            console.print(f"wrote {extra}")
    return 0


@contextlib.contextmanager
def _writable(path: str, flag: str) -> Iterator[IO[str]]:
    try:
        fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ValueError(f"{flag}: cannot write '{path}' ({exc.strerror})") from None
    with fh:
        yield fh


def _add_time_to_target(args: argparse.Namespace, rows: list[Any], records: list[dict[str, Any]]) -> None:
    """Each feasible schedule's iterations and time to ``--target`` on ``--problem`` (see
    ``pipesim converge``, whose training defaults and time-to-target rule this shares)."""
    from pipesim.convergence import Optimizer, Training, make_problem, time_to_target

    if args.target is None:
        raise ValueError("--problem: give --target LOSS too (the loss each schedule must reach)")
    problem = make_problem(args.problem)
    d = problem.defaults
    training = Training(Optimizer(d["optimizer"], d["lr"]), microbatch_size=d["microbatch_size"])
    names = [r.schedule for r in rows if r.feasible]
    outcomes = time_to_target(args.scenario, problem, args.target, training, schedules=names, seeds=args.seeds,
                              iterations=int(d["iterations"]), overrides=list(args.overrides),
                              level="table" if args.table_only else "sim")
    found = {o.schedule: o.row() for o in outcomes}
    for rec in records:
        row = found.get(rec["schedule"], {})
        rec["iterations_to_target"] = row.get("iterations_to_target")
        rec["time_to_target_s"] = row.get("time_to_target_s")
