"""The one metrics function both levels use, over (compiled program, start, end times).

A level passes its action start and end times (one list per pipeline replica) and its
makespan; everything that follows from times and the program alone -- busy time (from the
times, or at the table level from the durations: see ``busy_and_spans``), each device's own
span, both bubble ratios, activation and total memory peaks, weight copies -- is computed
here, so a key means the same thing at the table and at the simulation level. Each level then
adds what only it knows (the table level its message delay; the simulation its network
counters and waiting times).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import sub
from typing import Any

from pipesim.timeline.program import Compiled


def busy_and_spans(c: Compiled, start: Sequence[float], end: Sequence[float], table_work: list[float] | None = None
                   ) -> tuple[list[float], list[tuple[float, float]]]:
    """Per device: compute time, and its own span (first start to last end; (0, 0) if idle).

    ``table_work``: each device's summed durations, given by the table level, where every action
    holds its device for exactly its duration and a device's start and end times never
    decrease along its list (no negative duration); its busy time is then that sum and its span
    its first start and last end, with no pass over the times. Otherwise (the simulation, where
    a collective may hold a device longer) both come from the times."""
    busy: list[float] = []
    spans: list[tuple[float, float]] = []
    for f, n in zip(c.program.first, c.program.count, strict=True):
        if not n:
            spans.append((0.0, 0.0))
            busy.append(0.0)
        elif table_work is not None:
            spans.append((start[f], end[f + n - 1]))
        else:
            st, en = start[f : f + n], end[f : f + n]
            # ``map(sub, ...)`` yields the same differences, in the same order, as a generator
            # expression, at C speed: ``sum`` adds exactly the same floats.
            busy.append(sum(map(sub, en, st)))
            spans.append((min(st), max(en)))
    return (list(table_work) if table_work is not None else busy), spans


def bubble_ratios(busy: Sequence[float], spans: Sequence[tuple[float, float]], makespan: float) -> tuple[float, float]:
    """Idle over (devices x makespan), and idle inside each device's own span over the sum of
    spans (the Zero Bubble paper's measure)."""
    total = len(busy) * makespan
    span_total = sum(e - s for s, e in spans)
    work = sum(busy)
    return (0.0 if total == 0 else 1.0 - work / total, 0.0 if span_total == 0 else 1.0 - work / span_total)


def timeline_metrics(c: Compiled, start: Sequence[Sequence[float]], end: Sequence[Sequence[float]],
                     makespan: float, level: str, table_work: list[float] | None = None) -> dict[str, Any]:
    """Metrics of one evaluated program; ``start[r]``/``end[r]`` are replica r's action times.

    Per-device lists are replica-major (replica 0's devices first). Memory is in bytes when the
    costs carry sizes (``memory_unit`` "bytes": keys ``*_bytes``) and in stage-microbatch units
    otherwise (keys ``*_units``), so that no byte-named field ever holds a count.
    ``table_work`` as for ``busy_and_spans`` (one replica).
    """
    sched = c.schedule
    replicas = len(start)
    busy: list[float] = []
    spans: list[tuple[float, float]] = []
    for st, en in zip(start, end, strict=True):
        b, s = busy_and_spans(c, st, en, table_work)
        busy.extend(b)
        spans.extend(s)
    bubble, span_bubble = bubble_ratios(busy, spans, makespan)
    act = c.activation
    peak_act = [float(x) for x in act.peaks_b] * replicas
    static = list(c.static_memory) * replicas
    suffix = "bytes" if c.costs.sized else "units"
    return {
        "level": level,
        "schedule": sched.name,
        "devices": sched.num_devices,
        "stages": sched.num_stages,
        "microbatches": sched.num_microbatches,
        "makespan": makespan,
        "bubble_ratio": bubble,
        "span_bubble_ratio": span_bubble,
        "busy": busy,
        "device_spans": [list(s) for s in spans],
        "peak_activations": list(act.peaks_n) * replicas,
        "memory_unit": c.memory_unit,
        f"peak_activation_{suffix}": peak_act,
        f"static_memory_{suffix}": static,
        f"peak_memory_{suffix}": [s + a for s, a in zip(static, peak_act, strict=True)],
        "weight_copies": c.weight_copies() * replicas,
    }
