"""The one message delay that cost-aware generators and timing passes take.

List-scheduled orders (Hanayo, asymmetric Chimera) and the ``REDUCE_GRAD`` placement are timed
at the table level's clock, where a message between two devices takes one fixed
``message_delay``. A scenario's network gives every boundary its own time, so the scenario
hands them a representative one: the mean, over every stage boundary that crosses devices
(each route's consecutive stages, forward activation and backward gradient), of what one
message of that boundary takes alone on its path:

    overhead + message_bytes / (narrowest bandwidth on the path) + sum of the path's latencies

Contention, store-and-forward chunking and the collectives are left to the simulation; this is
the delay an uncontended cut-through transfer sees, the same quantity the table level's
``--delay`` stands for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from pipesim.costs import Costs
from pipesim.schedule.table import Schedule


def representative_delay(schedule: Schedule, costs: Costs, topology: Any, placement: Sequence[int] | None,
                         overhead: float = 0.0) -> float:
    """Mean uncontended time of one boundary message (see the module docstring); 0.0 when no
    boundary crosses devices. ``placement`` maps the first replica's devices to the topology's
    (identity when None)."""
    lay = schedule.layout
    where = list(placement[: lay.num_devices]) if placement is not None else list(range(lay.num_devices))
    boundaries: set[tuple[int, int]] = set()
    for route in lay.routes:
        for a, b in pairwise(route):
            if lay.stage_device[a] != lay.stage_device[b]:
                boundaries.add((a, b))
    times: list[float] = []
    for a, b in sorted(boundaries):
        size = costs.message_bytes[a]
        ends = (where[lay.stage_device[a]], where[lay.stage_device[b]])
        for src, dst in (ends, ends[::-1]):  # the activation forward, the gradient back
            links = [topology.directed[i].spec for i in topology.route(src, dst)]
            bandwidth = min((x.bandwidth for x in links), default=math.inf)
            transfer = size / bandwidth if size > 0 and math.isfinite(bandwidth) else 0.0
            times.append(overhead + transfer + sum(x.latency for x in links))
    return sum(times) / len(times) if times else 0.0
