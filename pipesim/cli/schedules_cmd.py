"""`pipesim schedules`: every registered schedule with its options and requirements."""

from __future__ import annotations

import argparse
import json
import textwrap

from pipesim.schedule.registry import Generator, Registry


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
    print("\n\n".join(describe(g) for g in registry))
    return 0


def describe(g: Generator, width: int = 80) -> str:
    """One schedule as a plain-text block that reads at 80 columns and in a pipe: nothing is
    truncated and no bracket is taken for markup."""
    wrap = textwrap.TextWrapper(width=width, subsequent_indent="    ", break_on_hyphens=False)
    head = g.name + (f" (alias {', '.join(g.aliases)})" if g.aliases else "")
    lines = [head, *wrap.wrap("  " + g.summary + (" (split backward I/W)" if g.split_backward else "")),
             *wrap.wrap(f"  requirements: {g.requirements}")]
    for o in g.options:
        choices = f" One of: {', '.join(map(str, o.choices))}." if o.choices else ""
        lines += wrap.wrap(f"  -o {o.name}=VALUE (default {o.default!r}): {o.help}.{choices}".replace("..", "."))
    return "\n".join(lines)
