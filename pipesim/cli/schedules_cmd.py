"""`pipesim schedules`: every registered schedule with its options and requirements."""

from __future__ import annotations

import argparse
import json

from pipesim.schedule.registry import Registry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    registry = Registry.default()
    if args.json:
        rows = [{"name": g.name, "aliases": list(g.aliases), "summary": g.summary, "requirements": g.requirements,
                 "split_backward": g.split_backward,
                 "options": [{"name": o.name, "type": o.type.__name__, "default": o.default, "help": o.help,
                              "choices": list(o.choices) if o.choices else None} for o in g.options]}
                for g in registry]
        print(json.dumps(rows, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pipesim schedules", show_lines=True)
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("what it is")
    table.add_column("options (default)")
    table.add_column("requirements")
    for g in registry:
        name = g.name + ("".join(f"\n alias: {a}" for a in g.aliases))
        opts = "\n".join(f"{o.name}={o.default!r}: {o.help}" + (f" [{', '.join(map(str, o.choices))}]" if o.choices else "")
                         for o in g.options) or "-"
        table.add_row(name, g.summary + (" (split backward I/W)" if g.split_backward else ""), opts, g.requirements)
    Console().print(table)
    return 0
