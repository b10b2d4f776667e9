"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipesim.budget import Budget
from pipesim.costs import Costs
from pipesim.schedule.action import Kind, compute_parts
from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.units import parse_time

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def plain_console(**options: Any) -> Console:
    """A rich Console that prints text as given: user text (schedule and link names, paths,
    error messages) often holds brackets such as ``[p, m]`` that markup would swallow, and
    figures are not syntax-highlighted. Styles come from ``rich.text.Text`` where wanted."""
    from rich.console import Console

    return Console(markup=False, highlight=False, soft_wrap=True, **options)


def plain_table(*columns: str, **options: Any) -> Table:
    """A rich Table whose cells wrap instead of ending in an ellipsis: at 80 columns or in a
    pipe a name is folded onto the next line, never cut."""
    from rich.table import Table

    table = Table(**options)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def parse_pairs(text: str | None, *, flag: str, allowed: tuple[str, ...] | None = None) -> dict[str, str]:
    """'F=1,B=2' -> {'F': '1', 'B': '2'}; names the flag and the valid keys on error."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"{flag}: '{part}' is not KEY=VALUE (e.g. {flag} F=1,B=2)")
        key, value = (x.strip() for x in part.split("=", 1))
        if allowed is not None and key not in allowed:
            raise ValueError(f"{flag}: unknown key '{key}'; valid keys: {', '.join(allowed)}")
        out[key] = value
    return out


def duration(value: str, *, flag: str) -> float:
    """A finite duration >= 0: a plain number (seconds, or abstract slots) or a time with units
    ("1 ms"), as every quantity in a scenario file accepts."""
    try:
        x = parse_time(value, key=flag)
    except ValueError as exc:
        raise ValueError(f"{flag}: '{value}' is not a duration; give a number (seconds or slots) or a time "
                         f"such as '1.5 ms'") from exc
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{flag}: '{value}' must be a finite duration >= 0")
    return x


def add_budget_arguments(p: argparse.ArgumentParser, *, memory: bool = True) -> None:
    """--max-events (and --max-memory): raise the work budget a run is checked against before it
    starts (pipesim.budget; scenario key ``limits``)."""
    from pipesim.budget import DEFAULT_MAX_EVENTS, DEFAULT_MAX_MEMORY

    p.add_argument("--max-events", metavar="N", default=None,
                   help=f"refuse runs estimated above N events (default {DEFAULT_MAX_EVENTS:,}: about ten minutes)")
    if memory:
        p.add_argument("--max-memory", metavar="SIZE", default=None,
                       help=f"refuse runs estimated to need more memory (default {DEFAULT_MAX_MEMORY / 2**30:g} GiB)")


def budget_overrides(args: argparse.Namespace) -> list[str]:
    """The budget flags as scenario overrides (``limits.max_events=N``), checked there."""
    out = []
    if getattr(args, "max_events", None) is not None:
        out.append(f"limits.max_events={args.max_events}")
    if getattr(args, "max_memory", None) is not None:
        out.append(f"limits.max_memory={args.max_memory}")
    return out


def budget_from_args(args: argparse.Namespace) -> Budget:
    """A Budget from --max-events (commands without a scenario)."""
    from pipesim.inputs import InputError, as_whole

    if getattr(args, "max_events", None) is None:
        return Budget()
    try:
        text = str(args.max_events).replace("_", "").replace(",", "")
        return Budget(max_events=as_whole(int(text) if text.isdigit() else args.max_events, 1))
    except InputError as exc:
        raise ValueError(f"--max-events: {exc.message}") from None


def add_schedule_arguments(p: argparse.ArgumentParser, *, name_required: bool = True) -> None:
    p.add_argument("name", nargs=None if name_required else "?", help="schedule name (see `pipesim schedules`)")
    p.add_argument("-p", "--devices", type=int, default=4, help="pipeline devices (default 4)")
    p.add_argument("-m", "--microbatches", type=int, default=8, help="microbatches per iteration (default 8)")
    p.add_argument("-v", "--chunks", type=int, default=None, help="chunks per device for interleaved/looped schedules")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="generator option, repeatable (e.g. -o waves=2)")
    p.add_argument("--from-csv", metavar="FILE", default=None,
                   help="read the schedule from a PyTorch pipelining CSV instead of a generator")
    p.add_argument("--layout", metavar="FILE", default=None,
                   help="with --from-csv: the layout.json that `pipesim search --out` writes for layouts a CSV "
                        "cannot carry (several routes or replicated parts, as in Chimera)")
    add_budget_arguments(p, memory=False)


def schedule_from_args(args: argparse.Namespace) -> Schedule:
    if args.from_csv:
        from pipesim.schedule.torch_csv import read_csv

        if args.name:
            raise ValueError(f"give a schedule name or --from-csv FILE, not both (got '{args.name}' and "
                             f"--from-csv {args.from_csv})")
        path = Path(args.from_csv)
        if not path.is_file():
            raise ValueError(f"--from-csv: file '{path}' not found" if not path.exists()
                             else f"--from-csv: '{path}' is not a file")
        if args.layout is None:
            return read_csv(path)
        from pipesim.schedule.layout_file import read_layout

        return read_csv(path, layout=read_layout(args.layout))
    if getattr(args, "layout", None) is not None:
        raise ValueError(f"--layout {args.layout}: only used with --from-csv FILE (a generator builds its own layout)")
    if not args.name:
        raise ValueError("give a schedule name (see `pipesim schedules`) or --from-csv FILE")
    registry = Registry.default()
    gen = registry.get(args.name)
    options: dict[str, object] = {}
    for item in args.option:
        options.update(parse_pairs(item, flag="-o/--option"))
    if args.chunks is not None:
        names = [o.name for o in gen.options]
        key = next((k for k in ("v", "waves") if k in names), None)
        if key is None:
            raise ValueError(f"-v/--chunks: schedule '{gen.name}' has no chunk option; it takes: {', '.join(names) or 'no options'}")
        options[key] = args.chunks
    from pipesim.plan import finalize

    return finalize(gen(args.devices, args.microbatches, work_budget=budget_from_args(args), **options))


def costs_from_args(schedule: Schedule, costs: str | None, split: str | None, per: str = "stage") -> Costs:
    """--costs F=1,B=2 and --split-backward I=1,W=1 (B defaults to 2F, I=W=B/2).

    ``per="stage"``: the numbers are each stage's (chunk's). ``per="device"``: they are one
    device's share of one model copy (1/p of the model), divided among the schedule's stages
    (a stage computes p / model parts of a share: interleaved v = 2 chunks take half, V shapes
    half, Chimera's replicas a whole share), so that every schedule does the same work.
    """
    if per not in ("stage", "device"):
        raise ValueError(f"--per: {per!r}; choose stage or device")
    if split and not any(part.kind in (Kind.I, Kind.W) for row in schedule.actions for a in row
                         for part in compute_parts(a)):
        raise ValueError(f"--split-backward: schedule '{schedule.name}' runs no split backward (I and W), so "
                         "I and W would be ignored; use --costs B=... for it, or pick a zero-bubble schedule")
    base: dict[str, float] = {k: duration(v, flag="--costs") for k, v in parse_pairs(costs, flag="--costs", allowed=("F", "B", "I", "W")).items()}
    extra = {k: duration(v, flag="--split-backward") for k, v in parse_pairs(split, flag="--split-backward", allowed=("I", "W")).items()}
    base.update(extra)
    scale = schedule.num_devices / max(schedule.layout.num_parts, 1) if per == "device" else 1.0

    def scaled(key: str, default: float | None = None) -> float | None:
        value = base.get(key, default)
        return None if value is None else value * scale

    return Costs.make(schedule.num_stages, F=scaled("F", 1.0) or 0.0, B=scaled("B"), I=scaled("I"), W=scaled("W"))


def add_figure_arguments(p: argparse.ArgumentParser, *, title: bool = True) -> None:
    """--width, --font-size (and --title) for commands that draw a figure."""
    p.add_argument("--width", type=float, default=None, metavar="INCHES",
                   help="figure width in inches (default: sized to the content)")
    p.add_argument("--font-size", type=float, default=None, metavar="PT",
                   help="base font size in points (default 9; titles and ticks scale with it)")
    if title:
        p.add_argument("--title", default=None,
                       help="figure title (default: a generated one; --title '' leaves it and its space out)")


def add_links_argument(p: argparse.ArgumentParser, default: str | None) -> None:
    """--links [condensed|busy|all|none] for commands that draw a Gantt chart."""
    p.add_argument("--links", nargs="?", const="condensed", default=default,
                   choices=("condensed", "busy", "all", "none"),
                   help="link lanes in the Gantt chart: condensed (links between nodes, each node's intra-node "
                        "links folded into one lane; the default with --links), busy (every link that carried "
                        "traffic), all (every link, idle ones too) or none")
