"""Lowering passes: small pure functions from a schedule to a schedule.

Each pass keeps ``validate()`` passing. ``strip_comms`` and ``add_send_recv`` never change
evaluation (the evaluators derive messages from dependencies, communication actions are markers
for runtimes such as PyTorch's ``_PipelineScheduleRuntime``). ``split_backward`` and
``merge_iw`` change the computation: splitting releases the input gradient W earlier, so with
B = I + W a split schedule is never slower, and with W = 0 (I = B) it is timed identically.

PyTorch's conventions, kept here: ``SEND_F`` on stage s sends s's output to the next stage;
``RECV_F`` on stage s receives s's input; ``SEND_B`` on stage s sends the gradient of s's input
to the previous stage; ``RECV_B`` on stage s receives the gradient of s's output.
"""

from __future__ import annotations

from pipesim.schedule.action import COMM, Action, Kind, compute_parts
from pipesim.schedule.table import Schedule


def strip_comms(schedule: Schedule) -> Schedule:
    """The same schedule without SEND/RECV actions (compute-only, as generators produce it)."""
    return schedule.with_actions([[a for a in acts if a.kind not in COMM] for acts in schedule.actions])


def _recvs_and_sends(schedule: Schedule, action: Action) -> tuple[list[Action], list[Action]]:
    lay = schedule.layout
    dev = lay.stage_device
    before: list[Action] = []
    after: list[Action] = []
    for part in compute_parts(action):
        s, mb = part.stage, part.microbatch
        if mb is None or part.kind is Kind.W:
            continue
        r = lay.mb_route[mb]
        prev, nxt = lay.route_prev[r][s], lay.route_next[r][s]
        if part.kind is Kind.F:
            if prev >= 0 and dev[prev] != dev[s]:
                before.append(Action(s, Kind.RECV_F, mb))
            if nxt >= 0 and dev[nxt] != dev[s]:
                after.append(Action(s, Kind.SEND_F, mb))
        elif part.kind in (Kind.B, Kind.I):
            if nxt >= 0 and dev[nxt] != dev[s]:
                before.append(Action(s, Kind.RECV_B, mb))
            if prev >= 0 and dev[prev] != dev[s]:
                after.append(Action(s, Kind.SEND_B, mb))
    return before, after


def add_send_recv(schedule: Schedule) -> Schedule:
    """Insert a RECV before every compute action whose input crosses devices and a SEND after
    every one whose output does; same-device hand-overs get none. Existing comms are replaced."""
    rows = []
    for acts in strip_comms(schedule).actions:
        row: list[Action] = []
        for a in acts:
            before, after = _recvs_and_sends(schedule, a)
            row.extend(before)
            row.append(a)
            row.extend(after)
        rows.append(row)
    return schedule.with_actions(rows)


def split_backward(schedule: Schedule) -> Schedule:
    """Every full backward B becomes I followed at once by W (inside an overlapped chunk, the
    chunk computes I and the W follows the chunk)."""
    rows = []
    for acts in schedule.actions:
        row: list[Action] = []
        for a in acts:
            if a.kind is Kind.B:
                row += [Action(a.stage, Kind.I, a.microbatch), Action(a.stage, Kind.W, a.microbatch)]
            elif a.sub is not None and a.sub[1].kind is Kind.B:
                f, b = a.sub
                row += [Action(a.stage, a.kind, None, (f, Action(b.stage, Kind.I, b.microbatch))),
                        Action(b.stage, Kind.W, b.microbatch)]
            else:
                row.append(a)
        rows.append(row)
    return schedule.with_actions(rows)


def merge_iw(schedule: Schedule) -> Schedule:
    """An I whose next compute action on the device is its own W becomes one B.

    Communication actions between the two stay where they are, after the B.
    """
    rows = []
    for acts in schedule.actions:
        row: list[Action] = []
        skip: set[int] = set()
        for j, a in enumerate(acts):
            if j in skip:
                continue
            if a.kind is Kind.I:
                k = j + 1
                while k < len(acts) and acts[k].kind in COMM:
                    k += 1
                if k < len(acts) and acts[k] == Action(a.stage, Kind.W, a.microbatch):
                    row.append(Action(a.stage, Kind.B, a.microbatch))
                    skip.add(k)
                    continue
            row.append(a)
        rows.append(row)
    return schedule.with_actions(rows)
