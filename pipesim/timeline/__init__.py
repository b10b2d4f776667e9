"""The timeline core under both evaluation levels: the compiled program and its metrics."""

from pipesim.timeline.memory import (
    ActivationSteps,
    activation_steps,
    activation_timelines,
    static_memory,
)
from pipesim.timeline.metrics import bubble_ratios, busy_and_spans, timeline_metrics
from pipesim.timeline.program import (
    SPAN_KIND,
    Compiled,
    MessageSpec,
    ReduceTime,
    action_duration,
    check_costs,
    compile_schedule,
)

__all__ = [
    "SPAN_KIND",
    "ActivationSteps",
    "Compiled",
    "MessageSpec",
    "ReduceTime",
    "action_duration",
    "activation_steps",
    "activation_timelines",
    "bubble_ratios",
    "busy_and_spans",
    "check_costs",
    "compile_schedule",
    "static_memory",
    "timeline_metrics",
]
