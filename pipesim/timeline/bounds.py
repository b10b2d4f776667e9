"""Lower bounds on the makespan that hold for any per-device order of the same actions."""

from __future__ import annotations

from pipesim.costs import Costs
from pipesim.schedule.action import COMM, Kind, compute_parts
from pipesim.schedule.table import Schedule
from pipesim.timeline.program import action_duration, check_costs


def critical_path_bound(schedule: Schedule, costs: Costs) -> float:
    """max(each device's total busy time, each microbatch's dependency chain).

    The chain of microbatch mb is its forward along its route, then its backward (B or I) back
    along the route, then the route head's W if the backward is split. A part computed inside an
    overlapped F&B chunk contributes the whole chunk, since its output exists only at the chunk's
    end. Message delays and gradient reductions are left out, so this bounds every level from below.
    """
    check_costs(schedule, costs)
    busy = [sum(action_duration(a, costs) for a in acts if a.kind not in COMM) for acts in schedule.actions]
    took: dict[tuple[int, Kind, int], float] = {}
    for acts in schedule.actions:
        for a in acts:
            if a.kind in COMM or a.kind is Kind.REDUCE_GRAD:
                continue
            d = action_duration(a, costs)
            for part in compute_parts(a):
                if part.microbatch is not None:
                    took[(part.stage, part.kind, part.microbatch)] = d
    lay = schedule.layout
    best = max(busy, default=0.0)
    for mb in range(lay.num_microbatches):
        route = lay.routes[lay.mb_route[mb]]
        chain = sum(took.get((s, Kind.F, mb), 0.0) for s in route)
        for s in reversed(route):
            chain += took.get((s, Kind.B, mb), took.get((s, Kind.I, mb), 0.0))
        chain += took.get((route[0], Kind.W, mb), 0.0)
        best = max(best, chain)
    return best
