"""Order search for a fixed layout (contract only; the optimiser lands with the search issue).

``search_order`` returns a validated schedule whose table-level makespan with the given costs
and delays is ``OrderResult.makespan``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule.layout import Layout
from pipesim.schedule.placement import timed_list_schedule
from pipesim.schedule.table import Schedule


@dataclass(frozen=True)
class OrderResult:
    schedule: Schedule  # validated; ``evaluate(schedule, costs, message_delay=...)`` reproduces makespan
    makespan: float
    evaluations: int  # candidate orders scored
    peak_memory: tuple[float, ...]  # per device, in the units of ``costs.activation_bytes``
    source: str  # which construction or move produced the winner


def search_order(
    layout: Layout,
    costs: Costs,
    *,
    split_backward: bool = False,
    message_delay: float = 0.0,
    edge_delay: Mapping[tuple[int, int], float] | None = None,
    memory_limit: float | Sequence[float] | None = None,
    seed: int = 0,
    max_evals: int | None = None,
    max_seconds: float | None = None,
    seeds_from: Sequence[Schedule] = (),
    progress: Callable[[int, float], None] | None = None,
) -> OrderResult:
    """Best order found for ``layout`` under ``costs``.

    ``edge_delay[(src_stage, dst_stage)]`` overrides ``message_delay`` for one hand-over (the
    delays measured by a simulation, fed back); ``memory_limit`` bounds each device's stashed
    activations (``costs.activation_bytes`` units; None: unbounded); ``seeds_from`` are orders
    (named generators) the search starts from and never returns anything worse than.
    Placeholder: the greedy list schedule, or the best seed.
    """
    del edge_delay, memory_limit, seed, max_evals, max_seconds
    rows, _ = timed_list_schedule(layout, costs=costs, message_delay=message_delay, split_backward=split_backward)
    best = Schedule.build("search", layout, rows)
    best_span = evaluate(best, costs, message_delay=message_delay).makespan
    for s in seeds_from:
        span = evaluate(s, costs, message_delay=message_delay).makespan
        if span < best_span:
            best, best_span = s, span
    r = evaluate(best, costs, message_delay=message_delay)
    if progress is not None:
        progress(1 + len(seeds_from), best_span)
    return OrderResult(best, best_span, 1 + len(seeds_from), tuple(r.peak_activation_bytes), "placeholder")
