"""The sweep file: its YAML format, its validation, and ``load_sweep``.

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
    max_runs: 100000                  # optional: a larger expansion is refused before anything runs

Keys under ``grid``/``zip`` are ``--set`` key paths; every run is ``load_scenario(base,
["path=value", ...])``, so a value is checked exactly as on the command line. Every swept path
is checked against the scenario schema here, before anything runs, so a typo fails the whole
sweep at once with a suggestion instead of failing every run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from pipesim.budget import DEFAULT_MAX_RUNS
from pipesim.inputs import InputError, suggest, unknown_key_message
from pipesim.scenario.load import apply_override, parse_override, plain_data, read_yaml
from pipesim.scenario.schema import ScenarioError, choice, error_problems, text, whole
from pipesim.sweep.columns import LEVELS, METRICS


class SweepError(InputError):
    """A sweep that cannot run: one line naming the key path (under ``sweep``), the value and
    what is valid. Raised with the path as a tuple, like every input error."""


def canonical(value: Any) -> str:
    """One JSON text per value (keys sorted): how values are compared and hashed into run ids."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def canonical_key(key: str) -> str:
    """A key path as ``parse_override`` reads it, written back one way (``a.b[2]``)."""
    parts, _ = parse_override(f"{key}=0")
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out

def _axes(distinct: bool) -> Callable[[object], dict[str, tuple[Any, ...]]]:
    """Validate a grid (``distinct``: a repeated value would repeat runs) or zip mapping."""

    def check(value: object) -> dict[str, tuple[Any, ...]]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise InputError(f"{_show(value)} is not a mapping; expected key.path: [values], "
                             "e.g. parallel.microbatches: [8, 16]")
        out: dict[str, tuple[Any, ...]] = {}
        for key, values in value.items():
            where = (str(key),)
            if not isinstance(key, str):
                raise InputError(f"key {key!r} is not a key path; expected e.g. parallel.microbatches", where)
            if not isinstance(values, list | tuple):
                raise InputError(f"{_show(values)} is not a list; give the values to try, e.g. {key}: [{values}]",
                                 where)
            if not values:
                raise InputError("empty list; give at least one value (or remove the key)", where)
            seen: dict[str, int] = {}  # a dict, not a list: 10^5 values must not cost 10^10 comparisons
            for i, v in enumerate(values if distinct else ()):
                canon = canonical(v)
                if canon in seen:
                    raise InputError(f"{_show(v)} appears twice (positions {seen[canon]} and {i}); "
                                     "every value gives a different run", where)
                seen[canon] = i
            out[key] = tuple(values)
        return out

    return check


def _check_base(value: object) -> str | dict[str, Any]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise InputError(f"{_show(value)} is neither a scenario file path nor a scenario mapping; "
                     "expected e.g. base: ../quickstart.yaml")


def _check_metrics(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise InputError(f"{_show(value)} is not a list of metric names; e.g. metrics: [makespan, bubble_ratio]")
    out: list[str] = []
    for i, v in enumerate(items):
        if not isinstance(v, str):
            raise InputError(f"{_show(v)} is not a metric name", (i,))
        if v in out:
            raise InputError(f"{v!r} is listed twice", (i,))
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
    # Runs one sweep may expand to (pipesim.budget): a grid is a product, and a few lists of
    # ten values already make 10^9 runs that would take years and a CSV no one can open.
    max_runs: Annotated[int, BeforeValidator(whole(1))] = DEFAULT_MAX_RUNS

    _scenario: dict[str, Any] = PrivateAttr(default_factory=dict)
    _scenario_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise InputError(f"{_show(data)} is not a mapping; a sweep file has keys {', '.join(cls.model_fields)}")
        for key in data:
            if key not in cls.model_fields:
                raise InputError(unknown_key_message(key, list(cls.model_fields)))
        if "base" not in data:
            raise InputError("missing key 'base'; give the scenario to vary, e.g. base: ../quickstart.yaml")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        lengths = {k: len(v) for k, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise InputError(f"lists of different lengths ({shown}); zip advances them together, so give "
                             "each the same number of values (or move one to grid)", ("zip",))
        if self.num_runs > self.max_runs:
            raise InputError(f"{self.num_runs:,} runs, over the budget of {self.max_runs:,}; raise it with max_runs: N "
                             "in the sweep file if you mean it, or split the sweep", ("grid",))
        first: dict[str, int] = {}
        for i, t in enumerate(zip(*self.zip.values(), strict=False)):
            p = canonical(list(t))
            if p in first:
                raise InputError(f"positions {first[p]} and {i} hold the same values; every "
                                 "position gives a different run", ("zip",))
            first[p] = i
        if self.metrics is not None:
            known = METRICS[self.level]
            for i, name in enumerate(self.metrics):
                if name in known:
                    continue
                other = next((lv for lv in LEVELS if lv != self.level and name in METRICS[lv]), None)
                if other:
                    raise InputError(f"{name!r} is only measured at the {other} level (this sweep runs at the "
                                     f"{self.level} level); metrics here: {', '.join(known)}", ("metrics", i))
                hint = suggest(name, known)
                extra = f" (did you mean '{hint}'?)" if hint else ""
                raise InputError(f"unknown metric {name!r}{extra}; metrics at the {self.level} level: "
                                 f"{', '.join(known)}", ("metrics", i))
        return self

    @property
    def scenario(self) -> dict[str, Any]:
        return copy.deepcopy(self._scenario)

    @property
    def scenario_dir(self) -> Path:
        return self._scenario_dir

    @property
    def name(self) -> str:
        """The sweep file's stem, else the base scenario's name."""
        return self._source.stem if self._source is not None else str(self._scenario.get("name", "sweep"))

    @property
    def parameters(self) -> list[str]:
        """Swept key paths (canonical), grid first then zip: the parameter columns."""
        return [canonical_key(k) for k in (*self.grid, *self.zip)]

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
            raise SweepError(exc.message.replace("scenario file", "sweep file", 1)) from None
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        first = error_problems(exc, ("sweep",))[0]
        raise SweepError(first.message, first.path) from None
    _resolve_base(spec, folder)
    _check_paths(spec)
    if not isinstance(source, Mapping):
        spec._source = Path(source)
    return spec


def _resolve_base(spec: SweepSpec, folder: Path) -> None:
    if isinstance(spec.base, str):
        if spec.base_dir is not None:
            raise SweepError(f"{spec.base_dir!r} applies to an inline base only; the base file "
                             f"{spec.base!r} resolves its own relative paths", ("sweep", "base_dir"))
        path = (folder / spec.base).resolve()
        try:
            data = read_yaml(path)
        except ScenarioError as exc:
            raise SweepError(str(exc), ("sweep", "base")) from None
        if not isinstance(data, Mapping):
            raise SweepError(f"'{spec.base}' holds a {type(data).__name__}, not a scenario mapping", ("sweep", "base"))
        scenario = dict(data)
        scenario.setdefault("name", path.stem)
        spec._scenario, spec._scenario_dir = scenario, path.parent
    else:
        spec._scenario = plain_data(spec.base)
        spec._scenario_dir = (folder / spec.base_dir).resolve() if spec.base_dir else folder.resolve()




def _check_paths(spec: SweepSpec) -> None:
    """Every swept key must be a scenario key path (checked against the schema, with a
    suggestion), appear once, and not contain another (the later override would win silently)."""
    seen: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    for section, axes in (("grid", spec.grid), ("zip", spec.zip)):
        for key, values in axes.items():
            where = ("sweep", section, key)
            parts = _parse_key(key, where)
            try:
                apply_override(copy.deepcopy(spec._scenario), parts, values[0])
            except ScenarioError as exc:
                raise SweepError(str(exc), where) from None
            for other, other_where in seen.items():
                short, long_ = sorted((other, tuple(parts)), key=len)
                if long_[:len(short)] == short:
                    raise SweepError(f"overlaps sweep.{other_where[1]}.{other_where[2]} (one path contains the other); "
                                     "sweep one of them", where)
            seen[tuple(parts)] = where


def _parse_key(key: str, where: tuple[str, str, str]) -> list[Any]:
    try:
        parts, _ = parse_override(f"{key}=0")
    except ScenarioError:
        raise SweepError(f"{key!r} is not a key path; expected e.g. parallel.microbatches or "
                         "parallel.placement[2]", where) from None
    return parts


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)
