"""Breadth-first looped pipeline (Lamy-Poirier's "looped BFS"): GPipe over v chunks per device.

Layout: v·p stages, stage s on device s % p (``linear_layout(p, m, v, style="loop")``).
Order on each device: for each local chunk in route order, every microbatch's forward
(microbatches in order); then for each local chunk in reverse order, every microbatch's
backward. Breadth-first means a chunk finishes all microbatches before the next chunk starts,
which favours large m (fewer weight switches, better overlap of data-parallel gradient
reduction) at the price of m·v microbatch-chunks of activations per device, like GPipe.

With uniform per-chunk costs the forward phase is a pipelined loop: for m >= p device 0 never
waits between chunks (its own m forwards take at least as long as a round trip of p), for m <= p
each round trip costs p slots. Makespan = (F+B)·max(v·m + p - 1, v·p + m - 1).
"""

from __future__ import annotations

from pipesim.schedule.layout import linear_layout
from pipesim.schedule.order import CODE_B, CODE_F, PlainOrder
from pipesim.schedule.registry import Generator, Option, RequirementError
from pipesim.schedule.table import Schedule


def looped_bfs(p: int, m: int, v: int = 2) -> Schedule:
    if v < 1:
        raise RequirementError(f"schedule 'looped-bfs': v={v}; need at least 1 chunk per device")
    layout = linear_layout(p, m, v, style="loop")
    layout.notes.update({"chunks_per_device": v})
    rows = []
    for d in range(p):
        row = [(c * p + d, CODE_F, mb) for c in range(v) for mb in range(m)]
        row += [(c * p + d, CODE_B, mb) for c in reversed(range(v)) for mb in range(m)]
        rows.append(row)
    return Schedule.from_order("looped-bfs", layout, PlainOrder.of_rows(rows), v=v)


GENERATORS = (
    Generator(
        "looped-bfs",
        looped_bfs,
        "breadth-first looped pipeline: v chunks per device, each chunk runs all microbatches",
        requirements="v >= 1",
        options=(Option("v", int, 2, "model chunks per device (loop placement)"),),
        aliases=("bfs",),
    ),
)
