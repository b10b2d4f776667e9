"""The scenario file format: pydantic v2 models, and the translation of their errors to one line.

A scenario is one YAML mapping (see ``scenarios/*.yaml`` for commented examples)::

    name, description
    model: {preset | layers, hidden, heads, seq_len, vocab; microbatch_size, dtype, ...}
      or costs: {F, B, I, W, message_bytes, ...}      (exactly one of model / costs)
    hardware: {gpu, efficiency, memory, peak_flops}
    topology: {kind, ...builder arguments}             (pipesim.network.build_topology)
    network: {policy, chunk_bytes, overhead, blocking_send}
    parallel: {pp, dp, placement, microbatches}
    schedule: {name, options} or {csv}
    compression: {rank | ratio, bits, side_bytes_per_token, projection}
    iterations
    outputs: {dir, gantt, gantt_links, trace, metrics, formats}

Quantities are parsed here (``pipesim.units``), so everything after validation is SI: seconds,
bytes, FLOP/s. Each section rejects unknown keys itself (rather than leaving it to pydantic's
``extra="forbid"``, which stays on as a backstop) because only the section knows its valid keys
and can suggest the nearest one. Every error becomes a ``ScenarioError`` whose message is a single
line ``scenario.<key path>: <value and what is wrong>; <what is valid>``: the first problem
found; ``ScenarioError.lines`` holds all of them.
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from pipesim.units import UnitError, parse
from pipesim.workload import (
    DTYPES,
    OPTIMIZER_STATE_BYTES,
    RECOMPUTE_MODES,
    CompressionSpec,
    WorkloadError,
    gpu_preset,
    known_gpus,
    known_models,
    model_preset,
    parse_flops,
)

ROOT = "scenario"
SHAPE_KEYS = ("layers", "hidden", "heads", "seq_len", "vocab")
COST_UNITS = ("stage", "part", "device")
POLICIES = ("fair", "fifo")
FORMATS = ("png", "svg", "pdf")


class ScenarioError(ValueError):
    """A scenario that cannot be used. ``str(err)`` is one line naming the key path, the value and
    what is valid; ``lines`` lists every problem found (the first is the message)."""

    def __init__(self, message: str, lines: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.lines: list[str] = list(lines) if lines else [message]


class FieldError(ValueError):
    """Raised inside validators; ``subpath`` (e.g. ``"[2]"``) extends the key path pydantic knows,
    so list items are named exactly (``scenario.costs.F[2]``)."""

    def __init__(self, message: str, subpath: str = "") -> None:
        super().__init__(message)
        self.subpath = subpath


# --------------------------------------------------------------------------------------------
# Key paths and suggestions


def join_path(parts: Sequence[str | int]) -> str:
    """``("parallel", "placement", 3)`` -> ``"scenario.parallel.placement[3]"``."""
    out = ROOT
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def suggest(word: str, options: Sequence[str]) -> str | None:
    """The valid key a typo most likely meant, or None.

    difflib alone misses short keys inside long typos (``pp_size`` -> ``pp`` scores 0.44), so a
    case-insensitive match and a shared ``_``-separated word are tried too.
    """
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return lowered[close[0]]
    words = set(re.split(r"[_\-.\s]+", word.lower())) - {""}
    for o in options:
        if words & set(re.split(r"[_\-.\s]+", o.lower())) or word.lower().startswith(o.lower()):
            return o
    return None


def unknown_key_message(key: object, valid: Sequence[str]) -> str:
    hint = suggest(str(key), valid)
    extra = f" (did you mean '{hint}'?)" if hint else ""
    return f"unknown key {str(key)!r}{extra}; valid keys: {', '.join(valid)}"


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------------------------
# Scalar validators (BeforeValidator factories). They see the raw YAML value.

_EXAMPLE = {"time": "'50 ms'", "size": "'32 MiB'", "rate": "'40 GB/s'", "number": "1.5"}


def _quantity(kind: str, value: object, *, positive: bool = False) -> float:
    try:
        x = parse(value, kind)  # type: ignore[arg-type]
    except UnitError as exc:
        raise FieldError(str(exc)) from None
    bound = "> 0" if positive else ">= 0"
    if x < 0 or (positive and x == 0):
        what = "negative" if x < 0 else "zero"
        raise FieldError(f"{_show(value)} is {what}; expected a {kind} {bound} such as {_EXAMPLE[kind]}")
    return x


def quantity(kind: str, *, positive: bool = False) -> Callable[[object], float]:
    def check(value: object) -> float:
        return _quantity(kind, value, positive=positive)

    return check


def per_stage_quantity(kind: str) -> Callable[[object], float | tuple[float, ...]]:
    """A single value (uniform) or a list with one value per stage/part/device."""

    def check(value: object) -> float | tuple[float, ...]:
        if isinstance(value, list | tuple):
            if not value:
                raise FieldError(f"empty list; give one {kind} or a list with one per stage")
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(_quantity(kind, v))
                except FieldError as exc:
                    raise FieldError(str(exc), f"[{i}]") from None
            return tuple(out)
        return _quantity(kind, value)

    return check


def whole(minimum: int = 1) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        ):
            raise FieldError(f"{_show(value)} is not a whole number; expected a whole number >= {minimum}")
        if value < minimum:
            raise FieldError(f"{_show(value)} is too small; expected a whole number >= {minimum}")
        return int(value)

    return check


def number_in(low: float, high: float, *, low_open: bool = False, what: str = "") -> Callable[[object], float]:
    def check(value: object) -> float:
        try:
            x = parse(value, "number")  # type: ignore[arg-type]
        except UnitError:
            raise FieldError(f"{_show(value)} is not a number; expected {_interval(low, high, low_open)}{what}") from None
        if not (low < x if low_open else low <= x) or not x <= high:
            raise FieldError(f"{_show(value)} is out of range; expected {_interval(low, high, low_open)}{what}")
        return x

    return check


def _interval(low: float, high: float, low_open: bool) -> str:
    left = "(" if low_open else "["
    return f"a number within {left}{low:g}, {high:g}]"


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise FieldError(f"{_show(value)} is not a boolean; expected true or false")


def text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise FieldError(f"{_show(value)} is not a string; expected text")


def choice(options: Sequence[str]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if isinstance(value, str) and value.lower() in options:
            return value.lower()
        hint = suggest(str(value), options)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise FieldError(f"{_show(value)} is not valid{extra}; valid: {', '.join(options)}")

    return check


def mapping(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    raise FieldError(f"{_show(value)} is not a mapping; expected key: value pairs")


def _check_gpu(value: object) -> str:
    name = text(value)
    try:
        gpu_preset(name)
    except WorkloadError:
        hint = suggest(name.lower().replace(" ", ""), known_gpus())
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise FieldError(f"unknown GPU {name!r}{extra}; known: {', '.join(known_gpus())}") from None
    return name


def _check_preset(value: object) -> str:
    name = text(value)
    try:
        model_preset(name)
    except WorkloadError:
        hint = suggest(name.lower(), known_models())
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise FieldError(f"unknown model {name!r}{extra}; known: {', '.join(known_models())}") from None
    return name


def _check_optimizer(value: object) -> str | float:
    if isinstance(value, str) and value.lower() in OPTIMIZER_STATE_BYTES:
        return value.lower()
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise FieldError(
        f"{_show(value)} is not valid; valid: {', '.join(OPTIMIZER_STATE_BYTES)}, or bytes of state per parameter"
    )


def _check_flops(value: object) -> float:
    try:
        x = parse_flops(value)  # type: ignore[arg-type]
    except UnitError as exc:
        raise FieldError(str(exc)) from None
    if not x > 0:
        raise FieldError(f"{_show(value)} is not positive; expected a compute rate > 0 such as '312 TFLOP/s'")
    return x


def _check_chunk(value: object) -> float | str | None:
    if value is None or value == "auto":
        return value  # type: ignore[return-value]
    if isinstance(value, str) and value.strip().lower() in ("off", "none", "no"):
        return None
    x = _quantity("size", value)
    return None if x == 0 else x


def _check_layers(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise FieldError(f"{_show(value)} is not a list; expected one layer count per model part, e.g. [6, 6, 6, 6]")
    check = whole(0)
    out = []
    for i, v in enumerate(value):
        try:
            out.append(check(v))
        except FieldError as exc:
            raise FieldError(str(exc), f"[{i}]") from None
    return tuple(out)


def _check_placement(value: object) -> tuple[int | str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise FieldError(
            f"{_show(value)} is not a list; expected one topology device (index or name) per pipeline "
            "device and replica, replica-major"
        )
    out: list[int | str] = []
    for i, v in enumerate(value):
        if isinstance(v, str):
            out.append(v)
            continue
        try:
            out.append(whole(0)(v))
        except FieldError as exc:
            raise FieldError(f"{exc}, or a topology device name", f"[{i}]") from None
    return tuple(out)


def _check_formats(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise FieldError(f"{_show(value)} is not a list; expected a list of formats from {', '.join(FORMATS)}")
    out = []
    for i, v in enumerate(items):
        try:
            out.append(choice(FORMATS)(v))
        except FieldError as exc:
            raise FieldError(str(exc), f"[{i}]") from None
    return tuple(out)


Time = Annotated[float, BeforeValidator(quantity("time"))]
Size = Annotated[float, BeforeValidator(quantity("size"))]
PerStageTime = Annotated[float | tuple[float, ...], BeforeValidator(per_stage_quantity("time"))]
PerStageSize = Annotated[float | tuple[float, ...], BeforeValidator(per_stage_quantity("size"))]
Whole = Annotated[int, BeforeValidator(whole(1))]
Bool = Annotated[bool, BeforeValidator(boolean)]
Text = Annotated[str, BeforeValidator(text)]


# --------------------------------------------------------------------------------------------
# Sections


class Section(BaseModel):
    """Base of every section: forbids unknown keys with a did-you-mean message of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # Shorthand: a bare scalar given for the whole section means this key (``model: 7b``).
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        if data is None:  # an empty section (``network:`` with nothing under it)
            return {}
        if cls.shorthand and isinstance(data, str):
            return {cls.shorthand: data}
        if not isinstance(data, Mapping):
            raise FieldError(f"{_show(data)} is not a mapping; expected keys: {', '.join(cls.model_fields)}")
        valid = list(cls.model_fields)
        for key in data:
            if key not in cls.model_fields:
                raise FieldError(unknown_key_message(key, valid))
        return data


class ModelSection(Section):
    """A transformer: a preset (optionally with shape keys overriding it) or a full shape."""

    shorthand: ClassVar[str | None] = "preset"

    preset: Annotated[str | None, BeforeValidator(lambda v: None if v is None else _check_preset(v))] = None
    layers: Whole | None = None
    hidden: Whole | None = None
    heads: Whole | None = None
    seq_len: Whole | None = None
    vocab: Whole | None = None
    tied_embeddings: Bool | None = None
    learned_positions: Bool | None = None
    microbatch_size: Whole = 1
    dtype: Annotated[str, BeforeValidator(choice(tuple(DTYPES)))] = "bf16"
    recompute: Annotated[str, BeforeValidator(choice(RECOMPUTE_MODES))] = "none"
    layers_per_stage: Annotated[tuple[int, ...] | None, BeforeValidator(_check_layers)] = None
    tensor_parallel: Whole = 1
    optimizer: Annotated[str | float, BeforeValidator(_check_optimizer)] = "adam"

    @model_validator(mode="after")
    def _shape(self) -> ModelSection:
        if self.preset is None:
            missing = [k for k in SHAPE_KEYS if getattr(self, k) is None]
            if missing:
                raise FieldError(
                    f"missing {', '.join(missing)}; give a preset ({', '.join(known_models())}) or all of "
                    f"{', '.join(SHAPE_KEYS)}"
                )
        return self


class CostsSection(Section):
    """Explicit costs for paper-style studies. Times in seconds (or abstract slots), sizes in
    bytes. ``per`` says what a value (or each list entry) describes: ``stage`` (a virtual stage,
    the table level's convention), ``part`` (a model part; replicas share it) or ``device`` (a
    device's share of one model copy, split evenly over the model parts it holds)."""

    per: Annotated[str, BeforeValidator(choice(COST_UNITS))] = "stage"
    F: PerStageTime = 1.0
    B: PerStageTime | None = None
    I: PerStageTime | None = None  # noqa: E741 - the literature's name
    W: PerStageTime | None = None
    message_bytes: PerStageSize = 0.0
    activation_bytes: PerStageSize | None = None
    param_bytes: PerStageSize = 0.0
    optimizer_bytes: PerStageSize = 0.0
    overlap: Annotated[float, BeforeValidator(number_in(0, 1, low_open=True, what=" (1 = F&B costs F + B)"))] = 1.0
    weight_keep: Annotated[float, BeforeValidator(number_in(0, 1))] = 0.5


class HardwareSection(Section):
    shorthand: ClassVar[str | None] = "gpu"

    gpu: Annotated[str | None, BeforeValidator(lambda v: None if v is None else _check_gpu(v))] = None
    efficiency: Annotated[float | None, BeforeValidator(
        lambda v: None if v is None else number_in(0, 1, low_open=True, what=" (achieved fraction of peak)")(v)
    )] = None
    memory: Annotated[float | None, BeforeValidator(
        lambda v: None if v is None else _quantity("size", v, positive=True))] = None
    peak_flops: Annotated[float | None, BeforeValidator(lambda v: None if v is None else _check_flops(v))] = None

    @model_validator(mode="after")
    def _named(self) -> HardwareSection:
        if self.gpu is None:
            raise FieldError(f"missing; give a GPU preset: {', '.join(known_gpus())}", ".gpu")
        return self

    def overrides(self) -> dict[str, float]:
        return {k: v for k, v in (("efficiency", self.efficiency), ("memory", self.memory),
                                  ("peak_flops", self.peak_flops)) if v is not None}


class NetworkSection(Section):
    policy: Annotated[str, BeforeValidator(choice(POLICIES))] = "fair"
    # "auto" = the network's default chunking; null or 0 = whole messages; a size = that chunk.
    chunk_bytes: Annotated[float | Literal["auto"] | None, BeforeValidator(_check_chunk)] = "auto"
    overhead: Time = 0.0
    blocking_send: Bool = False


class ParallelSection(Section):
    # Optional only because a schedule CSV fixes them; Scenario._workload insists otherwise.
    pp: Whole | None = Field(None, description="pipeline devices")
    dp: Whole = 1
    placement: Annotated[tuple[int | str, ...] | None, BeforeValidator(_check_placement)] = None
    microbatches: Whole | None = None


class ScheduleSection(Section):
    shorthand: ClassVar[str | None] = "name"

    name: Text | None = None
    options: Annotated[dict[str, Any], BeforeValidator(mapping)] = Field(default_factory=dict)
    csv: Text | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ScheduleSection:
        if self.name is not None and self.csv is not None:
            raise FieldError(f"give either name ({self.name!r}) or csv ({self.csv!r}), not both")
        if self.csv is not None and self.options:
            raise FieldError("options apply to a named generator; a csv schedule takes none")
        return self


class CompressionSection(Section):
    rank: Whole | None = None
    ratio: Annotated[float | None, BeforeValidator(
        lambda v: None if v is None else number_in(1, math.inf, what=" (h / k)")(v))] = None
    bits: Annotated[int | None, BeforeValidator(lambda v: None if v is None else _bits(v))] = None
    side_bytes_per_token: Size = 0.0
    projection: Bool = True

    @model_validator(mode="after")
    def _spec(self) -> CompressionSection:
        try:
            self.spec()
        except WorkloadError as exc:
            raise FieldError(_strip_key(str(exc), "compression")) from None
        return self

    def spec(self) -> CompressionSpec:
        return CompressionSpec(rank=self.rank, ratio=self.ratio, bits=self.bits,
                               side_bytes_per_token=self.side_bytes_per_token, projection=self.projection)


def _bits(value: object) -> int:
    b = whole(1)(value)
    if b > 32:
        raise FieldError(f"{b} is too large; expected a whole number within 1..32")
    return b


class OutputsSection(Section):
    dir: Text | None = None
    gantt: Bool = True
    gantt_links: Bool = True
    trace: Bool = False
    metrics: Bool = True
    formats: Annotated[tuple[str, ...], BeforeValidator(_check_formats)] = ("png",)


class Scenario(Section):
    """One validated scenario. Sections that were absent are None (their defaults apply)."""

    name: Text = "scenario"
    description: Text = ""
    model: ModelSection | None = None
    costs: CostsSection | None = None
    hardware: HardwareSection | None = None
    topology: Annotated[dict[str, Any] | None, BeforeValidator(
        lambda v: None if v is None else _topology(v))] = None
    network: NetworkSection = Field(default_factory=NetworkSection)
    parallel: ParallelSection = Field(default_factory=ParallelSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    compression: CompressionSection | None = None
    iterations: Whole = 1
    outputs: OutputsSection = Field(default_factory=OutputsSection)

    # Folder that relative paths (schedule.csv) are resolved against; set by load_scenario.
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        return self._base_dir if self._base_dir is not None else Path.cwd()

    @model_validator(mode="after")
    def _workload(self) -> Scenario:
        if self.model is not None and self.costs is not None:
            raise FieldError(
                "give either a model section (a transformer, costs derived from FLOPs) or a costs section "
                "(explicit F/B/I/W times), not both"
            )
        if self.model is None and self.costs is None:
            raise FieldError(
                "missing a workload; give exactly one of model (e.g. model: {preset: gpt3-1.3b}) or costs "
                "(e.g. costs: {F: 1 ms, B: 2 ms})"
            )
        if self.model is not None and self.hardware is None:
            raise FieldError(
                f"a model section needs hardware to turn FLOPs into seconds; add hardware: {{gpu: A100}} "
                f"(known: {', '.join(known_gpus())})"
            )
        if self.schedule.csv is None:
            for key, what in (("pp", "pipeline devices, e.g. pp: 4"), ("microbatches", "microbatches per "
                              "iteration, e.g. microbatches: 8")):
                if getattr(self.parallel, key) is None:
                    raise FieldError(f"missing; give the number of {what} (only a schedule csv implies it)",
                                     f".parallel.{key}")
        if self.compression is not None and self.model is None:
            raise FieldError(
                "compression needs a model section (it rescales a transformer's boundary messages); with "
                "explicit costs give the compressed message_bytes directly"
            )
        return self


def _topology(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        return {"kind": value}
    data = mapping(value)
    if "kind" not in data:
        raise FieldError(
            "missing key 'kind'; expected kind: single_node, cluster, internet, wan_chain, free or graph"
        )
    return data


def _strip_key(message: str, section: str) -> str:
    """``"compression.rank: 0; must be ..."`` -> ``"rank: 0; must be ..."`` (the caller adds the path)."""
    prefix = section + ": "
    if message.startswith(prefix):
        return message[len(prefix):]
    return message[len(section) + 1:] if message.startswith(section + ".") else message


# --------------------------------------------------------------------------------------------
# pydantic errors -> one line each


def error_lines(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and _is_union_tag(p))]
        kind, msg = err["type"], err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            lines.append(join_path(loc) + cause.subpath + ": " + str(cause))
        elif isinstance(cause, ValueError):
            lines.append(join_path(loc) + ": " + str(cause))
        elif kind == "extra_forbidden":
            lines.append(f"{join_path(loc[:-1])}: unknown key {str(loc[-1])!r}")
        elif kind == "missing":
            lines.append(f"{join_path(loc)}: missing; this key is required")
        else:
            value = err.get("input")
            lines.append(f"{join_path(loc)}: {_show(value)}: {msg[0].lower() + msg[1:]}")
    return lines


def _is_union_tag(part: str) -> bool:
    # pydantic names union members in locations ("function-before[...]", "tuple[float, ...]").
    return "[" in part or part in ("float", "int", "str", "bool", "none", "literal['auto']")


def validate_scenario(data: Mapping[str, Any], *, default_name: str = "scenario") -> Scenario:
    """Validate a plain mapping (already YAML-parsed) into a ``Scenario`` or raise ``ScenarioError``."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{ROOT}: {_show(data)} is not a mapping; a scenario file is a YAML mapping of sections")
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
        lines = error_lines(exc)
        raise ScenarioError(lines[0], lines) from None


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
