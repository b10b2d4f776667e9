"""The trace: the one record every level (table, simulation) produces.

Metrics, exports and plots read only this, so they never care which level made it, and the
trace carries the facts they need so that none of them guesses: each compute span its stage,
the stage's chunk on its device, the microbatch's route and the sub-actions of an overlapped
chunk; each message the actions that produced and consumed it; the trace itself the units of
its times and memory, the pipesim version and (when it came from a scenario) the scenario's
hash. Spans are kept in the order they were recorded; consumers that need time order sort
(``Trace.sorted_spans``).

A trace is a plain container. A level that records compactly (flat lists of numbers while it
runs) builds the trace once, when it is first asked for, and never again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Span kinds for compute: "F", "B", "I", "W", "F&B" (overlapped forward+backward chunk),
# "REDUCE_GRAD" (a device's share of a gradient all-reduce, as compute-stream time).
# Span kinds for links: "xfer" (one message or chunk crossing one link direction).
# Span kind for collectives: "allreduce" (one whole collective, on its own track).
COMPUTE_KINDS = ("F", "B", "I", "W", "F&B", "REDUCE_GRAD")

#: Memory units a trace may declare in ``meta["memory_unit"]``.
MEMORY_UNITS = ("bytes", "stage-microbatch")


@dataclass(slots=True)
class Span:
    track: str
    kind: str
    start: float
    end: float
    stage: int = -1
    microbatch: int = -1
    nbytes: float = 0.0
    message: int = -1  # id of the Message this span carries (link spans), else -1
    label: str = ""
    queued: float = 0.0  # seconds the item waited before it started (links: queueing delay)
    chunk: int = -1  # compute spans: index of the stage among its device's stages
    route: int = -1  # compute spans: the microbatch's route in the layout
    parts: tuple[str, ...] = ()  # an overlapped chunk's sub-actions, e.g. ("0F3", "7B1")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Message:
    """One point-to-point transfer between devices (activation, gradient, collective piece).

    ``src``/``dst`` index ``Trace.devices`` (-1 when the end is not a device of the trace);
    ``producer``/``consumer`` are the labels of the compute spans on those devices that made and
    need it ("" for collectives and free-standing flows)."""

    id: int
    src: int
    dst: int
    nbytes: float
    sent: float
    arrived: float
    kind: str  # "act" | "grad" | "collective" | "flow"
    stage: int = -1  # producing stage
    microbatch: int = -1
    label: str = ""
    producer: str = ""
    consumer: str = ""


@dataclass(slots=True)
class MemorySample:
    """Memory on one device just after ``time``, in the trace's ``memory_unit``."""

    device: int
    time: float
    activations: float
    total: float


@dataclass(eq=True)
class Trace:
    """Devices and link tracks, spans, messages and memory samples of one run, plus meta.

    ``meta`` holds at least ``level``; levels add ``time_unit`` ("s", or "slot" for abstract
    costs), ``memory_unit`` (see ``MEMORY_UNITS``), ``pipesim_version`` and, from a scenario,
    ``scenario_hash``."""

    devices: list[str]
    links: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (f"Trace(devices={len(self.devices)}, links={len(self.links)}, spans={len(self.spans)}, "
                f"messages={len(self.messages)}, memory={len(self.memory)})")

    @property
    def time_unit(self) -> str:
        return str(self.meta.get("time_unit", "s"))

    @property
    def memory_unit(self) -> str:
        return str(self.meta.get("memory_unit", "bytes"))

    def sorted_spans(self) -> list[Span]:
        return sorted(self.spans, key=lambda s: (s.start, s.end, s.track, s.kind, s.stage, s.microbatch))

    @property
    def makespan(self) -> float:
        names = set(self.devices)
        return max((s.end for s in self.spans if s.track in names), default=0.0)
