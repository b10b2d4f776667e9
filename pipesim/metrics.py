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
