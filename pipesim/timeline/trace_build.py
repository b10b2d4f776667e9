"""Building traces from a compiled program and action times, for either level.

Compute spans and memory samples depend only on the program and the times, so both levels
build them here; the table level adds its constant-delay messages, the simulation its network
records. Every span and message carries the facts of ``pipesim.trace``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipesim._version import __version__
from pipesim.timeline.program import Compiled
from pipesim.trace import MemorySample, Message, Span, Trace


def trace_meta(c: Compiled, level: str, time_unit: str | None = None) -> dict[str, Any]:
    sched = c.schedule
    return {"level": level, "schedule": sched.name, "devices": sched.num_devices, "stages": sched.num_stages,
            "microbatches": sched.num_microbatches, "time_unit": time_unit or "s", "memory_unit": c.memory_unit,
            "pipesim_version": __version__}


def compute_spans(c: Compiled, tracks: Sequence[str], start: Sequence[float], end: Sequence[float]) -> list[Span]:
    """One span per action of one pipeline replica; ``tracks[d]`` names device d's track."""
    device = c.program.device
    return [Span(tracks[device[g]], kind, start[g], end[g], stage, mb, 0.0, -1, label, 0.0, chunk, route, parts)
            for g, (kind, stage, mb, chunk, route, label, parts) in enumerate(c.span_facts())]


def memory_samples(c: Compiled, base: int, start: Sequence[float], end: Sequence[float]) -> list[MemorySample]:
    """Each device's memory (static + activations) at time 0 and after every change; devices
    are numbered from ``base`` (replica-major)."""
    out: list[MemorySample] = []
    for d, line in enumerate(c.activation.steps):
        static = c.static_memory[d]
        out.append(MemorySample(base + d, 0.0, 0.0, static))
        out.extend([MemorySample(base + d, start[g] if at_start else end[g], act, static + act)
                    for g, at_start, act, _ in line])
    return out


def table_trace(c: Compiled, start: Sequence[float], end: Sequence[float], message_delay: float,
                time_unit: str | None = None) -> Trace:
    """The table level's trace: spans, one message per cross-device dependency (sent when its
    producer ends, arriving ``message_delay`` later), memory."""
    prog = c.program
    devices = [f"gpu{d}" for d in range(prog.num_devices)]
    meta = trace_meta(c, "table", time_unit)
    meta.update({"message_delay": message_delay, "makespan": max(end, default=0.0)})
    labels = [str(a) for a in prog.actions]
    device, ms = prog.device, c.messages
    messages = [Message(k, device[src], device[dst], nbytes, end[src], end[src] + message_delay, kind, stage, mb, "",
                        labels[src], labels[dst])
                for k, (src, dst, kind, stage, mb, nbytes) in enumerate(
                    zip(ms.producer, ms.consumer, ms.kind, ms.stage, ms.microbatch, ms.nbytes, strict=True))]
    return Trace(devices=devices, spans=compute_spans(c, devices, start, end), messages=messages,
                 memory=memory_samples(c, 0, start, end), meta=meta)
