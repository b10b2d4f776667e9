"""The sections of a scenario file, one pydantic model each (the top level is in ``schema``).

Quantities are parsed here, so everything after validation is SI (seconds, bytes, FLOP/s), and
the network options are typed values: ``network.policy`` a ``SharingPolicy``,
``network.chunk_bytes`` a ``Chunking``, ``parallel.placement`` a ``Placement`` (see
``pipesim.network``), each read by the same parser the flows reader uses. A section dumps back
to the spelling it reads (``Chunking`` -> ``"auto"``/``null``/bytes), so a resolved scenario can
be written out and loaded again.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, PlainSerializer, PlainValidator, model_validator

from pipesim.budget import DEFAULT_MAX_EVENTS, DEFAULT_MAX_MEMORY, MAX_DEVICES, MAX_SHAPE, Budget
from pipesim.inputs import InputError, as_text, as_whole, did_you_mean, show
from pipesim.network.options import Chunking, GradSync, SharingPolicy, parse_grad_sync, parse_policy
from pipesim.network.placement import Placement
from pipesim.scenario.fields import (
    Bool,
    FiniteTime,
    PerStageSize,
    PerStageTime,
    Section,
    Size,
    Text,
    Whole,
    choice,
    each,
    foreign_error,
    mapping,
    number_in,
    optional,
    quantity,
    whole,
)
from pipesim.scenario.split import BALANCED
from pipesim.units import UnitError
from pipesim.workload import (
    ATTENTIONS,
    COST_MODELS,
    DTYPES,
    MLPS,
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

SHAPE_KEYS = ("layers", "hidden", "heads", "seq_len", "vocab")
COST_UNITS = ("stage", "part", "device")
FORMATS = ("png", "svg", "pdf")


def _check_gpu(value: object) -> str:
    name = as_text(value)
    try:
        gpu_preset(name)
    except WorkloadError:
        hint = did_you_mean(name.lower().replace(" ", ""), known_gpus())
        raise InputError(f"unknown GPU {name!r}{hint}; known: {', '.join(known_gpus())}") from None
    return name


def _check_preset(value: object) -> str:
    name = as_text(value)
    try:
        model_preset(name)
    except WorkloadError:
        hint = did_you_mean(name.lower(), known_models())
        raise InputError(f"unknown model {name!r}{hint}; known: {', '.join(known_models())}") from None
    return name


def _check_optimizer(value: object) -> str | float:
    if isinstance(value, str) and value.lower() in OPTIMIZER_STATE_BYTES:
        return value.lower()
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise InputError(f"{show(value)} is not valid; valid: {', '.join(OPTIMIZER_STATE_BYTES)}, or bytes of state "
                     "per parameter")


def _check_flops(value: object) -> float:
    try:
        x = parse_flops(value)  # type: ignore[arg-type]
    except UnitError as exc:
        raise InputError(str(exc)) from None
    if not (x > 0 and math.isfinite(x)):
        raise InputError(f"{show(value)} is not a finite positive rate; expected a compute rate > 0 such as "
                         "'312 TFLOP/s'")
    return x


def _check_layers(value: object) -> tuple[int, ...] | str:
    if isinstance(value, str) and value.strip().lower() == BALANCED:
        return BALANCED
    if not isinstance(value, list | tuple) or not value:
        raise InputError(f"{show(value)} is not a list; expected one layer count per model part, e.g. [6, 6, 6, 6], "
                         f"or '{BALANCED}' (a split balanced by cost for the schedule)")
    return each(whole(0), value)


def _check_formats(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InputError(f"{show(value)} is not a list; expected a list of formats from {', '.join(FORMATS)}")
    return each(choice(FORMATS), items)


def _bits(value: object) -> int:
    b = as_whole(value)
    if b > 32:
        raise InputError(f"{b} is too large; expected a whole number within 1..32")
    return b


# Model shape numbers are bounded by MAX_SHAPE (pipesim.budget), pp and dp by MAX_DEVICES.
Shape = Annotated[int, BeforeValidator(whole(1, MAX_SHAPE))]
Devices = Annotated[int, BeforeValidator(whole(1, MAX_DEVICES))]


class ModelSection(Section):
    """A transformer: a preset (optionally with shape keys overriding it) or a full shape."""

    shorthand: ClassVar[str | None] = "preset"

    preset: Annotated[str | None, BeforeValidator(optional(_check_preset))] = None
    layers: Shape | None = None
    hidden: Shape | None = None
    heads: Shape | None = None
    seq_len: Shape | None = None
    vocab: Shape | None = None
    tied_embeddings: Bool | None = None
    learned_positions: Bool | None = None
    microbatch_size: Shape = 1
    dtype: Annotated[str, BeforeValidator(choice(tuple(DTYPES)))] = "bf16"
    recompute: Annotated[str, BeforeValidator(choice(RECOMPUTE_MODES))] = "none"
    # One layer count per model part; None: the workload's uniform split; 'balanced': by cost.
    layers_per_stage: Annotated[tuple[int, ...] | str | None, BeforeValidator(optional(_check_layers))] = None
    tensor_parallel: Whole = 1
    optimizer: Annotated[str | float, BeforeValidator(_check_optimizer)] = "adam"
    # Layer details the roofline cost model reads (docs/workload.md); None keeps the preset's.
    cost_model: Annotated[str | None, BeforeValidator(optional(choice(COST_MODELS)))] = None
    attention: Annotated[str | None, BeforeValidator(optional(choice(ATTENTIONS)))] = None
    kv_heads: Shape | None = None
    mlp: Annotated[str | None, BeforeValidator(optional(choice(MLPS)))] = None
    ffn_hidden: Shape | None = None
    dropout: Annotated[float | None, BeforeValidator(optional(number_in(0, 1)))] = None

    @model_validator(mode="after")
    def _shape(self) -> ModelSection:
        if self.preset is None:
            missing = [k for k in SHAPE_KEYS if getattr(self, k) is None]
            if missing:
                raise InputError(f"missing {', '.join(missing)}; give a preset ({', '.join(known_models())}) or all "
                                 f"of {', '.join(SHAPE_KEYS)}")
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

    gpu: Annotated[str | None, BeforeValidator(optional(_check_gpu))] = None
    efficiency: Annotated[float | None, BeforeValidator(
        optional(number_in(0, 1, low_open=True, what=" (achieved fraction of peak)")))] = None
    memory: Annotated[float | None, BeforeValidator(optional(quantity("size", positive=True, finite=True)))] = None
    peak_flops: Annotated[float | None, BeforeValidator(optional(_check_flops))] = None
    profile: Text | None = None  # a measured profile file, or a bundled one by name

    @model_validator(mode="after")
    def _named(self) -> HardwareSection:
        if self.gpu is None:
            raise InputError(f"missing; give a GPU preset: {', '.join(known_gpus())}", "gpu")
        return self

    def overrides(self) -> dict[str, float]:
        return {k: v for k, v in (("efficiency", self.efficiency), ("memory", self.memory),
                                  ("peak_flops", self.peak_flops)) if v is not None}


class NetworkSection(Section):
    """How messages use the links (``pipesim.network.options``): ``chunk_bytes`` is written
    ``auto`` or ``null``/``0`` (no chunks: max-min fair flows) or a size (store-and-forward
    chunks), and held as a ``Chunking``; ``grad_sync`` ``overlap`` or ``blocking``."""

    policy: Annotated[SharingPolicy, PlainValidator(lambda v: parse_policy(v))] = "fair"
    chunk_bytes: Annotated[Chunking, PlainValidator(lambda v: Chunking.parse(v)),
                           PlainSerializer(lambda c: c.spelling(), return_type=float | str | None)] = Chunking.AUTO
    overhead: FiniteTime = 0.0
    blocking_send: Bool = False
    grad_sync: Annotated[GradSync, PlainValidator(lambda v: parse_grad_sync(v))] = "overlap"

    @property
    def chunking(self) -> Chunking:
        return self.chunk_bytes


class ParallelSection(Section):
    # Optional only because a schedule CSV fixes them; Scenario._workload insists otherwise.
    pp: Devices | None = None  # pipeline devices
    dp: Devices = 1
    placement: Annotated[Placement | None, PlainValidator(optional(lambda v: Placement.parse(v))),
                         PlainSerializer(lambda p: None if p is None else list(p), when_used="json")] = None
    microbatches: Whole | None = None


def _check_schedule_name(value: object) -> str:
    name = as_text(value)
    if not name.strip():
        raise InputError("empty; give a schedule name (see `pipesim schedules`), or csv: FILE")
    return name


class ScheduleSection(Section):
    shorthand: ClassVar[str | None] = "name"

    name: Annotated[str | None, BeforeValidator(optional(_check_schedule_name))] = None
    options: Annotated[dict[str, Any], BeforeValidator(mapping)] = Field(default_factory=dict)
    csv: Text | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ScheduleSection:
        if self.name is not None and self.csv is not None:
            raise InputError(f"give either name ({self.name!r}) or csv ({self.csv!r}), not both")
        if self.csv is not None and self.options:
            raise InputError("options apply to a named generator; a csv schedule takes none")
        return self


class CompressionSection(Section):
    rank: Whole | None = None
    ratio: Annotated[float | None, BeforeValidator(optional(number_in(1, math.inf, what=" (h / k)")))] = None
    bits: Annotated[int | None, BeforeValidator(optional(_bits))] = None
    side_bytes_per_token: Size = 0.0
    projection: Bool = True

    @model_validator(mode="after")
    def _spec(self) -> CompressionSection:
        try:
            self.spec()
        except WorkloadError as exc:
            raise foreign_error(str(exc), "compression") from None
        return self

    def spec(self) -> CompressionSpec:
        return CompressionSpec(rank=self.rank, ratio=self.ratio, bits=self.bits,
                               side_bytes_per_token=self.side_bytes_per_token, projection=self.projection)


class LimitsSection(Section):
    """Work budgets (``pipesim.budget``): a run estimated to need more is refused before it
    starts. Raise them here or with ``pipesim run --max-events/--max-memory``."""

    max_events: Annotated[int, BeforeValidator(whole(1))] = DEFAULT_MAX_EVENTS
    max_memory: Annotated[float, BeforeValidator(quantity("size", positive=True, finite=True))] = DEFAULT_MAX_MEMORY

    @property
    def budget(self) -> Budget:
        return Budget(max_events=self.max_events, max_memory=self.max_memory)


class OutputsSection(Section):
    dir: Text | None = None
    gantt: Bool = True
    gantt_links: Bool = True
    trace: Bool = False
    metrics: Bool = True
    formats: Annotated[tuple[str, ...], BeforeValidator(_check_formats)] = ("png",)
