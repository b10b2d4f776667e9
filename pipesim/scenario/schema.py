"""The scenario file format: the top-level ``Scenario`` model and ``validate_scenario``.

A scenario is one YAML mapping (see ``scenarios/*.yaml`` for commented examples)::

    name, description
    model: {preset | layers, hidden, heads, seq_len, vocab; microbatch_size, dtype, ...}
      or costs: {F, B, I, W, message_bytes, ...}      (exactly one of model / costs)
    hardware: {gpu, efficiency, memory, peak_flops}
    topology: {kind, ...builder arguments}             (pipesim.network.build_topology)
    network: {policy, chunk_bytes, overhead, blocking_send, grad_sync}
    parallel: {pp, dp, placement, microbatches}
    schedule: {name, options} or {csv}
    compression: {rank | ratio, bits, side_bytes_per_token, projection}
    iterations
    outputs: {dir, gantt, gantt_links, trace, metrics, formats}

The sections are in ``pipesim.scenario.sections``, their pydantic glue in
``pipesim.scenario.fields``, the checks in ``pipesim.inputs``. Every problem becomes a
``ScenarioError``, an ``InputError`` whose path starts at ``scenario``: one line
``scenario.<key path>: <value and what is wrong>; <what is valid>`` for the first problem found;
``ScenarioError.lines`` holds all of them. Cross-section rules (exactly one workload, hardware
for a model) are checked here; the rest of the names below are re-exported so that
``from pipesim.scenario.schema import X`` keeps working.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from pipesim.inputs import (
    InputError,
    PathPart,
    as_mapping,
    as_text,
    render_path,
    show,
    suggest,
    unknown_key_message,
)
from pipesim.network.options import POLICIES
from pipesim.scenario.fields import (
    Bool,
    PerStageSize,
    PerStageTime,
    Section,
    Size,
    Text,
    Time,
    Whole,
    boolean,
    choice,
    mapping,
    number_in,
    per_stage_quantity,
    quantity,
    text,
    whole,
)
from pipesim.scenario.sections import (
    COST_UNITS,
    FORMATS,
    SHAPE_KEYS,
    CompressionSection,
    CostsSection,
    HardwareSection,
    LimitsSection,
    ModelSection,
    NetworkSection,
    OutputsSection,
    ParallelSection,
    ScheduleSection,
)
from pipesim.workload import known_gpus

ROOT = "scenario"

__all__ = [
    "COST_UNITS", "FORMATS", "POLICIES", "ROOT", "SHAPE_KEYS", "Bool", "CompressionSection", "CostsSection",
    "HardwareSection", "LimitsSection", "ModelSection", "NetworkSection", "OutputsSection", "ParallelSection",
    "PerStageSize", "PerStageTime", "Scenario", "ScenarioError", "ScheduleSection", "Section", "Size", "Text",
    "Time", "Whole", "boolean", "choice", "error_lines", "error_problems", "join_path", "mapping", "number_in",
    "per_stage_quantity", "quantity", "section_type", "suggest", "text", "unknown_key_message",
    "validate_scenario", "whole",
]


class ScenarioError(InputError):
    """A scenario that cannot be used: an ``InputError`` whose path starts at ``scenario`` (empty
    for problems with the file itself). ``str(err)`` is one line naming the key path, the value
    and what is valid; ``lines`` lists every problem found (the first is the message)."""


def join_path(parts: Sequence[PathPart]) -> str:
    """``("parallel", "placement", 3)`` -> ``"scenario.parallel.placement[3]"``."""
    return render_path((ROOT, *parts))


class Scenario(Section):
    """One validated scenario. Sections that were absent are None (their defaults apply)."""

    name: Annotated[str, BeforeValidator(lambda v: _file_name(v))] = "scenario"
    description: Text = ""
    model: ModelSection | None = None
    costs: CostsSection | None = None
    hardware: HardwareSection | None = None
    topology: Annotated[dict[str, Any] | None, BeforeValidator(lambda v: None if v is None else _topology(v))] = None
    network: NetworkSection = Field(default_factory=NetworkSection)
    parallel: ParallelSection = Field(default_factory=ParallelSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    compression: CompressionSection | None = None
    iterations: Whole = 1
    outputs: OutputsSection = Field(default_factory=OutputsSection)
    limits: LimitsSection = Field(default_factory=LimitsSection)

    # Folder that relative paths (schedule.csv) are resolved against; set by load_scenario.
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        return self._base_dir if self._base_dir is not None else Path.cwd()

    @model_validator(mode="after")
    def _workload(self) -> Scenario:
        if self.model is not None and self.costs is not None:
            raise InputError("give either a model section (a transformer, costs derived from FLOPs) or a costs "
                             "section (explicit F/B/I/W times), not both")
        if self.model is None and self.costs is None:
            raise InputError("missing a workload; give exactly one of model (e.g. model: {preset: gpt3-1.3b}) or "
                             "costs (e.g. costs: {F: 1 ms, B: 2 ms})")
        if self.model is not None and self.hardware is None:
            raise InputError(f"a model section needs hardware to turn FLOPs into seconds; add hardware: {{gpu: A100}} "
                             f"(known: {', '.join(known_gpus())})")
        if self.schedule.csv is None:
            for key, what in (("pp", "pipeline devices, e.g. pp: 4"),
                              ("microbatches", "microbatches per iteration, e.g. microbatches: 8")):
                if getattr(self.parallel, key) is None:
                    raise InputError(f"missing; give the number of {what} (only a schedule csv implies it)",
                                     ("parallel", key))
        if self.compression is not None and self.model is None:
            raise InputError("compression needs a model section (it rescales a transformer's boundary messages); "
                             "with explicit costs give the compressed message_bytes directly")
        return self


def _file_name(value: object) -> str:
    """A scenario's name names its output folder (``out/<name>``) and its sweep rows, so it must
    stay one path component: no separators, not "." or "..", nothing a file system rejects."""
    name = as_text(value)
    if not name.strip() or name in (".", "..") or any(c in name for c in '/\\:*?"<>|\0') or name != name.strip():
        raise InputError(f"{show(name)} cannot name an output folder; use letters, digits, '-', '_' and '.' "
                         "(no path separators, not '.' or '..')")
    return name


def _topology(value: object) -> dict[str, Any]:
    """Kept free-form (its device count may default to pp x dp); read at build time by
    ``pipesim.network.build_topology``."""
    if isinstance(value, str):
        return {"kind": value}
    data = as_mapping(value)
    if "kind" not in data:
        raise InputError("missing key 'kind'; expected kind: single_node, cluster, internet, wan_chain, free or graph")
    return data


# --------------------------------------------------------------------------------------------
# pydantic errors -> InputErrors located under ``scenario``


def error_problems(exc: ValidationError, root: Sequence[PathPart] = (ROOT,)) -> list[InputError]:
    """Every error pydantic collected, as an InputError whose path is ``root`` + its location."""
    problems: list[InputError] = []
    for err in exc.errors(include_url=False):
        loc = (*root, *(p for p in err["loc"] if not (isinstance(p, str) and _is_union_tag(p))))
        kind, msg = err["type"], err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, InputError):
            problems.extend(p.within(*loc) for p in cause.problems)
        elif isinstance(cause, ValueError):
            problems.append(InputError(str(cause), loc))
        elif kind == "extra_forbidden":
            problems.append(InputError(f"unknown key {str(loc[-1])!r}", loc[:-1]))
        elif kind == "missing":
            problems.append(InputError("missing; this key is required", loc))
        else:
            problems.append(InputError(f"{show(err.get('input'))}: {msg[0].lower() + msg[1:]}", loc))
    return problems


def error_lines(exc: ValidationError) -> list[str]:
    return [str(p) for p in error_problems(exc)]


def _is_union_tag(part: str) -> bool:
    # pydantic names union members in locations ("function-before[...]", "tuple[float, ...]").
    return "[" in part or part in ("float", "int", "str", "bool", "none", "literal['auto']")


def validate_scenario(data: Mapping[str, Any], *, default_name: str = "scenario") -> Scenario:
    """Validate a plain mapping (already YAML-parsed) into a ``Scenario`` or raise ``ScenarioError``."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{show(data)} is not a mapping; a scenario file is a YAML mapping of sections", (ROOT,))
    raw = dict(data)
    raw.setdefault("name", default_name)
    # A generator's own ``iterations`` option (PipeDream-style schedules) stands for the scenario's
    # count when that is not given, so the resolved scenario states it once, at the top.
    sched = raw.get("schedule")
    options = sched.get("options") if isinstance(sched, Mapping) else None
    if isinstance(options, Mapping) and "iterations" in options and raw.get("iterations") is None:
        raw["iterations"] = options["iterations"]
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError.collect(error_problems(exc)) from None


def section_type(annotation: Any) -> type[BaseModel] | Literal["free"] | None:
    args = [annotation]
    while args:
        a = args.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        origin = typing.get_origin(a)
        if origin is dict:
            return "free"
        args.extend(typing.get_args(a))
    return None
