"""`pipesim sweep`: many scenarios from one sweep file, into one results.csv (resumable).

Exit status: 0 when every run of the sweep succeeded, 1 when some failed (their rows say why),
2 for a sweep that cannot start (bad file, bad option).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pipesim.units import format_size, format_time

if TYPE_CHECKING:
    from pipesim.sweep import SweepSpec

EPILOG = """\
The sweep file names a base scenario and the --set key paths to vary (grid: every
combination; zip: lists advanced together). See scenarios/sweeps/ for examples.

results.csv gets one row per run as it finishes; run the same command again to resume: runs
recorded with status ok are skipped, failed and missing ones run again.

executors:
  process  a pool of --jobs local worker processes (default: one per CPU; --jobs 1 runs here)
  serial   one run after the other in this process
  dask     a dask.distributed scheduler at --address HOST:PORT; without --address, a local
           cluster of --jobs worker processes is started for this sweep and stopped after it.
           Needs the optional extra: pip install -e '.[dask]'. Remote workers need pipesim
           installed and the paths the scenario refers to (schedule.csv).
"""

# Shown in the summary table when the sweep does not select its own metrics.
KEY_METRICS = ("makespan", "samples_per_s", "bubble_ratio", "max_peak_memory_bytes")
MAX_ROWS_SHOWN = 60
# Short headers so a table of parameters and four metrics fits an 80-column terminal.
HEADERS = {"samples_per_s": "samples/s", "tokens_per_s": "tokens/s", "bubble_ratio": "bubble",
           "span_bubble_ratio": "span bubble", "max_peak_memory_bytes": "peak memory",
           "max_peak_activations": "peak act.", "max_weight_copies": "weights",
           "busiest_link_utilisation": "busiest link", "total_waiting_for_data": "waiting"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("sweep", help="sweep YAML file (see scenarios/sweeps/)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="parallel runs (default: one per CPU)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder for results.csv and sweep.yaml (default: out/<sweep file stem>)")
    p.add_argument("--executor", choices=("process", "dask", "serial"), default=None,
                   help="process (default), serial, or dask (default when --address is given)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --executor dask)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or resume note on stderr")


def run(args: argparse.Namespace) -> int:
    from pipesim.sweep import expand, load_sweep, read_results, run_sweep

    executor = args.executor or ("dask" if args.address else "process")
    spec = load_sweep(args.sweep)
    out = Path(args.out) if args.out else Path("out") / Path(args.sweep).stem
    with terminate_as_interrupt():
        path = run_sweep(spec, out, jobs=args.jobs, executor=executor, address=args.address,
                         progress=not args.no_progress)
    _, rows = read_results(path)
    ids = {p.run_id for p in expand(spec)}
    rows = [r for r in rows if r["run_id"] in ids]  # rows of earlier sweeps stay in the file only
    print_summary(spec, rows, path)
    failed = sum(r["status"] != "ok" for r in rows) + len(ids) - len(rows)
    if failed:
        # On stderr too, so that a script that keeps only stderr (or --no-progress) learns it.
        print(f"pipesim sweep: error: {failed} of {len(ids)} runs failed; their errors are in the 'error' column "
              f"of {path}", file=sys.stderr)
    return 1 if failed else 0


def key_metrics(spec: SweepSpec) -> list[str]:
    """Up to four metric columns for the terminal: the start of the sweep's own selection, else
    the usual four (those measured at its level)."""
    if spec.metrics is not None:
        return list(spec.metrics[:4])
    return [m for m in KEY_METRICS if m in spec.metric_columns]


def format_metric(name: str, text: str) -> str:
    """One results.csv cell for the terminal, in the unit its name implies."""
    if text == "":
        return "-"
    try:
        x = float(text)
    except ValueError:
        return text
    if name in ("makespan", "iteration_time", "compute_end", "max_queueing_delay", "total_waiting_for_data"):
        return format_time(x)
    if name.endswith("_bytes") or name == "bytes_moved":
        return format_size(x)
    if name.endswith("_ratio") or name.endswith("_utilisation"):
        return f"{x:.1%}"
    return f"{x:.4g}"


def column_names(paths: list[str]) -> list[str]:
    """Short headers for swept key paths: the last component (``parallel.microbatches`` ->
    ``microbatches``) unless two paths share it, then the whole path."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return [short if last.count(short) == 1 else p for p, short in zip(paths, last, strict=True)]


def print_summary(spec: SweepSpec, rows: list[dict[str, str]], path: Path) -> None:
    from rich.text import Text

    from pipesim.cli.common import plain_console, plain_table

    console = plain_console()
    metrics = key_metrics(spec)
    failed = [r for r in rows if r["status"] != "ok"]
    title = (f"sweep {spec.name}: {len(rows)} runs at the {spec.level} level"
             + (f", {len(failed)} failed" if failed else ""))
    console.print(title)
    table = plain_table(*column_names(spec.parameters), *(HEADERS.get(name, name) for name in metrics))
    for column in table.columns[len(spec.parameters):]:
        column.justify = "right"
    for row in rows[:MAX_ROWS_SHOWN]:
        cells: list[str | Text] = [row.get(name, "") for name in spec.parameters]
        if row["status"] == "ok":
            cells += [format_metric(name, row.get(name, "")) for name in metrics]
        else:
            cells += [Text("failed", style="red")] + ["" for _ in metrics[1:]]
        table.add_row(*cells)
    console.print(table)
    if len(rows) > MAX_ROWS_SHOWN:
        console.print(f"... {len(rows) - MAX_ROWS_SHOWN} more rows in {path}")
    for row in failed[:MAX_ROWS_SHOWN]:
        where = ", ".join(f"{name}={row.get(name, '')}" for name in spec.parameters)
        console.print(Text.assemble(("failed", "red"), f" {row['run_id']} ({where}): {row.get('error', '')}"))
    console.print(f"wrote {path}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C for the block: the sweep then stops its workers and rewrites
    results.csv with every finished row before the process exits (the default SIGTERM action
    would end this process at once and leave the workers running)."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
