"""Placement helpers shared by the bidirectional and wave generators.

One pure function lives here:

* ``list_schedule`` — a greedy, work-conserving list scheduler over a layout. It simulates the
  schedule in (abstract) time and, whenever a device is idle, starts the best *ready* action by a
  priority rule. Because every action only starts once its inputs exist, the per-device orders it
  returns are valid by construction; generators use it where no hand-derived order exists
  (asymmetric Chimera, schedules outside a paper's regime).

Placing ``REDUCE_GRAD`` actions needs the schedule's timing, so it is a pass above the table
level (``pipesim.plan``), not part of generation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.layout import Layout

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
    costs: Costs | None = None,
    message_delay: float = 0.0,
) -> list[list[Action]]:
    """Greedy list schedule of every F/B (or F/I/W) action of ``layout``.

    ``durations`` gives a time per kind (default F = B = 1, I = W = 1/2: unit slots);
    ``costs`` overrides it with the real per-stage times, so that the greedy decisions are
    taken on the timeline the schedule will actually have, and ``message_delay`` is added to
    every input that crosses devices (an order built at unit slots and free messages can be far
    from the best one once B = 2F or links are slow).
    ``caps[s]`` bounds the microbatches in flight on stage s (forward done, backward not
    started); the default is the 1F1B budget ``len(route) - position`` of the stage.
    ``stage_order[s]`` is the order in which stage s processes its microbatches (default:
    ascending), applied to forwards and backwards alike (FIFO per stage).
    Returns one action list per device, in start-time order.
    """
    return timed_list_schedule(layout, durations=durations, caps=caps, priority=priority, stage_order=stage_order,
                               split_backward=split_backward, costs=costs, message_delay=message_delay)[0]


def best_list_schedule(layout: Layout, priorities: Sequence[Priority], **kwargs: object) -> list[list[Action]]:
    """The list schedule with the shortest greedy makespan among ``priorities`` (first wins ties).

    A greedy rule is not monotone in the costs: one that is optimal at unit slots can lose a
    few percent once B = 2F, and the rule that wins then can lose at unit slots. Trying a few
    documented rules on the real costs and keeping the fastest makes the order no worse than
    any of them.
    """
    best: tuple[float, list[list[Action]]] | None = None
    for prio in priorities:
        rows, span = timed_list_schedule(layout, priority=prio, **kwargs)  # type: ignore[arg-type]
        if best is None or span < best[0] - 1e-9:
            best = (span, rows)
    if best is None:
        raise ValueError("best_list_schedule: no priority rule given")
    return best[1]


def timed_list_schedule(
    layout: Layout,
    *,
    durations: Mapping[Kind, float] | None = None,
    caps: Sequence[int] | None = None,
    priority: Priority = backward_first,
    stage_order: Sequence[Sequence[int]] | None = None,
    split_backward: bool = False,
    costs: Costs | None = None,
    message_delay: float = 0.0,
) -> tuple[list[list[Action]], float]:
    """``list_schedule`` and the makespan of its own greedy timeline (an upper bound on the
    makespan of the returned order, which may start some actions earlier when evaluated)."""
    dur = {Kind.F: 1.0, Kind.B: 1.0, Kind.I: 0.5, Kind.W: 0.5}
    if durations:
        dur.update(durations)
    S = layout.num_stages
    if costs is not None and costs.num_stages != S:
        raise ValueError(f"list_schedule: costs for {costs.num_stages} stages given to a layout of {S} stages")
    per_kind = {Kind.F: "forward", Kind.B: "backward", Kind.I: "backward_input", Kind.W: "backward_weight"}

    def duration(stage: int, kind: Kind) -> float:
        if costs is None:
            return dur[kind]
        return float(getattr(costs, per_kind[kind])[stage])

    dev = layout.stage_device

    def arrival(src: int, dst: int, when: float) -> float:
        # An input produced on another device arrives one message delay later.
        return when + message_delay if dev[src] != dev[dst] else when
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
                ready = 0.0 if prev < 0 else arrival(prev, s, f_end.get((prev, mb), math.inf))
                out.append(Candidate(Action(s, Kind.F, mb), ready, d, position[s]))
            if nb[s] < nf[s]:
                mb = order[s][nb[s]]
                nxt = rnext[mb_route[mb]][s]
                ready = f_end[(s, mb)]
                if nxt >= 0:
                    ready = max(ready, arrival(nxt, s, g_end.get((nxt, mb), math.inf)))
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
                mb = a.microbatch if a.microbatch is not None else -1  # every candidate has one
                end = t + duration(a.stage, a.kind)
                rows[d].append(a)
                free[d] = end
                remaining -= 1
                progressed = True
                if a.kind is Kind.F:
                    f_end[(a.stage, mb)] = end
                    nf[a.stage] += 1
                elif a.kind is Kind.W:
                    pending_w[a.stage].pop(0)
                else:
                    g_end[(a.stage, mb)] = end
                    nb[a.stage] += 1
                    if split_backward:
                        pending_w[a.stage].append((mb, end))
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
    return rows, max(free, default=0.0)
