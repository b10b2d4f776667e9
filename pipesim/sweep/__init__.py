"""Sweeps: one base scenario, many override sets, one CSV row per run.

The package is split by job: ``spec`` (the sweep file's format, its validation,
``load_sweep``), ``expand`` (grid x zip -> ordered runs with stable ids), ``store``
(results.csv: append, resume, atomic rewrite, ``read_results``), ``executors`` (serial, process
pool, Dask, the progress line, and ``run_tasks`` for scripts) and ``run`` (``run_sweep``, which
connects them). The names below are what the CLI, the studies and the tests use.
"""

from pipesim.sweep.columns import LEVELS, METRICS, NOT_COLUMNS, flatten_metrics
from pipesim.sweep.executors import (
    EXECUTORS,
    STATUS_ERROR,
    STATUS_OK,
    make_task,
    map_items,
    one_line,
    run_point,
    run_tasks,
)
from pipesim.sweep.expand import RunPoint, expand, run_id_for
from pipesim.sweep.run import run_sweep
from pipesim.sweep.spec import SweepError, SweepSpec, load_sweep
from pipesim.sweep.store import RESULTS_FILE, SPEC_FILE, read_results, spec_to_dict

__all__ = [
    "EXECUTORS",
    "LEVELS",
    "METRICS",
    "NOT_COLUMNS",
    "RESULTS_FILE",
    "SPEC_FILE",
    "STATUS_ERROR",
    "STATUS_OK",
    "RunPoint",
    "SweepError",
    "SweepSpec",
    "expand",
    "flatten_metrics",
    "load_sweep",
    "make_task",
    "map_items",
    "one_line",
    "read_results",
    "run_id_for",
    "run_point",
    "run_sweep",
    "run_tasks",
    "spec_to_dict",
]
