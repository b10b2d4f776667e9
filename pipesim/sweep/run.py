"""``run_sweep``: expand a sweep, skip what results.csv already holds, run the rest, record it.

Resuming and recording are results.csv's business (``pipesim.sweep.store``), running is the
executors' (``pipesim.sweep.executors``); this module only connects them, so the order of
events that makes a sweep resumable stays in one place: check the folder, write the spec,
rewrite results.csv clean, then append each row as its run finishes and rewrite the file in
expansion order at the end, also after an interrupt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipesim.sweep.executors import STATUS_OK, Progress, check_executor, make_task, stream
from pipesim.sweep.expand import expand
from pipesim.sweep.spec import SweepSpec, load_sweep
from pipesim.sweep.store import (
    RESULTS_FILE,
    csv_line,
    folder_lock,
    load_previous,
    ordered_rows,
    result_row,
    write_atomic,
    write_spec,
)


def run_sweep(
    spec: SweepSpec | str | Path | Mapping[str, Any],
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    executor: str = "process",
    address: str | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, str]], None] | None = None,
) -> Path:
    """Run every point of ``spec`` not yet recorded as ``ok`` in ``out_dir/results.csv``.

    ``executor``: ``process`` (a local process pool of ``jobs`` workers, default
    ``os.cpu_count()``; ``jobs=1`` runs in this process), ``serial`` (in this process), or
    ``dask`` (a ``dask.distributed`` scheduler at ``address``; without one, a ``LocalCluster`` of
    ``jobs`` single-threaded worker processes started and stopped for this call).
    ``on_result(row)`` is called in this process after each new row is written and flushed.
    Returns the path of results.csv.

    A script that starts worker processes (``process`` or ``dask`` without an address) must
    call this under ``if __name__ == "__main__":`` where the platform spawns workers (macOS,
    Windows, and always for Dask's local cluster): they import the main module again.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    check_executor(executor, jobs, address)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):
        return _run_locked(spec, out, jobs, executor, address, progress, on_result)


def _run_locked(spec: SweepSpec, out: Path, jobs: int | None, executor: str, address: str | None, progress: bool,
                on_result: Callable[[dict[str, str]], None] | None) -> Path:
    results = out / RESULTS_FILE
    columns = spec.columns
    points = expand(spec)
    order = {p.run_id: p.index for p in points}
    rows = load_previous(spec, out)
    write_spec(spec, out)
    todo = [p for p in points if rows.get(p.run_id, {}).get("status") != STATUS_OK]
    # Start from a clean file: the header, the recorded rows, no partial line to append after.
    write_atomic(results, columns, ordered_rows(rows, order))
    if progress and len(todo) < len(points):
        from rich.console import Console

        Console(stderr=True, markup=False, highlight=False).print(f"resuming: {len(points) - len(todo)} of {len(points)} runs already in "
                                   f"{results}, {len(todo)} to run")
    scenario = spec.scenario
    base_dir = str(spec.scenario_dir)
    tasks = [(p, make_task(scenario, p.overrides, spec.level, base_dir=base_dir, run_id=p.run_id)) for p in todo]
    bar = Progress(progress, len(tasks), f"sweep {spec.name}")
    runs = stream(tasks, executor, jobs, address, bar)
    try:
        with results.open("a", encoding="utf-8", newline="") as fh, contextlib.closing(runs):
            for point, result in runs:
                row = result_row(spec, point, result)
                rows[point.run_id] = row
                fh.write(csv_line(columns, row))
                fh.flush()
                bar.advance(row["status"] == STATUS_OK)
                if on_result is not None:
                    on_result(dict(row))
    finally:
        bar.stop()
        write_atomic(results, columns, ordered_rows(rows, order))
    return results

