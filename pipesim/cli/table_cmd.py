"""`pipesim table`: a schedule at the table level -- a grid like the papers', then its metrics."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipesim.cli.common import (
    add_figure_arguments,
    add_schedule_arguments,
    costs_from_args,
    duration,
    schedule_from_args,
)
from pipesim.ideal import TableResult, evaluate


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_schedule_arguments(p, name_required=False)
    p.add_argument("--costs", default=None, metavar="F=1,B=2",
                   help="per-stage action costs (default F=1, B=2F; I=W=B/2 when split)")
    p.add_argument("--split-backward", default=None, metavar="I=1,W=1", help="costs of the split backward halves")
    p.add_argument("--per", choices=("stage", "device"), default="stage",
                   help="what --costs describe: one stage (chunk), the default, or one device's share of one model "
                        "copy, divided among the schedule's stages so that every schedule does the same work")
    p.add_argument("--delay", default="0", help="constant delay added to every cross-device message (default 0)")
    p.add_argument("--format", choices=("text", "csv", "json"), default="text", help="output format (default text)")
    p.add_argument("--plot", metavar="FILE", default=None, help="also draw the schedule-table figure (PNG/SVG)")
    add_figure_arguments(p)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def summary_rows(result: TableResult) -> list[tuple[str, str]]:
    m = result.metrics()
    # A chunk of 1/v of a device's stage counts 1/v, so that V shapes and interleaving compare
    # with 1F1B (exact when every chunk stashes the same activations).
    lay = result.schedule.layout
    share = lay.num_devices / max(lay.num_parts, 1)
    return [
        ("makespan", _fmt(m["makespan"])),
        ("bubble ratio (devices x makespan)", f"{m['bubble_ratio']:.4f}"),
        ("bubble ratio (each device's own span)", f"{m['span_bubble_ratio']:.4f}"),
        ("busy per device", " ".join(_fmt(x) for x in m["busy"])),
        ("peak activations (chunk-microbatches in flight)", " ".join(str(x) for x in m["peak_activations"])),
        ("peak activations (model-stage units)", " ".join(_fmt(x * share) for x in m["peak_activations"])),
        ("weight copies per device", " ".join(_fmt(x) for x in m["weight_copies"])),
    ]


def json_document(result: TableResult) -> dict[str, Any]:
    sched = result.schedule
    return {
        "schedule": sched.name,
        "devices": sched.num_devices,
        "microbatches": sched.num_microbatches,
        "stages": sched.num_stages,
        "actions": sched.as_strings(),
        "metrics": result.metrics(),
    }


def run(args: argparse.Namespace) -> int:
    schedule = schedule_from_args(args)
    costs = costs_from_args(schedule, args.costs, args.split_backward, args.per)
    gen_name = schedule.name
    delay = duration(args.delay, flag="--delay")
    from pipesim.schedule import Registry

    registry = Registry.default()
    if not args.from_csv and gen_name in registry.names() and registry.get(gen_name).cost_aware:
        # List-scheduled orders depend on the costs and the delay: order again with the ones given
        # (REDUCE_GRAD goes into the order's bubbles, timed without the delay).
        from pipesim.plan import finalize

        options = {k: v for k, v in schedule.options.items() if k in {o.name for o in registry.get(gen_name).options}}
        schedule = finalize(registry.generate(gen_name, schedule.num_devices, schedule.num_microbatches,
                                              costs=costs, message_delay=delay, **options), costs)

    result = evaluate(schedule, costs, message_delay=delay)
    if args.plot:
        from pipesim.plot.table import plot_schedule_table

        plot_schedule_table(result.trace(time_unit="slot"), args.plot, title=args.title, width=args.width,
                            font_size=args.font_size)
    if args.format == "json":
        print(json.dumps(json_document(result), indent=2))
    elif args.format == "csv":
        from pipesim.schedule.torch_csv import write_csv

        print(write_csv(schedule), end="")
    else:
        from rich.text import Text

        from pipesim.cli.common import plain_console, plain_table
        from pipesim.textgrid import time_grid

        console = plain_console()
        console.print(Text.assemble((schedule.name, "bold"), f": p={schedule.num_devices}, "
                                    f"m={schedule.num_microbatches}, {schedule.num_stages} stages"))
        print(time_grid(result))
        table = plain_table("", "", show_header=False, box=None)
        for key, value in summary_rows(result):
            table.add_row(key, value)
        console.print(table)
        if args.plot:
            console.print(f"wrote {args.plot}")
    return 0
