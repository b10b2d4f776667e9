"""Overlapped gradient synchronisation at the table level (``network.grad_sync: overlap``).

The simulation's overlap mode (``pipesim.sim.gradsync``) lets a device pass its REDUCE_GRAD at
once: the part's all-reduce starts when the last copy of the part has reached its REDUCE_GRAD,
runs beside compute, and the iteration ends when the last all-reduce lands. On a free network
the all-reduce itself takes no time, so it lands the part's reduce time (``reduce_time``, the
longest of its copies') after that last arrival. ``overlap_view`` gives the table level the
same model: the REDUCE_GRADs lose their rendezvous prerequisites and their device time, and
``Overlap.land`` is the time the last all-reduce lands. With ``blocking`` the table level keeps
the compiled program as it is (a rendezvous holding every copy for the reduce time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipesim.schedule.columns import CODE_REDUCE
from pipesim.timeline.program import Compiled, device_sums


@dataclass(frozen=True)
class Overlap:
    """The table level's inputs with every REDUCE_GRAD overlapped: the remote prerequisite slot
    (the one the table level reads; the REDUCE_GRADs have none: a device reaches one when it is
    free), durations (the REDUCE_GRADs take no device time) and, per model part, its copies and
    reduce time."""

    remote_array: np.ndarray  # ``Program.remote_array`` with the REDUCE_GRADs' slots emptied
    durations: list[float]
    parts: tuple[tuple[tuple[int, ...], float], ...]
    work: list[float]  # per device, its summed durations (``Compiled.work`` less the REDUCE_GRADs)

    def land(self, start: list[float]) -> float:
        """When the last all-reduce lands, given every action's start time."""
        return max((max(start[g] for g in members) + reduce for members, reduce in self.parts), default=0.0)


def overlap_view(compiled: Compiled) -> Overlap | None:
    """``compiled``'s inputs for the table level under ``grad_sync: overlap``; None when the
    schedule has no REDUCE_GRAD (nothing changes)."""
    program = compiled.program
    ids = np.flatnonzero(program.columns.kind == CODE_REDUCE).tolist()
    if not ids:
        return None
    n = program.num_actions
    remote, durations = program.remote_array.copy(), list(compiled.durations)
    remote[ids] = n  # the "none" slot
    stage_part = program.schedule.layout.stage_part
    groups: dict[int, list[int]] = {}
    for g in ids:
        durations[g] = 0.0
        groups.setdefault(stage_part[program.actions[g].stage], []).append(g)
    parts = tuple((tuple(m), max(compiled.durations[g] for g in m)) for _, m in sorted(groups.items()))
    held = compiled.duration_array.copy()
    held[ids] = 0.0
    return Overlap(remote, durations, parts, device_sums(program, held))
