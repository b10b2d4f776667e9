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

from pipesim.schedule.action import COMM, Action, Kind, compute_parts
from pipesim.schedule.table import Schedule

CLS_F, CLS_G, CLS_W = 0, 1, 2
# Prerequisite kinds, used for message sizes and labels.
DEP_LOCAL, DEP_ACT, DEP_GRAD, DEP_SYNC = 0, 1, 2, 3


@dataclass(slots=True)
class Dep:
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


def _key(cls: int, stage: int, mb: int, S: int, M: int) -> int:
    return (cls * S + stage) * M + mb


def compile_program(schedule: Schedule) -> Program:
    """Number the actions and derive every action's prerequisites from the layout.

    Prerequisites whose producer is absent are collected in ``missing`` (validation turns them
    into errors); the evaluators never see an unvalidated program.
    """
    lay = schedule.layout
    S, M = max(lay.num_stages, 1), max(lay.num_microbatches, 1)
    mb_route, rprev, rnext = lay.mb_route, lay.route_prev, lay.route_next
    stage_device = lay.stage_device

    actions: list[Action] = []
    device: list[int] = []
    step: list[int] = []
    first: list[int] = []
    count: list[int] = []
    producer = [-1] * (3 * S * M)
    reduce_of: dict[int, int] = {}
    for d, acts in enumerate(schedule.actions):
        first.append(len(actions))
        for j, a in enumerate(acts):
            if a.kind in COMM:
                continue
            gid = len(actions)
            actions.append(a)
            device.append(d)
            step.append(j)
            if a.kind is Kind.REDUCE_GRAD:
                reduce_of[a.stage] = gid
                continue
            for part in compute_parts(a):
                s, mb, k = part.stage, part.microbatch, part.kind
                if mb is None or not (0 <= s < S and 0 <= mb < M):
                    continue  # structural validation reports it
                if k is Kind.F:
                    producer[_key(CLS_F, s, mb, S, M)] = gid
                elif k is Kind.B:
                    producer[_key(CLS_G, s, mb, S, M)] = gid
                    producer[_key(CLS_W, s, mb, S, M)] = gid
                elif k is Kind.I:
                    producer[_key(CLS_G, s, mb, S, M)] = gid
                else:
                    producer[_key(CLS_W, s, mb, S, M)] = gid
        count.append(len(actions) - first[-1])

    deps: list[list[Dep]] = []
    missing: list[tuple[int, Action, tuple[int, int, int]]] = []
    stage_mbs = lay.stage_microbatches
    part_stages = lay.part_stages
    stage_part = lay.stage_part

    for gid, a in enumerate(actions):
        dl: list[Dep] = []
        d = device[gid]

        def need(cls: int, s: int, mb: int, kind: int, msg_stage: int, *, _dl: list[Dep] = dl, _g: int = gid,
                 _a: Action = a, _d: int = d) -> None:
            p = producer[_key(cls, s, mb, S, M)]
            if p < 0:
                missing.append((_g, _a, (cls, s, mb)))
                return
            if p == _g:
                return  # produced inside the same overlapped chunk; validation flags real cycles
            _dl.append(Dep(p, kind if device[p] != _d else DEP_LOCAL, msg_stage, mb))

        if a.kind is Kind.REDUCE_GRAD:
            if 0 <= a.stage < S:
                for s2 in part_stages[stage_part[a.stage]]:
                    for mb in stage_mbs[s2]:
                        p = producer[_key(CLS_W, s2, mb, S, M)]
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
        for part in compute_parts(a):
            s, mb, k = part.stage, part.microbatch, part.kind
            if mb is None or not (0 <= s < S and 0 <= mb < M):
                continue
            r = mb_route[mb]
            if k is Kind.F:
                prev = rprev[r][s]
                if prev >= 0:
                    need(CLS_F, prev, mb, DEP_ACT, prev)
            elif k is Kind.W:
                need(CLS_G, s, mb, DEP_LOCAL, s)
            else:  # B or I
                need(CLS_F, s, mb, DEP_LOCAL, s)
                nxt = rnext[r][s]
                if nxt >= 0:
                    need(CLS_G, nxt, mb, DEP_GRAD, s)
        # Replica partners that all-reduce on another device are handled via REDUCE_GRAD only.
        deps.append(dl)
    del stage_device
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
