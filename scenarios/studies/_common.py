"""Shared plumbing for the study scripts: arguments, running points, writing tables.

Every study is one command (`python scenarios/studies/NAME.py [--quick] [--out DIR]`) that
runs a grid of scenario variants, writes a CSV and a markdown table of the numbers, and draws
PNG + SVG figures with pipesim.plot. `--quick` shrinks the grid so the test suite can smoke-run
every study in seconds; the committed figures come from full runs.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

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


def run_point(base: dict[str, Any] | str, overrides: Sequence[str] = (), level: str = "sim") -> dict[str, Any]:
    """Load ``base`` (a scenario dict or a path under scenarios/) with ``--set`` style overrides,
    build it and run it; returns the metrics dict (see pipesim.runner)."""
    from pipesim.runner import run_built
    from pipesim.scenario import build, load_scenario

    source: Any = base if isinstance(base, dict) else str(SCENARIOS / base)
    built = build(load_scenario(source, list(overrides)))
    return run_built(built, level).metrics  # type: ignore[arg-type]


def _run_job(job: tuple[dict[str, Any] | str, tuple[str, ...], str]) -> dict[str, Any]:
    base, overrides, level = job
    try:
        return run_point(base, overrides, level)
    except ValueError as exc:  # an infeasible point (e.g. a schedule's requirement) is a result too
        return {"error": str(exc).splitlines()[0]}


def map_with_progress(fn: Callable[[Any], dict[str, Any]], items: Sequence[Any], workers: int | None = None,
                      *, label: str = "runs") -> list[dict[str, Any]]:
    """``[fn(x) for x in items]`` in input order, in a process pool when ``workers`` > 1, with a
    transient progress bar. ``fn`` must be a module-level function (it is pickled)."""
    workers = workers or os.cpu_count() or 1
    from rich.progress import Progress

    results: list[dict[str, Any]] = []
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=len(items))
        if workers <= 1 or len(items) <= 1:
            for item in items:
                results.append(fn(item))
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for res in pool.map(fn, items):
                    results.append(res)
                    progress.advance(task)
    return results


def run_many(jobs: Iterable[tuple[dict[str, Any] | str, Sequence[str], str]], workers: int | None = None,
             *, label: str = "runs") -> list[dict[str, Any]]:
    """Run scenario variants (base, overrides, level) in a process pool, in input order."""
    return map_with_progress(_run_job, [(b, tuple(o), lvl) for b, o, lvl in jobs], workers, label=label)


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
