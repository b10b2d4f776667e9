"""Metrics computed from evaluation results and traces (JSON-friendly dictionaries)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipesim.ideal import TableResult


def table_metrics(result: TableResult) -> dict[str, Any]:
    """The table level's metrics: makespan, both bubble ratios, busy time, memory, weights."""
    sched = result.schedule
    return {
        "level": "table",
        "schedule": sched.name,
        "devices": sched.num_devices,
        "stages": sched.num_stages,
        "microbatches": sched.num_microbatches,
        "makespan": result.makespan,
        "bubble_ratio": result.bubble_ratio,
        "span_bubble_ratio": result.span_bubble_ratio,
        "busy": result.busy,
        "device_spans": [list(s) for s in result.spans],
        "peak_activations": result.peak_inflight,
        "peak_activation_bytes": result.peak_activation_bytes,
        "weight_copies": result.weight_copies,
        "message_delay": result.message_delay,
    }


def _bubbles(busy: list[float], spans: list[tuple[float, float]], makespan: float) -> tuple[float, float]:
    total = len(busy) * makespan
    span_total = sum(e - s for s, e in spans)
    bubble = 0.0 if total == 0 else 1.0 - sum(busy) / total
    span_bubble = 0.0 if span_total == 0 else 1.0 - sum(busy) / span_total
    return bubble, span_bubble


def sim_metrics(result: Any) -> dict[str, Any]:
    """The simulation level's metrics (``result`` is a ``pipesim.sim.engine.SimResult``)."""
    sim = result.simulation
    prog, sched = result.program, result.schedule
    p = prog.num_devices
    busy: list[float] = []
    spans: list[tuple[float, float]] = []
    for r in range(len(result.start)):
        for d in range(p):
            f, c = prog.first[d], prog.count[d]
            st, en = result.start[r][f : f + c], result.end[r][f : f + c]
            busy.append(sum(e - s for s, e in zip(st, en, strict=True)))
            spans.append((min(st), max(en)) if c else (0.0, 0.0))
    makespan = result.makespan
    bubble, span_bubble = _bubbles(busy, spans, makespan)
    links = sim.network.link_stats()
    for row in links:
        row["utilisation"] = row["busy_time"] / makespan if makespan > 0 else 0.0
    used = [row for row in links if row["bytes"] > 0]
    # Busy times equal but for float rounding (the two directions of a saturated path, say)
    # must tie, so that the name decides and not the order of additions.
    busiest = max(used, key=lambda row: (round(row["busy_time"], 12), row["name"]), default=None)
    queue = [row["max_queueing_delay"] for row in used]
    return {
        "level": "sim",
        "schedule": sched.name,
        "devices": p,
        "dp": sim.options.dp,
        "stages": sched.num_stages,
        "microbatches": sched.num_microbatches,
        "makespan": makespan,
        "compute_end": result.compute_end,
        "bubble_ratio": bubble,
        "span_bubble_ratio": span_bubble,
        "busy": busy,
        "waiting_for_data": list(result.waiting_for_data),
        "idle_by_schedule": list(result.idle_by_schedule),
        "idle_other": [max(0.0, makespan - b - w - i) for b, w, i in
                       zip(busy, result.waiting_for_data, result.idle_by_schedule, strict=True)],
        "peak_activations": sim.peak_activations,
        "peak_memory_bytes": sim.peak_memory,
        "static_memory_bytes": sim.static_memory,
        "over_memory_devices": sim.over_memory,
        "weight_copies": [sched.layout.weight_copies(d) for d in range(p)],
        # From the network's counters, not the trace: reading the trace would build every record.
        "messages": sim.network.delivered,
        "bytes_moved": sim.network.bytes_delivered,
        "links": used,
        "busiest_link": None if busiest is None else {"name": busiest["name"], "utilisation": busiest["utilisation"],
                                                      "bytes": busiest["bytes"]},
        "max_queueing_delay": max(queue, default=0.0),
    }
