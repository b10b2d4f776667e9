"""Sweeps: one base scenario, many override sets, one CSV row per run.

A sweep file (YAML, see ``scenarios/sweeps/``)::

    base: ../quickstart.yaml          # scenario file (relative to the sweep file) or an inline mapping
    level: sim                        # sim (default) | table
    grid:                             # cartesian product, first key varies slowest
      schedule.name: [gpipe, 1f1b]
      parallel.microbatches: [8, 16, 32]
    zip:                              # optional: advanced together, crossed with grid (innermost)
      topology.inter: [eth10, ib-hdr]
      network.chunk_bytes: [1 MiB, 4 MiB]
    metrics: [makespan, samples_per_s] # optional column selection (default: every scalar metric)
    base_dir: ..                      # optional, inline base only: folder for its relative paths
    description: free text

Keys under ``grid``/``zip`` are ``--set`` key paths; every run is ``load_scenario(base,
["path=value", ...])``, so a value is checked exactly as on the command line. A run's
``run_id`` is a hash of its canonical override set (paths and values, sorted), so reordering
keys in the file changes the expansion order but never an id.

``run_sweep`` appends one row to ``results.csv`` as each run finishes and flushes it, so an
interrupted sweep keeps every finished row; at the end (also after an interrupt) the file is
rewritten in expansion order, atomically. Started again on the same folder, it skips every
run_id already recorded with status ``ok`` and runs the rest (errors are retried).

Workers receive plain data (the base mapping and the override strings), never built objects,
so the same task runs in-process, in a process pool, or on a Dask cluster.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import itertools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from pipesim.scenario.load import apply_override, parse_override, plain_data, read_yaml
from pipesim.scenario.schema import (
    FieldError,
    ScenarioError,
    choice,
    suggest,
    text,
    unknown_key_message,
)

LEVELS = ("sim", "table")
EXECUTORS = ("process", "dask", "serial")
STATUS_OK, STATUS_ERROR = "ok", "error"
RESULTS_FILE, SPEC_FILE = "results.csv", "sweep.yaml"
DASK_INSTALL = "pip install -e '.[dask]' (or pip install 'dask[distributed]')"

# --------------------------------------------------------------------------------------------
# Metric columns
#
# The columns are fixed per level before anything runs, so every row of a results.csv has the
# same columns whichever runs succeeded, and a ``metrics:`` selection can be checked (with a
# suggestion) up front instead of after the first run. tests/test_sweep.py checks that every key
# the runner reports is a column, reduced into one, or deliberately left out below, so a new
# metric cannot go missing silently.

_COMMON_HEAD = ("makespan", "iteration_time", "samples_per_s", "tokens_per_s", "bubble_ratio", "span_bubble_ratio")
_COMMON_MEMORY = ("max_peak_memory_bytes", "memory_limit_bytes", "fits_in_memory")
_COMMON_TAIL = ("max_peak_activations", "max_weight_copies", "max_staleness")
_SHAPE = ("devices", "stages", "microbatches", "iterations_simulated")

METRICS: dict[str, tuple[str, ...]] = {
    "table": (*_COMMON_HEAD, *_COMMON_MEMORY, *_COMMON_TAIL, *_SHAPE),
    "sim": (*_COMMON_HEAD, "compute_end", "total_waiting_for_data",
            *_COMMON_MEMORY, "num_over_memory_devices", *_COMMON_TAIL,
            "messages", "bytes_moved", "busiest_link", "busiest_link_utilisation", "busiest_link_bytes",
            "max_queueing_delay", "devices", "dp", "stages", "microbatches", "iterations_simulated"),
}

# Runner keys that are not columns: identity (the same in every row, or already a parameter),
# settings echoed back, and per-device / per-link lists that a reduced column summarises or that
# only make sense as a whole (use `pipesim run` on one point for those).
NOT_COLUMNS = frozenset({
    "level", "scenario", "schedule", "message_delay", "memory_unit",
    "busy", "device_spans", "peak_activation_bytes", "peak_memory_bytes", "static_memory_bytes",
    "peak_activation_units", "peak_memory_units", "static_memory_units",
    "idle_by_schedule", "idle_other", "links",
})


def _max(values: Any) -> Any:
    return max(values) if values else None


# list- or mapping-valued runner keys -> scalar columns
_REDUCE: dict[str, Callable[[Any], dict[str, Any]]] = {
    "peak_activations": lambda v: {"max_peak_activations": _max(v)},
    "weight_copies": lambda v: {"max_weight_copies": _max(v)},
    "waiting_for_data": lambda v: {"total_waiting_for_data": sum(v)},
    "over_memory_devices": lambda v: {"num_over_memory_devices": len(v)},
    "busiest_link": lambda v: {"busiest_link": v["name"], "busiest_link_utilisation": v["utilisation"],
                               "busiest_link_bytes": v["bytes"]} if v else {},
    "staleness": lambda v: {"max_staleness": _max([s["max_delay"] for s in v.get("stages", [])])} if v else {},
}


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The runner's metrics as scalars only: lists and mappings reduced (``peak_activations`` ->
    ``max_peak_activations``, ``busiest_link`` -> name, utilisation and bytes), others dropped."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in _REDUCE:
            out.update(_REDUCE[key](value))
        elif value is None or isinstance(value, bool | int | float | str):
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# The sweep file


class SweepError(ValueError):
    """A sweep that cannot run; the message is one line naming the key, the value and what is valid."""


def _axes(distinct: bool) -> Callable[[object], dict[str, tuple[Any, ...]]]:
    """Validate a grid (``distinct``: a repeated value would repeat runs) or zip mapping."""

    def check(value: object) -> dict[str, tuple[Any, ...]]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise FieldError(f"{_show(value)} is not a mapping; expected key.path: [values], "
                             "e.g. parallel.microbatches: [8, 16]")
        out: dict[str, tuple[Any, ...]] = {}
        for key, values in value.items():
            where = f".{key}"
            if not isinstance(key, str):
                raise FieldError(f"key {key!r} is not a key path; expected e.g. parallel.microbatches", where)
            if not isinstance(values, list | tuple):
                raise FieldError(f"{_show(values)} is not a list; give the values to try, e.g. {key}: [{values}]",
                                 where)
            if not values:
                raise FieldError("empty list; give at least one value (or remove the key)", where)
            seen: list[str] = []
            for i, v in enumerate(values if distinct else ()):
                canon = _canonical(v)
                if canon in seen:
                    raise FieldError(f"{_show(v)} appears twice (positions {seen.index(canon)} and {i}); "
                                     "every value gives a different run", where)
                seen.append(canon)
            out[key] = tuple(values)
        return out

    return check


def _check_base(value: object) -> str | dict[str, Any]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise FieldError(f"{_show(value)} is neither a scenario file path nor a scenario mapping; "
                     "expected e.g. base: ../quickstart.yaml")


def _check_metrics(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise FieldError(f"{_show(value)} is not a list of metric names; e.g. metrics: [makespan, bubble_ratio]")
    out: list[str] = []
    for i, v in enumerate(items):
        if not isinstance(v, str):
            raise FieldError(f"{_show(v)} is not a metric name", f"[{i}]")
        if v in out:
            raise FieldError(f"{v!r} is listed twice", f"[{i}]")
        out.append(v)
    return tuple(out)


class SweepSpec(BaseModel):
    """A validated sweep file. ``scenario`` is the base scenario as a plain mapping (read from
    the file when ``base`` names one) and ``scenario_dir`` the folder its relative paths use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: Annotated[str | dict[str, Any], BeforeValidator(_check_base)]
    level: Annotated[str, BeforeValidator(choice(LEVELS))] = "sim"
    grid: Annotated[dict[str, tuple[Any, ...]], BeforeValidator(_axes(True))] = Field(default_factory=dict)
    zip: Annotated[dict[str, tuple[Any, ...]], BeforeValidator(_axes(False))] = Field(default_factory=dict)
    metrics: Annotated[tuple[str, ...] | None, BeforeValidator(_check_metrics)] = None
    base_dir: Annotated[str | None, BeforeValidator(lambda v: None if v is None else text(v))] = None
    description: Annotated[str, BeforeValidator(text)] = ""

    _scenario: dict[str, Any] = PrivateAttr(default_factory=dict)
    _scenario_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _base_file: Path | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise FieldError(f"{_show(data)} is not a mapping; a sweep file has keys {', '.join(cls.model_fields)}")
        for key in data:
            if key not in cls.model_fields:
                raise FieldError(unknown_key_message(key, list(cls.model_fields)))
        if "base" not in data:
            raise FieldError("missing key 'base'; give the scenario to vary, e.g. base: ../quickstart.yaml")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        lengths = {k: len(v) for k, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise FieldError(f"lists of different lengths ({shown}); zip advances them together, so give "
                             "each the same number of values (or move one to grid)", ".zip")
        positions = [_canonical(list(t)) for t in zip(*self.zip.values(), strict=False)]
        for i, p in enumerate(positions):
            if p in positions[:i]:
                raise FieldError(f"positions {positions.index(p)} and {i} hold the same values; every "
                                 "position gives a different run", ".zip")
        if self.metrics is not None:
            known = METRICS[self.level]
            for i, name in enumerate(self.metrics):
                if name in known:
                    continue
                other = next((lv for lv in LEVELS if lv != self.level and name in METRICS[lv]), None)
                if other:
                    raise FieldError(f"{name!r} is only measured at the {other} level (this sweep runs at the "
                                     f"{self.level} level); metrics here: {', '.join(known)}", f".metrics[{i}]")
                hint = suggest(name, known)
                extra = f" (did you mean '{hint}'?)" if hint else ""
                raise FieldError(f"unknown metric {name!r}{extra}; metrics at the {self.level} level: "
                                 f"{', '.join(known)}", f".metrics[{i}]")
        return self

    @property
    def scenario(self) -> dict[str, Any]:
        return copy.deepcopy(self._scenario)

    @property
    def scenario_dir(self) -> Path:
        return self._scenario_dir

    @property
    def base_file(self) -> Path | None:
        return self._base_file

    @property
    def name(self) -> str:
        """The sweep file's stem, else the base scenario's name."""
        return self._source.stem if self._source is not None else str(self._scenario.get("name", "sweep"))

    @property
    def parameters(self) -> list[str]:
        """Swept key paths (canonical), grid first then zip: the parameter columns."""
        return [_canonical_key(k) for k in (*self.grid, *self.zip)]

    @property
    def metric_columns(self) -> list[str]:
        return list(self.metrics if self.metrics is not None else METRICS[self.level])

    @property
    def columns(self) -> list[str]:
        return ["run_id", *self.parameters, "status", "error", *self.metric_columns]

    @property
    def num_runs(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n * (len(next(iter(self.zip.values()))) if self.zip else 1)


def load_sweep(source: str | Path | Mapping[str, Any], *, base_dir: str | Path | None = None) -> SweepSpec:
    """Read and check a sweep file (or an already parsed mapping; relative paths in it are then
    resolved against ``base_dir``, default the working directory). Raises ``SweepError``."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        try:
            data = read_yaml(path)
        except ScenarioError as exc:
            raise SweepError(str(exc).replace("scenario file", "sweep file", 1)) from None
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(_error_line(exc)) from None
    _resolve_base(spec, folder)
    _check_paths(spec)
    if not isinstance(source, Mapping):
        spec._source = Path(source)
    return spec


def _resolve_base(spec: SweepSpec, folder: Path) -> None:
    if isinstance(spec.base, str):
        if spec.base_dir is not None:
            raise SweepError(f"sweep.base_dir: {spec.base_dir!r} applies to an inline base only; the base file "
                             f"{spec.base!r} resolves its own relative paths")
        path = (folder / spec.base).resolve()
        try:
            data = read_yaml(path)
        except ScenarioError as exc:
            raise SweepError(f"sweep.base: {exc}") from None
        if not isinstance(data, Mapping):
            raise SweepError(f"sweep.base: '{spec.base}' holds a {type(data).__name__}, not a scenario mapping")
        scenario = dict(data)
        scenario.setdefault("name", path.stem)
        spec._scenario, spec._scenario_dir, spec._base_file = scenario, path.parent, path
    else:
        spec._scenario = plain_data(spec.base)
        spec._scenario_dir = (folder / spec.base_dir).resolve() if spec.base_dir else folder.resolve()




def _check_paths(spec: SweepSpec) -> None:
    """Every swept key must be a scenario key path (checked against the schema, with a
    suggestion), appear once, and not contain another (the later override would win silently)."""
    seen: dict[tuple[Any, ...], str] = {}
    for section, axes in (("grid", spec.grid), ("zip", spec.zip)):
        for key, values in axes.items():
            where = f"sweep.{section}.{key}"
            parts = _parse_key(key, where)
            try:
                apply_override(copy.deepcopy(spec._scenario), parts, values[0])
            except ScenarioError as exc:
                raise SweepError(f"{where}: {exc}") from None
            for other, other_where in seen.items():
                short, long_ = sorted((other, tuple(parts)), key=len)
                if long_[:len(short)] == short:
                    raise SweepError(f"{where}: overlaps {other_where} (one path contains the other); "
                                     "sweep one of them")
            seen[tuple(parts)] = where


def _parse_key(key: str, where: str) -> list[Any]:
    try:
        parts, _ = parse_override(f"{key}=0")
    except ScenarioError:
        raise SweepError(f"{where}: {key!r} is not a key path; expected e.g. parallel.microbatches or "
                         "parallel.placement[2]") from None
    return parts


def _canonical_key(key: str) -> str:
    parts, _ = parse_override(f"{key}=0")
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _error_line(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return f"sweep{loc}{cause.subpath}: {cause}"
    if isinstance(cause, ValueError):
        return f"sweep{loc}: {cause}"
    return f"sweep{loc}: {_show(err.get('input'))}: {err['msg']}"


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------------------------
# Expansion


@dataclass(frozen=True)
class RunPoint:
    """One run: its place in the expansion, id, swept values and the ``--set`` strings."""

    index: int
    run_id: str
    params: dict[str, Any]  # canonical key path -> value as written in the sweep file
    overrides: tuple[str, ...]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def run_id_for(params: Mapping[str, Any]) -> str:
    """10 hex digits of SHA-256 over the sorted (canonical path, value) pairs."""
    pairs = sorted((_canonical_key(k), _canonical(v)) for k, v in params.items())
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:10]


def _yaml_value(value: Any, key: str) -> str:
    """``value`` as the YAML text that ``--set`` parses back to exactly ``value``."""
    out = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False).strip()
    if out.endswith("\n..."):
        out = out[:-4]
    if yaml.safe_load(out) != value:  # pragma: no cover - safe_dump round-trips plain YAML data
        raise SweepError(f"sweep: cannot pass the value {value!r} of {key} as an override")
    return out


def expand(spec: SweepSpec) -> list[RunPoint]:
    """Every run, in a fixed order: the grid's cartesian product (first key slowest), and for
    each grid point every zip position. No grid and no zip: one run of the base."""
    grid_keys = [_canonical_key(k) for k in spec.grid]
    zip_keys = [_canonical_key(k) for k in spec.zip]
    zip_len = len(next(iter(spec.zip.values()))) if spec.zip else 1
    points: list[RunPoint] = []
    ids: dict[str, int] = {}
    for combo in itertools.product(*spec.grid.values()):
        for j in range(zip_len):
            params = dict(zip(grid_keys, combo, strict=True))
            params.update({k: values[j] for k, values in zip(zip_keys, spec.zip.values(), strict=True)})
            run_id = run_id_for(params)
            if run_id in ids:  # pragma: no cover - needs a SHA-256 prefix collision
                raise SweepError(f"sweep: runs {ids[run_id]} and {len(points)} have the same id {run_id}")
            ids[run_id] = len(points)
            overrides = tuple(f"{k}={_yaml_value(v, k)}" for k, v in params.items())
            points.append(RunPoint(len(points), run_id, params, overrides))
    return points


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


# --------------------------------------------------------------------------------------------
# The worker (plain data in, plain data out)


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one point: ``task`` holds ``run_id``, ``base`` (scenario mapping), ``base_dir``,
    ``overrides`` and ``level``. Any failure becomes ``status: error`` with a one-line message,
    so one bad point never stops a sweep."""
    from pipesim.runner import run_built
    from pipesim.scenario import build, load_scenario

    try:
        scenario = load_scenario(task["base"], list(task["overrides"]), base_dir=task["base_dir"])
        outcome = run_built(build(scenario), task["level"])
        metrics, status, error = flatten_metrics(outcome.metrics), STATUS_OK, ""
    except Exception as exc:
        metrics, status, error = {}, STATUS_ERROR, one_line(exc)
    return {"run_id": task["run_id"], "status": status, "error": error, "metrics": metrics}


def one_line(exc: BaseException) -> str:
    """The first line of an error; the type is named when it is not a user-facing error (a bug)."""
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    first = next((line.strip() for line in str(message).splitlines() if line.strip()), "")
    if isinstance(exc, ValueError | KeyError | OSError) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _task(spec: SweepSpec, scenario: dict[str, Any], point: RunPoint) -> dict[str, Any]:
    return {"run_id": point.run_id, "base": scenario, "base_dir": str(spec.scenario_dir),
            "overrides": list(point.overrides), "level": spec.level}


# --------------------------------------------------------------------------------------------
# results.csv


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        return _canonical(value)
    return str(value)


def _csv_line(columns: Sequence[str], row: Mapping[str, str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([row.get(c, "") for c in columns])
    return buf.getvalue()


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


def _write_atomic(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(_csv_line(columns, {c: c for c in columns}))
        for row in rows:
            fh.write(_csv_line(columns, row))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _ordered(rows: Mapping[str, dict[str, str]], order: Mapping[str, int]) -> list[dict[str, str]]:
    """Rows of this expansion in expansion order, then rows of earlier sweeps into the same folder
    whose points this spec no longer has (kept, never silently deleted), in file order."""
    ours = sorted((r for r in rows.values() if r["run_id"] in order), key=lambda r: order[r["run_id"]])
    return ours + [r for r in rows.values() if r["run_id"] not in order]


def _load_previous(spec: SweepSpec, out: Path) -> dict[str, dict[str, str]]:
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


def _write_spec(spec: SweepSpec, out: Path) -> None:
    head = "# The resolved sweep written by `pipesim sweep` (base scenario inlined). Run it again with\n"
    head += "# `pipesim sweep <this file> --out <this folder>` to resume.\n"
    # default_flow_style=None: lists of plain values on one line ([gpipe, 1f1b]), sections as blocks.
    body = yaml.safe_dump(spec_to_dict(spec, out), sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)
    tmp = out / f".{SPEC_FILE}.{os.getpid()}.tmp"
    tmp.write_text(head + body, encoding="utf-8")
    os.replace(tmp, out / SPEC_FILE)


# --------------------------------------------------------------------------------------------
# Running


class _Progress:
    """A rich progress bar on stderr, only when asked for and stderr is a terminal."""

    def __init__(self, enabled: bool, total: int, title: str) -> None:
        self.enabled = enabled and total > 0 and sys.stderr.isatty()
        self.total, self.title, self.errors = total, title, 0
        self._bar: Any = None
        self._task: Any = None

    def start(self) -> None:
        if not self.enabled or self._bar is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._bar.start()
        self._task = self._bar.add_task(self.title, total=self.total)

    def advance(self, ok: bool) -> None:
        self.errors += not ok
        if self._bar is not None:
            label = self.title + (f" [red]({self.errors} failed)[/red]" if self.errors else "")
            self._bar.update(self._task, advance=1, description=label)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


Results = Iterator[tuple[RunPoint, dict[str, Any]]]


def _serial(tasks: list[tuple[RunPoint, dict[str, Any]]], bar: _Progress) -> Results:
    bar.start()
    for point, task in tasks:
        yield point, run_point(task)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent should react (it cancels the
    # pool and keeps the finished rows). Workers that also raised would print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _process_pool(tasks: list[tuple[RunPoint, dict[str, Any]]], jobs: int, bar: _Progress) -> Results:
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)
    try:
        futures = {pool.submit(run_point, task): point for point, task in tasks}
        # The bar's refresh thread starts only now: the workers were forked during submit, and
        # forking a process that runs other threads can deadlock the child.
        bar.start()
        for fut in as_completed(futures):
            point = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # the worker process died (killed, out of memory, ...)
                result = _lost(point, exc)
            yield point, result
    except BaseException:
        # Runs already executing would otherwise finish first and keep the interrupt waiting,
        # so the workers are stopped (taken before shutdown, which forgets them).
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True)


def _dask(tasks: list[tuple[RunPoint, dict[str, Any]]], jobs: int | None, address: str | None,
          bar: _Progress) -> Results:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_as_completed
    except ImportError:
        raise SweepError(f"--executor dask needs dask.distributed, which is not installed; install it with "
                         f"{DASK_INSTALL}") from None
    with contextlib.ExitStack() as stack:
        if address is None:
            # No scheduler given: a throwaway cluster of single-threaded worker processes on this
            # machine (the simulations are pure Python, threads would contend for the GIL).
            cluster = stack.enter_context(LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout="20s"))
            except (OSError, TimeoutError, ValueError) as exc:
                raise SweepError(f"--address {address}: cannot reach a Dask scheduler there ({one_line(exc)}); "
                                 "start one with `dask scheduler` (and `dask worker ADDR`), or omit --address "
                                 "to start a local cluster for this run") from None
        futures = client.map(run_point, [task for _, task in tasks], pure=False)
        by_key = {fut.key: point for fut, (point, _) in zip(futures, tasks, strict=True)}
        bar.start()
        try:
            for fut in dask_as_completed(futures):
                point = by_key[fut.key]
                try:
                    result = fut.result()
                except Exception as exc:  # the task was lost with its worker
                    result = _lost(point, exc)
                yield point, result
        finally:
            client.cancel(futures)


def _lost(point: RunPoint, exc: BaseException) -> dict[str, Any]:
    return {"run_id": point.run_id, "status": STATUS_ERROR, "metrics": {},
            "error": f"the worker running this point failed: {one_line(exc)}"}


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
    if executor not in EXECUTORS:
        hint = suggest(str(executor), EXECUTORS)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise SweepError(f"--executor: {executor!r} is not an executor{extra}; valid: {', '.join(EXECUTORS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SweepError(f"--jobs: {jobs!r} is not a whole number >= 1")
    if address is not None and executor != "dask":
        raise SweepError(f"--address {address}: a scheduler address is for --executor dask, not {executor}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS_FILE
    columns = spec.columns
    points = expand(spec)
    order = {p.run_id: p.index for p in points}
    rows = _load_previous(spec, out)
    _write_spec(spec, out)
    todo = [p for p in points if rows.get(p.run_id, {}).get("status") != STATUS_OK]
    # Start from a clean file: the header, the recorded rows, no partial line to append after.
    _write_atomic(results, columns, _ordered(rows, order))
    if progress and len(todo) < len(points):
        from rich.console import Console

        Console(stderr=True).print(f"resuming: {len(points) - len(todo)} of {len(points)} runs already in "
                                   f"{results}, {len(todo)} to run")
    scenario = spec.scenario
    tasks = [(p, _task(spec, scenario, p)) for p in todo]
    bar = _Progress(progress, len(tasks), f"sweep {spec.name}")
    if executor == "dask":
        stream = _dask(tasks, jobs, address, bar)
    elif executor == "serial" or jobs == 1 or len(tasks) <= 1:
        stream = _serial(tasks, bar)
    else:
        stream = _process_pool(tasks, min(jobs or os.cpu_count() or 1, len(tasks)), bar)
    try:
        with results.open("a", encoding="utf-8", newline="") as fh, contextlib.closing(stream):
            for point, result in stream:
                row = _row(spec, point, result)
                rows[point.run_id] = row
                fh.write(_csv_line(columns, row))
                fh.flush()
                bar.advance(row["status"] == STATUS_OK)
                if on_result is not None:
                    on_result(dict(row))
    finally:
        bar.stop()
        _write_atomic(results, columns, _ordered(rows, order))
    return results


def _row(spec: SweepSpec, point: RunPoint, result: Mapping[str, Any]) -> dict[str, str]:
    row = {"run_id": point.run_id}
    row.update({k: _cell(v) for k, v in point.params.items()})
    row["status"] = result["status"]
    row["error"] = result.get("error", "")
    metrics = result.get("metrics") or {}
    row.update({m: _cell(metrics.get(m)) for m in spec.metric_columns})
    return row
