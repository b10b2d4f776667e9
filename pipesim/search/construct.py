"""Building an order: a list scheduler with memory-aware admission of forwards and W deferral.

It simulates the devices on the real costs and delays. Whenever a device is free it picks one
of its ready actions by these rules (our reading of the Zero Bubble paper's automatic
scheduling heuristic, Qi et al., ICLR 2024, with tunable knobs in ``Rule``):

1. A backward (B or I) whose gradient has arrived goes first: it unblocks the stage upstream
   and frees memory. Among several, the one ready earliest (then the deeper stage).
2. Otherwise a forward, if it is *admitted*: the stage has fewer microbatches in flight than
   its cap (``Rule.cap``: a multiple of 1F1B's ``route length - position``), and the device
   can hold the microbatch. Warm-up therefore runs as many forwards as memory and cap allow.
   ``Rule.guard`` declines a forward when a backward can arrive within that fraction of the
   forward's time (a forward started then would delay the backward); the arrival of a
   gradient not yet computed is estimated from the work ahead of it on its route, ignoring
   contention.
3. Otherwise a deferred W (oldest first) if a forward waits for memory (W frees it), or if the
   device would idle at least ``Rule.gap`` of the W's time before the next known arrival of a
   gradient.
4. Otherwise the device waits for the next arrival (or the estimated one, to look again).

``Rule.warmup`` (``pipesim.search.race``) fixes, per stage, how many forwards run before its
first backward: exactly that many, whatever arrives meanwhile and whatever the cap says.

Memory admission reserves, when a microbatch first reaches a device, the stash of all its
stages on that device (a V shape comes back to the device it started on): the reservation is
at least the real stash, so the real stash never exceeds the limit, and a microbatch once
admitted can always run its forwards there. With two routes sharing devices (Chimera) a tight
limit can still leave every device waiting on another; the scheduler then reports failure
(None) and the caller falls back to the one-microbatch-at-a-time order (``sequential_order``),
which any limit at least ``problem.least_memory`` admits.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from pipesim.search.problem import F, I, Problem, W

INF = math.inf


@dataclass(frozen=True)
class Rule:
    cap: float = 1.0  # in-flight cap per stage, in units of 1F1B's (route length - position); inf: none
    guard: float = 0.0  # decline a forward when a backward arrives within guard * T_F
    gap: float = 0.0  # run a deferred W only into an idle gap of at least gap * T_W
    deep_first: bool = True  # among ready forwards of one device, the one deeper on its route
    # Per stage, the forwards run before its first backward (``pipesim.search.race``); None: the cap alone.
    warmup: tuple[int, ...] | None = None

    def __str__(self) -> str:
        race = ",race" if self.warmup is not None else ""
        return f"cap={self.cap:g},guard={self.guard:g},gap={self.gap:g},{'deep' if self.deep_first else 'shallow'}{race}"


def list_order(problem: Problem, rule: Rule, limit: Sequence[float]) -> list[list[int]] | None:
    """Per-device id lists built by the rules above, or None when the scheduler gets stuck."""
    p = problem
    lay = p.layout
    S, D = lay.num_stages, lay.num_devices
    position = [0] * S
    length = [1] * S
    for route in lay.routes:
        for i, s in enumerate(route):
            position[s], length[s] = i, len(route)
    caps = [INF if math.isinf(rule.cap) else max(1, math.ceil(rule.cap * (length[s] - position[s]) - 1e-9))
            for s in range(S)]
    mbs = lay.stage_microbatches
    dev_stages = lay.device_stages
    if rule.deep_first:
        dev_stages = tuple(tuple(sorted(st, key=lambda s: -position[s])) for st in dev_stages)
    act = p.costs.activation_bytes
    future: list[dict[int, float]] = [{} for _ in range(D)]  # device -> route -> stash of a microbatch
    for k, route in enumerate(lay.routes):
        for s in route:
            future[lay.stage_device[s]][k] = future[lay.stage_device[s]].get(k, 0.0) + act[s]
    f_id, g_id = p.f_id, p.g_id
    pred1, delay1, pred2, delay2, dur, mem, succ, device, kind = (
        p.pred1, p.delay1, p.pred2, p.delay2, p.dur, p.mem, p.succ, p.device, p.kind)
    tf = p.costs.forward
    tw = p.costs.backward_weight
    end = [INF] * p.size + [-INF]
    nf = [0] * S
    nb = [0] * S
    wq: list[deque[int]] = [deque() for _ in range(S)]
    commit = [0.0] * D
    entered: list[set[int]] = [set() for _ in range(D)]
    busy = [0.0] * D
    rows: list[list[int]] = [[] for _ in range(D)]
    left = p.size
    heap = [(0.0, d) for d in range(D)]
    route_of = lay.mb_route

    routes = lay.routes
    warm = rule.warmup

    def estimate(s: int, m: int) -> float:
        """Earliest the gradient into stage s for microbatch m can arrive (no contention)."""
        route = routes[route_of[m]]
        n = len(route)
        i = position[s]
        j = i + 1
        while j < n and end[g_id[(route[j], m)]] == INF:
            j += 1
        if j < n:
            base, k = end[g_id[(route[j], m)]], j
        else:
            y = i
            while y + 1 < n and end[f_id[(route[y + 1], m)]] < INF:
                y += 1
            base = end[f_id[(route[y], m)]]
            for z in range(y + 1, n):
                f = f_id[(route[z], m)]
                base += delay1[f] + dur[f]
            k = n - 1
            base += dur[g_id[(route[k], m)]]
        for z in range(k - 1, i, -1):
            g = g_id[(route[z], m)]
            base += delay2[g] + dur[g]
        return base + delay2[g_id[(s, m)]]

    def ready(g: int) -> float:
        e = end[pred1[g]] + delay1[g]
        e2 = end[pred2[g]] + delay2[g]
        return e if e >= e2 else e2

    while heap:
        t, d = heapq.heappop(heap)
        if busy[d] > t:
            continue
        pick = -1
        pick_key: tuple[float, int] = (INF, 0)
        fpick = -1
        known = INF  # next known arrival of a backward's gradient
        arrival = INF  # next arrival, known or the earliest it can be
        mem_blocked = False
        for s in dev_stages[d]:
            ms = mbs[s]
            if nb[s] < nf[s] and not (warm is not None and nb[s] == 0 and nf[s] < warm[s]):
                g = g_id[(s, ms[nb[s]])]
                r = ready(g)
                if r <= t:
                    key = (r, -position[s])
                    if key < pick_key:
                        pick, pick_key = g, key
                elif r < INF:
                    known = min(known, r)
                    arrival = min(arrival, r)
                else:
                    arrival = min(arrival, estimate(s, ms[nb[s]]))
            if nf[s] < len(ms) and (nf[s] - nb[s] < caps[s] if warm is None or nb[s] else nf[s] < warm[s]):
                m = ms[nf[s]]
                g = f_id[(s, m)]
                if m not in entered[d] and commit[d] + future[d][route_of[m]] > limit[d]:
                    mem_blocked = True
                    continue
                if fpick < 0 and ready(g) <= t:
                    fpick = g  # stages are already in preference order
        if pick < 0 and fpick >= 0 and not (rule.guard > 0 and arrival < t + rule.guard * tf[p.stage[fpick]]):
            pick = fpick
        if pick < 0:
            wbest = next((wq[s][0] for s in dev_stages[d] if wq[s]), -1)
            if wbest >= 0:
                tw_ = tw[p.stage[wbest]]
                if mem_blocked or (fpick < 0 and known - t >= rule.gap * tw_):
                    pick = wbest
        if pick < 0:
            if t < arrival < INF:  # look again then: the estimate may have been too early
                heapq.heappush(heap, (arrival, d))
            continue  # otherwise woken by the next arrival or by its own next free time
        g = pick
        s = p.stage[g]
        k = kind[g]
        if k == F:
            m = p.mb[g]
            if m not in entered[d]:
                entered[d].add(m)
                commit[d] += future[d][route_of[m]]
            nf[s] += 1
        elif k == W:
            wq[s].popleft()
            commit[d] += mem[g]
        else:
            nb[s] += 1
            commit[d] += mem[g]
            if k == I:
                wq[s].append(p.w_id[(s, p.mb[g])])
        e = t + dur[g]
        end[g] = e
        busy[d] = e
        rows[d].append(g)
        left -= 1
        heapq.heappush(heap, (e, d))
        for h in succ[g]:
            eh = device[h]
            if eh != d:
                heapq.heappush(heap, (e + (delay1[h] if pred1[h] == g else delay2[h]), eh))
    return rows if left == 0 else None


def sequential_order(problem: Problem) -> list[list[int]]:
    """One microbatch at a time: its forwards along the route, then its backwards (each W right
    after its I). Valid for every layout and needs only ``least_memory``."""
    p = problem
    lay = p.layout
    rows: list[list[int]] = [[] for _ in range(lay.num_devices)]
    for m, r in enumerate(lay.mb_route):
        route = lay.routes[r]
        for s in route:
            rows[lay.stage_device[s]].append(p.f_id[(s, m)])
        for s in reversed(route):
            row = rows[lay.stage_device[s]]
            row.append(p.g_id[(s, m)])
            if p.split_backward:
                row.append(p.w_id[(s, m)])
    return rows
