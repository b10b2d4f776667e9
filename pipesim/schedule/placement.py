"""Placement helpers shared by the bidirectional and wave generators.

* ``list_schedule`` — a greedy, work-conserving list scheduler over a layout. It simulates the
  schedule in (abstract) time and, whenever a device is idle, starts the best *ready* action by a
  priority rule, optionally admitting a microbatch into a device only within a memory budget.
  Because every action only starts once its inputs exist, the per-device orders it returns are
  valid by construction; generators use it where no hand-derived order exists (asymmetric
  Chimera, Hanayo, schedules outside a paper's regime).
* ``order_makespan`` and ``order_peaks`` — the same clock and the memory rule of
  ``pipesim.timeline.memory`` applied to a given order, so that a generator can compare a fixed
  order with greedy ones without depending on an evaluation level.

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
    ``memory_budget[d]`` (in the costs' activation units) gates each microbatch's entry into
    device d, counting what the device stashes now or, with ``reserve``, also what the
    microbatches inside will still stash there (see ``_Admission``).
    Returns one action list per device, in start-time order.
    """
    return timed_list_schedule(layout, durations=durations, caps=caps, priority=priority, stage_order=stage_order,
                               split_backward=split_backward, costs=costs, message_delay=message_delay)[0]


def best_list_schedule(layout: Layout, priorities: Sequence[Priority], *, costs: Costs | None = None,
                       message_delay: float = 0.0, **kwargs: object) -> list[list[Action]]:
    """The list schedule with the shortest makespan among ``priorities`` (first wins ties),
    each order timed by ``order_makespan`` on ``costs`` and ``message_delay``.

    A greedy rule is not monotone in the costs: one that is optimal at unit slots can lose a
    few percent once B = 2F, and the rule that wins then can lose at unit slots. Trying a few
    documented rules on the real costs and keeping the fastest makes the order no worse than
    any of them. With a message delay the rules are also built as if messages were free and
    kept if faster, so an order built for a delay is never slower at that delay than the one
    built without it.
    """
    if not priorities:
        raise ValueError("best_list_schedule: no priority rule given")
    delays = (message_delay, 0.0) if message_delay > 0 else (message_delay,)
    best: tuple[float, list[list[Action]]] | None = None
    for delay in delays:
        for prio in priorities:
            rows, _ = timed_list_schedule(layout, priority=prio, costs=costs, message_delay=delay,
                                          **kwargs)  # type: ignore[arg-type]
            span = order_makespan(layout, rows, costs, message_delay)
            if best is None or span < best[0] - 1e-9:
                best = (span, rows)
    assert best is not None
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
    memory_budget: Sequence[float] | None = None,
    reserve: bool = False,
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
    admit = _Admission(layout, costs, memory_budget, reserve) if memory_budget is not None else None

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
            if nf[s] < len(order[s]) and nf[s] - nb[s] < caps[s] and (admit is None or admit.fits(s, order[s][nf[s]])):
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
                if admit is not None:
                    admit.record(a)
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


class _Admission:
    """Memory-aware admission for the list scheduler: a microbatch *enters* a device (its first
    forward there) only if what it will stash there fits ``budget[d]`` on top of what the
    device holds, or the device holds nothing. Deeper forwards of a microbatch already inside
    are never refused, so the earliest microbatch in flight always progresses (memory never
    deadlocks the scheduler).

    ``reserve`` False counts what the device stashes now: the budget bounds admissions, not the
    peak, since microbatches inside may still stash their deeper chunks (``order_peaks``
    measures it). ``reserve`` True counts, for every microbatch inside, all it will still stash
    there: the peak never exceeds the budget (or one microbatch's need), at the price of fewer
    microbatches in flight. Sizes are the costs' ``activation_bytes`` (one unit per stage
    without costs); I frees all but the ``weight_keep`` share that W frees, as in
    ``pipesim.timeline.memory``."""

    def __init__(self, layout: Layout, costs: Costs | None, budget: Sequence[float], reserve: bool) -> None:
        if len(budget) != layout.num_devices:
            raise ValueError(f"list_schedule: memory_budget has {len(budget)} values for {layout.num_devices} devices")
        self.budget = [float(b) for b in budget]
        self.reserve = reserve
        self.act = _activation(layout, costs)
        self.keep = costs.weight_keep if costs is not None else 0.5
        self.dev = layout.stage_device
        self.held = [0.0] * layout.num_devices  # stashed now, or stashed and still to stash (reserve)
        self.entry: set[tuple[int, int]] = set()  # (stage, route): the route's first stage on a device
        self.need: dict[tuple[int, int], float] = {}  # (device, route) -> what one microbatch stashes there
        for r, route in enumerate(layout.routes):
            for s in route:
                d = self.dev[s]
                if (d, r) not in self.need:
                    self.entry.add((s, r))
                self.need[(d, r)] = self.need.get((d, r), 0.0) + self.act[s]
        self.mb_route = layout.mb_route

    def fits(self, stage: int, mb: int) -> bool:
        r = self.mb_route[mb]
        if (stage, r) not in self.entry:
            return True
        d = self.dev[stage]
        held = self.held[d]
        return held <= 1e-12 or held + self.need[(d, r)] <= self.budget[d] * (1 + 1e-12)

    def record(self, a: Action) -> None:
        d = self.dev[a.stage]
        if a.kind is Kind.F and self.reserve:
            r = self.mb_route[a.microbatch if a.microbatch is not None else 0]
            self.held[d] += self.need[(d, r)] if (a.stage, r) in self.entry else 0.0
        else:
            self.held[d] += _stash_change(a.kind, self.act[a.stage], self.keep)


def _activation(layout: Layout, costs: Costs | None) -> list[float]:
    return list(costs.activation_bytes) if costs is not None else [1.0] * layout.num_stages


def _stash_change(kind: Kind, act: float, keep: float) -> float:
    """F stashes, B frees, I frees all but W's share: ``pipesim.timeline.memory``'s rule."""
    return {Kind.F: act, Kind.B: -act, Kind.I: -act * (1.0 - keep), Kind.W: -act * keep}.get(kind, 0.0)


def order_peaks(layout: Layout, rows: Sequence[Sequence[Action]], costs: Costs | None = None) -> list[float]:
    """Each device's activation peak over its order (memory depends on the order alone)."""
    act = _activation(layout, costs)
    keep = costs.weight_keep if costs is not None else 0.5
    peaks = []
    for row in rows:
        cur = top = 0.0
        for a in row:
            cur += _stash_change(a.kind, act[a.stage], keep)
            top = max(top, cur)
        peaks.append(top)
    return peaks


def order_makespan(layout: Layout, rows: Sequence[Sequence[Action]], costs: Costs | None = None,
                   message_delay: float = 0.0) -> float:
    """The makespan of a given order on the list scheduler's clock: every device starts its next
    action as soon as that action's inputs exist (one ``message_delay`` after they were made on
    another device), durations from ``costs`` (unit slots without). Used to compare a fixed
    order with greedy ones on the same timing rule; rows must be a valid order of F/B/I/W."""
    dur = {Kind.F: 1.0, Kind.B: 1.0, Kind.I: 0.5, Kind.W: 0.5}
    per_kind = {Kind.F: "forward", Kind.B: "backward", Kind.I: "backward_input", Kind.W: "backward_weight"}
    dev, mb_route, rprev, rnext = layout.stage_device, layout.mb_route, layout.route_prev, layout.route_next
    done: dict[tuple[int, Kind, int], float] = {}
    pos = [0] * len(rows)
    free = [0.0] * len(rows)
    left = sum(len(r) for r in rows)

    def ready(a: Action) -> float | None:
        mb = a.microbatch if a.microbatch is not None else 0
        r = mb_route[mb]

        def got(s: int, k: Kind) -> float | None:
            t = done.get((s, k, mb))
            if t is None and k is Kind.B:
                t = done.get((s, Kind.I, mb))
            return None if t is None else (t + message_delay if dev[s] != dev[a.stage] else t)

        needs: list[float | None] = []
        if a.kind is Kind.F:
            prev = rprev[r][a.stage]
            needs.append(got(prev, Kind.F) if prev >= 0 else 0.0)
        elif a.kind is Kind.W:
            needs.append(got(a.stage, Kind.I))
        else:
            needs.append(got(a.stage, Kind.F))
            nxt = rnext[r][a.stage]
            if nxt >= 0:
                needs.append(got(nxt, Kind.B))
        return None if any(x is None for x in needs) else max(x for x in needs if x is not None)

    while left:
        moved = False
        for d, row in enumerate(rows):
            while pos[d] < len(row):
                a = row[pos[d]]
                t = ready(a)
                if t is None:
                    break
                start = max(t, free[d])
                free[d] = start + (dur[a.kind] if costs is None else float(getattr(costs, per_kind[a.kind])[a.stage]))
                mb = a.microbatch if a.microbatch is not None else 0
                done[(a.stage, a.kind, mb)] = free[d]
                pos[d] += 1
                left -= 1
                moved = True
        if not moved:
            raise ValueError("order_makespan: the order deadlocks")
    return max(free, default=0.0)
