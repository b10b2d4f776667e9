"""Dependencies derived from the layout, compiled into flat integer arrays.

Both the table-level evaluator and the SimPy engine walk the same ``Program``: every action
gets a global id (device-major, in list order) and a list of prerequisites. A prerequisite on
another device is a *message* (activation forward, gradient backward) or, for ``REDUCE_GRAD``,
a gradient synchronisation among replicas. Nothing here is hand-written per schedule.

Completion classes: ``F`` (forward output exists), ``G`` (input gradient exists: made by B or
I), ``W`` (weight gradient exists: made by B or W).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from pipesim.schedule.action import COMM, Action, Kind
from pipesim.schedule.table import Schedule

CLS_F, CLS_G, CLS_W = 0, 1, 2
# Prerequisite kinds, used for message sizes and labels.
DEP_LOCAL, DEP_ACT, DEP_GRAD, DEP_SYNC = 0, 1, 2, 3


class Dep(NamedTuple):
    """One prerequisite of an action: ``pred`` (global id) with ``kind`` (DEP_*).

    For DEP_ACT/DEP_GRAD, ``stage`` is the stage whose boundary tensor travels (the producer
    for activations, the receiver for gradients) so its size is ``costs.message_bytes[stage]``.
    """

    pred: int
    kind: int
    stage: int
    microbatch: int


@dataclass
class Program:
    schedule: Schedule
    actions: list[Action]  # gid -> action (comm markers removed)
    device: list[int]  # gid -> device
    step: list[int]  # gid -> position in the device's original list
    first: list[int]  # device -> first gid (gids of a device are contiguous)
    count: list[int]  # device -> number of actions
    deps: list[list[Dep]]  # gid -> prerequisites (never includes the previous action on the device)
    missing: list[tuple[int, Action, tuple[int, int, int]]]  # (gid, action, absent (cls, stage, mb))
    order: list[int] | None = None  # a valid execution order, set by validation

    @property
    def num_devices(self) -> int:
        return len(self.first)


def compile_program(schedule: Schedule) -> Program:
    """Number the actions and derive every action's prerequisites from the layout.

    Prerequisites whose producer is absent are collected in ``missing`` (validation turns them
    into errors); the evaluators never see an unvalidated program. This runs for every
    evaluation, so the loops are written flat: producer ids live in one list indexed by
    ``(class * S + stage) * M + microbatch``.
    """
    lay = schedule.layout
    S, M = max(lay.num_stages, 1), max(lay.num_microbatches, 1)
    SM = S * M
    mb_route, rprev, rnext = lay.mb_route, lay.route_prev, lay.route_next
    KF, KB, KI, KW, KR = Kind.F, Kind.B, Kind.I, Kind.W, Kind.REDUCE_GRAD

    actions: list[Action] = []
    device: list[int] = []
    step: list[int] = []
    first: list[int] = []
    count: list[int] = []
    producer = [-1] * (3 * SM)
    reduce_of: dict[int, int] = {}
    for d, acts in enumerate(schedule.actions):
        first.append(len(actions))
        for j, a in enumerate(acts):
            k = a.kind
            if k in COMM:
                continue
            gid = len(actions)
            actions.append(a)
            device.append(d)
            step.append(j)
            if k is KR:
                reduce_of[a.stage] = gid
                continue
            for part in (a,) if a.sub is None else a.sub:
                s, mb, k = part.stage, part.microbatch, part.kind
                if mb is None or not (0 <= s < S and 0 <= mb < M):
                    continue  # structural validation reports it
                key = s * M + mb
                if k is KF:
                    producer[key] = gid
                elif k is KB:
                    producer[SM + key] = gid
                    producer[2 * SM + key] = gid
                elif k is KI:
                    producer[SM + key] = gid
                else:
                    producer[2 * SM + key] = gid
        count.append(len(actions) - first[-1])

    deps: list[list[Dep]] = []
    new = tuple.__new__  # NamedTuple's own constructor is a Python function; this is not
    missing: list[tuple[int, Action, tuple[int, int, int]]] = []
    stage_mbs = lay.stage_microbatches
    part_stages = lay.part_stages
    stage_part = lay.stage_part

    for gid, a in enumerate(actions):
        dl: list[Dep] = []
        d = device[gid]
        if a.kind is KR:
            if 0 <= a.stage < S:
                for s2 in part_stages[stage_part[a.stage]]:
                    for mb in stage_mbs[s2]:
                        p = producer[2 * SM + s2 * M + mb]
                        if p < 0:
                            missing.append((gid, a, (CLS_W, s2, mb)))
                        else:
                            dl.append(Dep(p, DEP_SYNC if device[p] != d else DEP_LOCAL, s2, mb))
                    # A collective starts only when every replica has reached it: depend on
                    # the action before each partner's REDUCE_GRAD on the partner's device.
                    g2 = reduce_of.get(s2, -1)
                    if s2 != a.stage and g2 > first[device[g2]]:
                        dl.append(Dep(g2 - 1, DEP_SYNC if device[g2] != d else DEP_LOCAL, s2, -1))
            deps.append(dl)
            continue
        for part in (a,) if a.sub is None else a.sub:
            s, mb, k = part.stage, part.microbatch, part.kind
            if mb is None or not (0 <= s < S and 0 <= mb < M):
                continue
            r = mb_route[mb]
            # (producer index, dependency kind if remote, stage whose boundary tensor travels)
            if k is KF:
                prev = rprev[r][s]
                if prev < 0:
                    continue
                wants: tuple[tuple[int, int, int, int], ...] = ((prev * M + mb, DEP_ACT, prev, CLS_F),)
            elif k is KW:
                wants = ((SM + s * M + mb, DEP_LOCAL, s, CLS_G),)
            else:  # B or I
                nxt = rnext[r][s]
                wants = ((s * M + mb, DEP_LOCAL, s, CLS_F),) if nxt < 0 else \
                    ((s * M + mb, DEP_LOCAL, s, CLS_F), (SM + nxt * M + mb, DEP_GRAD, s, CLS_G))
            for index, kind, msg_stage, cls in wants:
                p = producer[index]
                if p < 0:
                    missing.append((gid, a, (cls, (index % SM) // M, mb)))
                elif p != gid:  # p == gid: produced inside the same overlapped chunk
                    dl.append(new(Dep, (p, kind if device[p] != d else DEP_LOCAL, msg_stage, mb)))
        deps.append(dl)
    return Program(schedule, actions, device, step, first, count, deps, missing)


def waiting_description(program: Program, gid: int, done: list[bool] | None = None) -> str:
    """Human text for what action ``gid`` waits for, e.g. '1F3 (device 1, step 6)'."""
    parts = []
    for dep in program.deps[gid]:
        if done is not None and done[dep.pred]:
            continue
        p = dep.pred
        parts.append(f"{program.actions[p]} (device {program.device[p]}, step {program.step[p]})")
    return ", ".join(parts) if parts else "nothing"
