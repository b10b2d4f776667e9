"""The trace: the one record every level (table, simulation) produces.

Metrics, exports and plots read only this, so they never care which level made it. Times are
seconds, sizes bytes. Spans are appended in the order they are *recorded*; consumers that need
time order sort (``Trace.sorted_spans``), which keeps recording cheap on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pipesim.gcpause import gc_paused

# Span kinds for compute: "F", "B", "I", "W", "F&B" (overlapped forward+backward chunk),
# "REDUCE_GRAD" (a device's share of a gradient all-reduce, as compute-stream time).
# Span kinds for links: "xfer" (one message or chunk crossing one link direction).
# Span kind for collectives: "allreduce" (one whole collective, on the device track).
COMPUTE_KINDS = ("F", "B", "I", "W", "F&B", "REDUCE_GRAD")
T = TypeVar("T")


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


class _Records(Generic[T]):
    """A list attribute of ``Trace`` (``spans``, ``messages``, ``memory``) whose every read first
    calls the trace's sources, so that what is read is complete."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, trace: Trace | None, owner: type | None = None) -> list[T]:
        if trace is None:  # read on the class (by documentation tools, say): the descriptor itself
            return self  # type: ignore[return-value]
        if trace._sources:
            trace._drain()
        return trace.__dict__[self.slot]  # type: ignore[no-any-return]

    def __set__(self, trace: Trace, value: list[T]) -> None:
        trace.__dict__[self.slot] = value


class Trace:
    """Devices and link tracks, spans, messages and memory samples of one run, plus free-form meta.

    Bulk producers (a running ``Network``, a finished ``Simulation``) need not build a Python object
    per record as they go: they register a *source* with ``add_source``, keep compact records of
    their own, and turn them into ``Span``/``Message``/``MemorySample`` objects when the source is
    called. Every read of ``spans``, ``messages`` or ``memory`` first calls the sources, so a reader
    always sees everything recorded so far, in recording order, and never needs a flush call.
    """

    spans = _Records[Span]()
    messages = _Records[Message]()
    memory = _Records[MemorySample]()

    def __init__(self, devices: list[str], links: list[str] | None = None, spans: list[Span] | None = None,
                 messages: list[Message] | None = None, memory: list[MemorySample] | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.devices = devices
        self.links = links if links is not None else []
        self._sources: list[tuple[Callable[[Trace], None], bool]] = []
        self.spans = spans if spans is not None else []
        self.messages = messages if messages is not None else []
        self.memory = memory if memory is not None else []
        self.meta = meta if meta is not None else {}

    def add_source(self, source: Callable[[Trace], None], *, once: bool = False) -> None:
        """Register ``source(trace)``: called before every read of the records (only the first, with
        ``once``), it appends what it has recorded since its previous call, through the same
        attributes (which do not call the sources again while they run)."""
        self._sources.append((source, once))

    def _drain(self) -> None:
        # Detach the sources while they run, so that their own reads and appends do not call them.
        # They build many objects that all stay alive: the cyclic collector would only walk them.
        sources, self._sources = self._sources, []
        try:
            with gc_paused():
                for source, _ in sources:
                    source(self)
        finally:
            self._sources = [s for s in sources if not s[1]] + self._sources

    def __getstate__(self) -> dict[str, Any]:
        # A source is a live producer (a network inside a SimPy environment): ship its records, not it.
        if self._sources:
            self._drain()
        state = dict(self.__dict__)
        state["_sources"] = []
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return (self.devices, self.links, self.spans, self.messages, self.memory, self.meta) == (
            other.devices, other.links, other.spans, other.messages, other.memory, other.meta)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (f"Trace(devices={len(self.devices)}, links={len(self.links)}, spans={len(self.spans)}, "
                f"messages={len(self.messages)}, memory={len(self.memory)})")

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
