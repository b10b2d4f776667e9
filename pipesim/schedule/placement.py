"""Placement helpers shared by the bidirectional and wave generators.

Two pure functions live here:

* ``list_schedule`` — a greedy, work-conserving list scheduler over a layout. It simulates the
  schedule in (abstract) time and, whenever a device is idle, starts the best *ready* action by a
  priority rule. Because every action only starts once its inputs exist, the per-device orders it
  returns are valid by construction; generators use it where no hand-derived order exists
  (asymmetric Chimera, schedules outside a paper's regime).
* ``insert_reduce_grads`` — adds one ``REDUCE_GRAD`` per replicated stage, in the first idle slot
  after that stage's last backward on its device (what Chimera's implementation does: it launches
  the gradient all-reduce as soon as a model part has no backward left, inside a bubble).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind, compute_parts
from pipesim.schedule.layout import Layout
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import DeadlockError

# Kind ranks for the default priority: finishing work (backward) before starting new work
# (forward) is what keeps 1F1B-style schedules within their activation budget.
_KIND_RANK = {Kind.B: 0, Kind.I: 0, Kind.W: 2, Kind.F: 1}


@dataclass(frozen=True)
class Candidate:
    """What a priority function sees about one ready action."""

    action: Action
    ready: float  # when its last input became available
    device: int
    position: int  # index of the stage on its route (0 = route head)


Priority = Callable[[Candidate], tuple]


def backward_first(c: Candidate) -> tuple:
    """1F1B-style priority: backward, then forward, then deferred W; older inputs first."""
    mb = c.action.microbatch if c.action.microbatch is not None else 0
    return (_KIND_RANK[c.action.kind], c.ready, mb, c.action.stage)


def list_schedule(
    layout: Layout,
    *,
    durations: Mapping[Kind, float] | None = None,
    caps: Sequence[int] | None = None,
    priority: Priority = backward_first,
    stage_order: Sequence[Sequence[int]] | None = None,
    split_backward: bool = False,
) -> list[list[Action]]:
    """Greedy list schedule of every F/B (or F/I/W) action of ``layout``.

    ``durations`` gives a time per kind (default F = B = 1, I = W = 1/2: unit slots).
    ``caps[s]`` bounds the microbatches in flight on stage s (forward done, backward not
    started); the default is the 1F1B budget ``len(route) - position`` of the stage.
    ``stage_order[s]`` is the order in which stage s processes its microbatches (default:
    ascending), applied to forwards and backwards alike (FIFO per stage).
    Returns one action list per device, in start-time order.
    """
    dur = {Kind.F: 1.0, Kind.B: 1.0, Kind.I: 0.5, Kind.W: 0.5}
    if durations:
        dur.update(durations)
    S = layout.num_stages
    position = [0] * S
    route_len = [1] * S
    for route in layout.routes:
        for i, s in enumerate(route):
            position[s], route_len[s] = i, len(route)
    if caps is None:
        caps = [route_len[s] - position[s] for s in range(S)]
    order = [list(stage_order[s]) if stage_order is not None else list(layout.stage_microbatches[s])
             for s in range(S)]
    mb_route, rprev, rnext = layout.mb_route, layout.route_prev, layout.route_next

    f_end: dict[tuple[int, int], float] = {}
    g_end: dict[tuple[int, int], float] = {}  # input gradient ready (end of B or I)
    nf = [0] * S  # forwards started per stage
    nb = [0] * S  # backwards (B or I) started per stage
    pending_w: list[list[tuple[int, float]]] = [[] for _ in range(S)]  # (mb, ready) per stage
    free = [0.0] * layout.num_devices
    rows: list[list[Action]] = [[] for _ in range(layout.num_devices)]
    remaining = sum(len(o) for o in order) * (3 if split_backward else 2)
    bkind = Kind.I if split_backward else Kind.B

    def candidates(d: int) -> list[Candidate]:
        out = []
        for s in layout.device_stages[d]:
            if nf[s] < len(order[s]) and nf[s] - nb[s] < caps[s]:
                mb = order[s][nf[s]]
                prev = rprev[mb_route[mb]][s]
                ready = 0.0 if prev < 0 else f_end.get((prev, mb), math.inf)
                out.append(Candidate(Action(s, Kind.F, mb), ready, d, position[s]))
            if nb[s] < nf[s]:
                mb = order[s][nb[s]]
                nxt = rnext[mb_route[mb]][s]
                ready = f_end[(s, mb)]
                if nxt >= 0:
                    ready = max(ready, g_end.get((nxt, mb), math.inf))
                out.append(Candidate(Action(s, bkind, mb), ready, d, position[s]))
            if pending_w[s]:
                mb, ready = pending_w[s][0]
                out.append(Candidate(Action(s, Kind.W, mb), ready, d, position[s]))
        return out

    t = 0.0
    while remaining:
        progressed = True
        while progressed:
            progressed = False
            for d in range(layout.num_devices):
                if free[d] > t:
                    continue
                ready = [c for c in candidates(d) if c.ready <= t]
                if not ready:
                    continue
                c = min(ready, key=priority)
                a = c.action
                end = t + dur[a.kind]
                rows[d].append(a)
                free[d] = end
                remaining -= 1
                progressed = True
                if a.kind is Kind.F:
                    f_end[(a.stage, a.microbatch)] = end
                    nf[a.stage] += 1
                elif a.kind is Kind.W:
                    pending_w[a.stage].pop(0)
                else:
                    g_end[(a.stage, a.microbatch)] = end
                    nb[a.stage] += 1
                    if split_backward:
                        pending_w[a.stage].append((a.microbatch, end))
        if not remaining:
            break
        future = [f for f in free if f > t]
        for d in range(layout.num_devices):
            future.extend(c.ready for c in candidates(d) if t < c.ready < math.inf)
        if not future:
            raise RuntimeError(
                "list_schedule: no action can ever start (caps too small for this layout?); "
                f"stages in flight: {[nf[s] - nb[s] for s in range(S)]}, caps: {list(caps)}"
            )
        t = min(future)
    return rows


def unit_costs(schedule: Schedule) -> Costs:
    """Chimera's slot convention: a forward and a backward take one slot each (I = W = 1/2)."""
    return Costs.make(schedule.num_stages, F=1.0, B=1.0, I=0.5, W=0.5)


def insert_reduce_grads(schedule: Schedule, costs: Costs | None = None) -> Schedule:
    """Add a ``REDUCE_GRAD`` for every stage whose model part has more than one replica.

    Rule: time the schedule (unit slots unless ``costs`` is given); on the device of stage s,
    put ``sREDUCE_GRAD`` before the first action that starts after an idle gap following the
    end of s's last backward (B or W), or at the end of the list if no gap follows. The
    collectives of one device keep one global order (by planned time, then model part) so that
    two devices sharing two all-reduces never wait on each other crosswise. If that placement
    would deadlock (possible only for asymmetric layouts), every ``REDUCE_GRAD`` moves to the
    end of its device's list, in the same global order.
    """
    from pipesim.ideal import evaluate

    lay = schedule.layout
    replicated = [s for s in range(lay.num_stages) if len(lay.part_stages[lay.stage_part[s]]) > 1]
    if not replicated:
        return schedule
    base = [[a for a in row if a.kind is not Kind.REDUCE_GRAD] for row in schedule.actions]
    plain = schedule.with_actions(base)
    res = evaluate(plain, costs or unit_costs(plain))
    prog = res.program
    planned: dict[int, tuple[float, int]] = {}  # stage -> (planned time, insert index)
    for s in replicated:
        d = lay.stage_device[s]
        first, count = prog.first[d], prog.count[d]
        last = -1
        for j in range(count):
            if any(x.stage == s and x.kind in (Kind.B, Kind.W) for x in compute_parts(prog.actions[first + j])):
                last = j
        if last < 0:  # the replica saw no microbatch: synchronise at the end
            planned[s] = (res.end[first + count - 1] if count else 0.0, count)
            continue
        idx, when = count, res.end[first + count - 1]
        for j in range(last + 1, count):
            g = first + j
            if res.start[g] > res.end[g - 1] + 1e-12:
                idx, when = j, res.end[g - 1]
                break
        planned[s] = (when, idx)
    # One global order of collectives: by the latest planned time among a part's replicas.
    part_time = {}
    for s in replicated:
        k = lay.stage_part[s]
        part_time[k] = max(part_time.get(k, -math.inf), planned[s][0])
    rank = sorted(replicated, key=lambda s: (part_time[lay.stage_part[s]], lay.stage_part[s], s))

    def build(at_end: bool) -> Schedule:
        rows = []
        for d, row in enumerate(base):
            mine = [s for s in rank if lay.stage_device[s] == d]
            out: list[Action] = []
            pos = 0
            for s in mine:
                target = len(row) if at_end else max(planned[s][1], pos)
                out.extend(row[pos:target])
                pos = max(pos, target)
                out.append(Action(s, Kind.REDUCE_GRAD))
            out.extend(row[pos:])
            rows.append(out)
        return schedule.with_actions(rows)

    from pipesim.schedule.validate import validate

    placed = build(at_end=False)
    try:
        validate(placed)
    except DeadlockError:
        placed = build(at_end=True)
    return placed
