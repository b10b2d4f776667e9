"""The metric columns of a results.csv, per level, and how runner metrics become them.

The columns are fixed per level before anything runs, so every row of a results.csv has the
same columns whichever runs succeeded, and a ``metrics:`` selection can be checked (with a
suggestion) up front instead of after the first run. tests/test_sweep.py checks that every key
the runner reports is a column, reduced into one, or deliberately left out below, so a new
metric cannot go missing silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LEVELS = ("sim", "table")

_COMMON_HEAD = ("makespan", "iteration_time", "samples_per_s", "tokens_per_s", "bubble_ratio", "span_bubble_ratio")
_COMMON_MEMORY = ("max_peak_memory_bytes", "memory_limit_bytes", "fits_in_memory")
_COMMON_TAIL = ("max_peak_activations", "max_weight_copies", "max_staleness")
_SHAPE = ("devices", "stages", "microbatches", "iterations_simulated")

METRICS: dict[str, tuple[str, ...]] = {
    "table": (*_COMMON_HEAD, *_COMMON_MEMORY, *_COMMON_TAIL, *_SHAPE),
    "sim": (*_COMMON_HEAD, "compute_end", "total_waiting_for_data",
            *_COMMON_MEMORY, "num_over_memory_devices", *_COMMON_TAIL,
            "messages", "bytes_moved", "busiest_link", "busiest_link_utilisation", "busiest_link_bytes",
            "max_queueing_delay", "devices", "dp", "stages", "microbatches", "iterations_simulated"),
}

# Runner keys that are not columns: identity (the same in every row, or already a parameter),
# settings echoed back, and per-device / per-link lists that a reduced column summarises or that
# only make sense as a whole (use `pipesim run` on one point for those).
NOT_COLUMNS = frozenset({
    "level", "scenario", "schedule", "message_delay", "memory_unit",
    "busy", "device_spans", "peak_activation_bytes", "peak_memory_bytes", "static_memory_bytes",
    "peak_activation_units", "peak_memory_units", "static_memory_units",
    "idle_by_schedule", "idle_other", "links",
})


def _max(values: Any) -> Any:
    return max(values) if values else None


# list- or mapping-valued runner keys -> scalar columns
_REDUCE: dict[str, Callable[[Any], dict[str, Any]]] = {
    "peak_activations": lambda v: {"max_peak_activations": _max(v)},
    "weight_copies": lambda v: {"max_weight_copies": _max(v)},
    "waiting_for_data": lambda v: {"total_waiting_for_data": sum(v)},
    "over_memory_devices": lambda v: {"num_over_memory_devices": len(v)},
    "busiest_link": lambda v: {"busiest_link": v["name"], "busiest_link_utilisation": v["utilisation"],
                               "busiest_link_bytes": v["bytes"]} if v else {},
    "staleness": lambda v: {"max_staleness": _max([s["max_delay"] for s in v.get("stages", [])])} if v else {},
}


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The runner's metrics as scalars only: lists and mappings reduced (``peak_activations`` ->
    ``max_peak_activations``, ``busiest_link`` -> name, utilisation and bytes), others dropped."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in _REDUCE:
            out.update(_REDUCE[key](value))
        elif value is None or isinstance(value, bool | int | float | str):
            out[key] = value
    return out
