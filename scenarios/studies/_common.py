"""Shared plumbing for the study scripts: arguments, running points, writing tables.

Every study is one command (`python scenarios/studies/NAME.py [--quick] [--out DIR]`) that
runs a grid of scenario variants, writes a CSV and a markdown table of the numbers, and draws
PNG + SVG figures with pipesim.plot. `--quick` shrinks the grid so the test suite can smoke-run
every study in seconds; the committed figures come from full runs.

Running goes through pipesim's sweep executors and timing through pipesim's own models (the
network simulation for a lone message): a study adds analysis and figures, never a second
runner or a second copy of a model.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# measure(built, outcome) -> plain data: runs in the worker (see pipesim.sweep.run_tasks).
Measure = Callable[[Any, Any], Any]

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def study_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small grid for smoke tests (seconds)")
    ap.add_argument("--out", default=None, help="output folder (default: figures/<study>)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    return ap.parse_args()


def out_dir(args: argparse.Namespace, study: str) -> Path:
    path = Path(args.out) if args.out else ROOT / "figures" / study
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_many(jobs: Iterable[tuple[Mapping[str, Any], Sequence[str], str]], workers: int | None = None, *,
             label: str = "runs", measure: Measure | None = None) -> list[dict[str, Any]]:
    """Run scenario variants ``(base mapping, overrides, level)`` with pipesim's sweep executors
    (``pipesim.sweep.run_tasks``: a process pool of ``workers``, default one per core, with the
    sweep's progress line), in input order. Each result is the runner's metrics (see
    pipesim.runner), with ``measure``'s value under ``"measured"``, or ``{"error": one line}``
    for a point that cannot run (an infeasible schedule is a result too)."""
    from pipesim.sweep import make_task, run_tasks

    tasks = [make_task(base, overrides, level) for base, overrides, level in jobs]
    out: list[dict[str, Any]] = []
    for result in run_tasks(tasks, jobs=workers, label=label, measure=measure):
        if result["status"] != "ok":
            out.append({"error": result["error"]})
            continue
        metrics = dict(result["metrics"])
        if "measured" in result:
            metrics["measured"] = result["measured"]
        out.append(metrics)
    return out


def lone_transfer_time(topology: Mapping[str, Any], network: Mapping[str, Any] | None, src: int, dst: int,
                       nbytes: float) -> float:
    """Time one message of ``nbytes`` takes alone from device ``src`` to ``dst`` on a scenario's
    network (its ``topology`` and ``network`` sections): pipesim's network simulation of a
    one-message flow (``pipesim.netreplay``), so link timing is computed in one place."""
    from pipesim.netreplay import replay

    net = network or {}
    spec = {"topology": dict(topology), "policy": net.get("policy", "fair"),
            "chunk_bytes": net.get("chunk_bytes", "auto"), "overhead": net.get("overhead", 0.0),
            "flows": [{"src": src, "dst": dst, "bytes": nbytes}]}
    return replay(spec)[0][1]


def write_table(rows: list[dict[str, Any]], columns: Sequence[str], path_stem: Path,
                fmt: dict[str, Callable[[Any], str]] | None = None) -> str:
    """Write ``rows`` as CSV (all columns given) and a markdown table; return the markdown."""
    fmt = fmt or {}
    with open(path_stem.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(fmt[c](v) if c in fmt and v not in ("", None) else (f"{v:.4g}" if isinstance(v, float) else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    path_stem.with_suffix(".md").write_text(text)
    return text


def mib(x: float) -> str:
    return f"{x / 2**20:.1f} MiB"


def gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"
