"""`pipesim run`: one scenario through the simulation (or table) level, with files to look at."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from pipesim._version import __version__
from pipesim.cli.common import (
    add_budget_arguments,
    add_figure_arguments,
    add_links_argument,
    budget_overrides,
    plain_console,
    plain_table,
)
from pipesim.units import format_size, format_time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file (see scenarios/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario field, repeatable (e.g. --set parallel.microbatches=32)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: outputs.dir or out/<name>)")
    p.add_argument("--json", action="store_true", help="print the metrics JSON to stdout instead of the summary")
    p.add_argument("--level", choices=("table", "sim"), default="sim",
                   help="sim: communication-aware simulation (default); table: free network")
    p.add_argument("--no-files", action="store_true", help="write nothing, only print")
    p.add_argument("--trace", action=argparse.BooleanOptionalAction, default=None,
                   help="write trace.json for Perfetto (default: the scenario's outputs.trace)")
    add_links_argument(p, default=None)
    add_figure_arguments(p)
    add_budget_arguments(p)


def load_built(path: str, overrides: list[str]) -> Any:
    from pipesim.scenario import build, load_scenario

    return build(load_scenario(path, overrides))


def per_second(x: float) -> str:
    """A throughput a reader can take in at a glance: 48.43, 99,190 (never 9.919e+04)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def summary_rows(metrics: dict[str, Any], time_fmt=format_time) -> list[tuple[str, str]]:
    rows = [
        ("makespan (per simulated run)", time_fmt(metrics["makespan"])),
        ("throughput", f"{per_second(metrics['samples_per_s'])} samples/s"
         + (f", {per_second(metrics['tokens_per_s'])} tokens/s" if metrics.get("tokens_per_s") else "")),
        ("bubble ratio (devices x makespan)", f"{metrics['bubble_ratio']:.2%}"),
        ("bubble ratio (each device's own span)", f"{metrics['span_bubble_ratio']:.2%}"),
    ]
    if "waiting_for_data" in metrics:
        total_busy = sum(metrics["busy"]) or 1.0
        rows.append(("waiting for data (sum over devices)",
                     f"{time_fmt(sum(metrics['waiting_for_data']))} ({sum(metrics['waiting_for_data']) / total_busy:.1%} of busy time)"))
    if metrics.get("max_peak_memory_bytes") is not None:
        limit = metrics.get("memory_limit_bytes")
        text = format_size(metrics["max_peak_memory_bytes"])
        if limit:
            text += f" of {format_size(limit)}" + ("" if metrics.get("fits_in_memory", True) else "  ** EXCEEDS DEVICE MEMORY **")
        rows.append(("peak memory (worst device)", text))
    rows.append(("peak activations (microbatches in flight)", " ".join(str(x) for x in metrics["peak_activations"])))
    if metrics.get("busiest_link"):
        b = metrics["busiest_link"]
        rows.append(("busiest link", f"{b['name']}: {b['utilisation']:.1%} busy, {format_size(b['bytes'])}"))
    if "bytes_moved" in metrics:
        rows.append(("messages / bytes moved", f"{metrics['messages']} / {format_size(metrics['bytes_moved'])}"))
    if metrics.get("max_queueing_delay"):
        rows.append(("worst queueing delay", time_fmt(metrics["max_queueing_delay"])))
    if metrics.get("staleness"):
        st = metrics["staleness"]
        rows.append(("weight staleness (max delay per stage)", " ".join(str(s["max_delay"]) for s in st["stages"])))
        rows.append(("weight versions per stage", " ".join(str(s["versions"]) for s in st["stages"])))
    return rows


def write_outputs(outcome: Any, built: Any, out: Path, trace: bool | None = None, *, links: str | None = None,
                  width: float | None = None, font_size: float | None = None, title: str | None = None) -> list[Path]:
    """metrics.json (with the scenario as run and the pipesim version), trace.json when
    ``trace`` (default: the scenario's ``outputs.trace``) and the Gantt figures (``links``: a
    link-lane mode, default condensed lanes when the scenario's ``outputs.gantt_links`` asks)."""
    from pipesim.export import write_chrome_trace, write_metrics_json
    from pipesim.scenario import scenario_to_dict

    out.mkdir(parents=True, exist_ok=True)
    opts = built.scenario.outputs
    written: list[Path] = []
    trace = opts.trace if trace is None else trace
    if opts.metrics:
        doc = {"metrics": outcome.metrics, "scenario": scenario_to_dict(built.scenario), "pipesim_version": __version__}
        written.append(write_metrics_json(doc, out / "metrics.json"))
    if trace:
        written.append(write_chrome_trace(outcome.trace, out / "trace.json"))
    if opts.gantt:
        from pipesim.plot import plot_gantt

        mode = links if links is not None else ("condensed" if opts.gantt_links else "none")
        plot_gantt(outcome.trace, out / "gantt.png", links=mode if outcome.trace.links else "none",
                   formats=tuple(opts.formats), max_links=24, width=width, font_size=font_size, title=title)
        written.extend(out / f"gantt.{fmt}" for fmt in opts.formats)
    return written


class ProgressLine:
    """A one-line ``\r``-rewritten progress report on a terminal, shown only once a run has
    taken ``after`` seconds (short runs print nothing) and erased when the run ends."""

    def __init__(self, stream: TextIO, after: float = 2.0, clock=time.monotonic) -> None:
        self.stream, self.after, self.clock = stream, after, clock
        self.t0 = clock()
        self.shown = False

    def __call__(self, done: int, total: int, now: float) -> None:
        elapsed = self.clock() - self.t0
        if elapsed < self.after:
            return
        share = done / total if total else 1.0
        self.stream.write(f"\rsimulating: {share:6.1%} of {total:,} actions, {format_time(now)} simulated, "
                          f"{elapsed:.0f} s elapsed ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from pipesim.runner import run_built

    built = load_built(args.scenario, [*args.overrides, *budget_overrides(args)])
    opts = built.scenario.outputs
    wants_trace = not args.no_files and ((opts.trace if args.trace is None else args.trace) or opts.gantt)
    line = ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    try:
        outcome = run_built(built, args.level, trace=wants_trace, progress=line)
    finally:
        if line is not None:
            line.close()
    out = Path(args.out or built.scenario.outputs.dir or Path("out") / built.scenario.name)
    written = [] if args.no_files else write_outputs(outcome, built, out, args.trace, links=args.links,
                                                     width=args.width, font_size=args.font_size, title=args.title)
    if args.json:
        print(json.dumps(outcome.metrics, indent=2, default=str))
        return 0
    console = plain_console()
    sched = built.schedule
    title = (f"{built.scenario.name}: {sched.name}, pp={sched.num_devices}, dp={built.sim_options.dp}, "
             f"m={sched.num_microbatches} ({args.level} level)")
    table = plain_table("", "", title=title, show_header=False, title_justify="left")
    table.columns[0].style = "bold"
    for key, value in summary_rows(outcome.metrics):
        table.add_row(key, value)
    console.print(table)
    for path in written:
        console.print(f"wrote {path}")
    return 0
