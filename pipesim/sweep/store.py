"""results.csv: one row per run, appended as runs finish, resumable, rewritten atomically.

``run_sweep`` appends one row to ``results.csv`` as each run finishes and flushes it, so an
interrupted sweep keeps every finished row; at the end (also after an interrupt) the file is
rewritten in expansion order, atomically (a temporary file, then ``os.replace``), so a reader
never sees half a file. Started again on the same folder, a sweep skips every run_id already
recorded with status ``ok`` and runs the rest (errors are retried). A last line cut short by a
crash is dropped on reading, and rows of earlier sweeps whose points the current spec no
longer has are kept, never silently deleted.

Next to it, ``sweep.yaml`` is the resolved sweep (base scenario inlined): it is what resuming
checks a folder against (same base scenario, level and columns), and it reproduces the sweep
on its own.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipesim.sweep.columns import flatten_metrics
from pipesim.sweep.executors import STATUS_ERROR, STATUS_OK
from pipesim.sweep.expand import RunPoint
from pipesim.sweep.spec import SweepError, SweepSpec, canonical, load_sweep

RESULTS_FILE, SPEC_FILE = "results.csv", "sweep.yaml"


def cell(value: Any) -> str:
    """One metric or parameter as results.csv text: floats by ``repr`` (round-trips exactly),
    booleans lower case, lists and mappings as canonical JSON, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        return canonical(value)
    return str(value)


def csv_line(columns: Sequence[str], row: Mapping[str, str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([row.get(c, "") for c in columns])
    return buf.getvalue()


def result_row(spec: SweepSpec, point: RunPoint, result: Mapping[str, Any]) -> dict[str, str]:
    """The results.csv row of one finished run (``result`` as the executors return it)."""
    row = {"run_id": point.run_id}
    row.update({k: cell(v) for k, v in point.params.items()})
    row["status"] = result["status"]
    row["error"] = result.get("error", "")
    metrics = flatten_metrics(result.get("metrics") or {})
    row.update({m: cell(metrics.get(m)) for m in spec.metric_columns})
    return row


def read_results(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a results.csv. A last line without its newline (a write cut short by a
    crash) and rows whose field count does not match the header are dropped."""
    path = Path(path)
    if not path.exists():
        return [], []
    raw = path.read_text(encoding="utf-8")
    if not raw.endswith("\n"):
        raw = raw[: raw.rfind("\n") + 1]  # drop the partial last line ("" if there is no full line)
    records = list(csv.reader(io.StringIO(raw)))
    if not records:
        return [], []
    header, rows = records[0], []
    for rec in records[1:]:
        if len(rec) != len(header):
            continue
        row = dict(zip(header, rec, strict=True))
        if row.get("status") in (STATUS_OK, STATUS_ERROR) and row.get("run_id"):
            rows.append(row)
    return header, rows



LOCK_FILE = ".sweep.lock"


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s sweep lock for the block, or fail at once if another sweep holds it.

    Two sweeps appending to one results.csv and rewriting it at the end would each drop the
    other's rows (the last writer wins), so a folder takes one sweep at a time. The lock is an
    advisory ``flock`` on a file in the folder: the kernel releases it when its holder dies,
    however it dies, so a killed sweep never leaves a stale lock behind.
    """
    path = out / LOCK_FILE
    fh = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise SweepError(f"another sweep (pid {holder}) is writing into {out}; wait for it to finish, "
                             "or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock


def write_atomic(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(csv_line(columns, {c: c for c in columns}))
        for row in rows:
            fh.write(csv_line(columns, row))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def ordered_rows(rows: Mapping[str, dict[str, str]], order: Mapping[str, int]) -> list[dict[str, str]]:
    """Rows of this expansion in expansion order, then rows of earlier sweeps into the same folder
    whose points this spec no longer has (kept, never silently deleted), in file order."""
    ours = sorted((r for r in rows.values() if r["run_id"] in order), key=lambda r: order[r["run_id"]])
    return ours + [r for r in rows.values() if r["run_id"] not in order]


def load_previous(spec: SweepSpec, out: Path) -> dict[str, dict[str, str]]:
    """Rows already in ``out/results.csv`` (the last row of a run_id wins), after checking that
    they come from the same sweep: same base scenario, level and columns."""
    results = out / RESULTS_FILE
    header, rows = read_results(results)
    if not header:
        return {}
    fix = f"choose another --out or delete {results}"
    if set(header) != set(spec.columns):
        missing = [c for c in spec.columns if c not in header]
        extra = [c for c in header if c not in spec.columns]
        detail = "; ".join(x for x in (f"this sweep adds {', '.join(missing)}" if missing else "",
                                       f"the file has {', '.join(extra)}" if extra else "") if x)
        raise SweepError(f"{results}: columns differ from this sweep's ({detail}); {fix}")
    old_spec = out / SPEC_FILE
    if rows and old_spec.exists():
        try:
            old = load_sweep(old_spec)
        except SweepError:
            old = None
        if old is not None:
            if old.level != spec.level:
                raise SweepError(f"{results}: holds {old.level}-level results and this sweep runs at the "
                                 f"{spec.level} level; {fix}")
            where = _first_difference(old.scenario, spec.scenario, "base")
            if where is not None:
                raise SweepError(f"{results}: was made from a different base scenario (first difference at "
                                 f"{where}); {fix}")
    return {row["run_id"]: row for row in rows}


def _first_difference(a: Any, b: Any, where: str) -> str | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{where}.{key}"
            found = _first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else where


def spec_to_dict(spec: SweepSpec, out_dir: str | Path | None = None) -> dict[str, Any]:
    """The resolved sweep as plain data: the base scenario inlined (so the output folder alone
    reproduces the sweep) with ``base_dir`` pointing from ``out_dir`` to the folder its
    relative paths used, and the metric columns spelled out."""
    data: dict[str, Any] = {}
    if spec.description:
        data["description"] = spec.description
    data["base"] = spec.scenario
    if out_dir is not None:
        try:
            data["base_dir"] = Path(os.path.relpath(spec.scenario_dir, Path(out_dir).resolve())).as_posix()
        except ValueError:  # pragma: no cover - another drive on Windows
            data["base_dir"] = spec.scenario_dir.as_posix()
    data["level"] = spec.level
    data["grid"] = {k: list(v) for k, v in spec.grid.items()}
    if spec.zip:
        data["zip"] = {k: list(v) for k, v in spec.zip.items()}
    data["metrics"] = spec.metric_columns
    return data


def write_spec(spec: SweepSpec, out: Path) -> None:
    head = "# The resolved sweep written by `pipesim sweep` (base scenario inlined). Run it again with\n"
    head += "# `pipesim sweep <this file> --out <this folder>` to resume.\n"
    # default_flow_style=None: lists of plain values on one line ([gpipe, 1f1b]), sections as blocks.
    body = yaml.safe_dump(spec_to_dict(spec, out), sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)
    tmp = out / f".{SPEC_FILE}.{os.getpid()}.tmp"
    tmp.write_text(head + body, encoding="utf-8")
    os.replace(tmp, out / SPEC_FILE)


# --------------------------------------------------------------------------------------------
