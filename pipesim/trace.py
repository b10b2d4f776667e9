"""The trace: the one record every level (table, simulation) produces.

Metrics, exports and plots read only this, so they never care which level made it. Times are
seconds, sizes bytes. Spans are appended in the order they are *recorded*; consumers that need
time order sort (``Trace.sorted_spans``), which keeps recording cheap on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Span kinds for compute: "F", "B", "I", "W", "F&B" (overlapped forward+backward chunk),
# "REDUCE_GRAD" (a device's share of a gradient all-reduce, as compute-stream time).
# Span kinds for links: "xfer" (one message or chunk crossing one link direction).
# Span kind for collectives: "allreduce" (one whole collective, on the device track).
COMPUTE_KINDS = ("F", "B", "I", "W", "F&B", "REDUCE_GRAD")


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

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Message:
    """One point-to-point transfer between devices (activation, gradient, collective piece)."""

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


@dataclass(slots=True)
class MemorySample:
    """Memory on one device just after ``time``; bytes (or microbatch units when no sizes)."""

    device: int
    time: float
    activations: float
    total: float


@dataclass
class Trace:
    devices: list[str]
    links: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def sorted_spans(self) -> list[Span]:
        return sorted(self.spans, key=lambda s: (s.start, s.end, s.track, s.kind, s.stage, s.microbatch))

    def compute_spans(self) -> list[Span]:
        names = set(self.devices)
        return [s for s in self.spans if s.track in names and s.kind in COMPUTE_KINDS]

    def link_spans(self) -> list[Span]:
        names = set(self.links)
        return [s for s in self.spans if s.track in names]

    @property
    def makespan(self) -> float:
        ends = [s.end for s in self.spans if s.track in set(self.devices)]
        return max(ends, default=0.0)
