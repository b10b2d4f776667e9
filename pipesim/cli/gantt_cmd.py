"""`pipesim gantt`: redraw a Gantt chart from a saved trace.json."""

from __future__ import annotations

import argparse

from pipesim.cli.common import add_figure_arguments, add_links_argument
from pipesim.units import parse_time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="a trace.json written by `pipesim run` (Chrome/Perfetto format)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="figure file (.png, .svg or .pdf)")
    add_links_argument(p, default="none")
    p.add_argument("--max-links", type=int, default=None, metavar="N", help="keep only the N busiest link lanes")
    p.add_argument("--range", default=None, metavar="T0:T1",
                   help="zoom to a time window, e.g. 0.1:0.25 or '10 ms:30 ms' (seconds without units)")
    add_figure_arguments(p)


def parse_range(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    if ":" not in text:
        raise ValueError(f"--range: '{text}' is not T0:T1 (e.g. --range 0.1:0.25 or --range '10 ms:30 ms')")
    a, b = text.split(":", 1)
    t0, t1 = parse_time(a.strip(), key="--range start"), parse_time(b.strip(), key="--range end")
    if not t1 > t0:
        raise ValueError(f"--range: end {b.strip()} must be after start {a.strip()}")
    return t0, t1


def run(args: argparse.Namespace) -> int:
    from pipesim.export import load_chrome_trace
    from pipesim.plot import plot_gantt

    window = parse_range(args.range)
    if args.max_links is not None and args.max_links < 0:
        raise ValueError(f"--max-links: {args.max_links}; give a number of lanes >= 0")
    trace = load_chrome_trace(args.trace)
    plot_gantt(trace, args.output, links=args.links, time_range=window, title=args.title, max_links=args.max_links,
               width=args.width, font_size=args.font_size)
    print(f"wrote {args.output}")
    return 0
