"""Warm-up lengths that let the first gradient race back up a chain.

On a chain (one route, one stage per device) each device runs forwards back to back from the
moment the first microbatch reaches it until the first microbatch's gradient comes back. Two
things make a device idle there, and an order's span is its busiest device's work plus its
idle time:

* the first device can hold only as many forwards as the memory limit admits (2p under the
  Zero Bubble paper's "2p"); it idles from the end of the last of them until the gradient
  arrives, so every delay of that gradient on its way up lands on it;
* a device that receives the gradient in the middle of a forward either delays it by the rest
  of that forward (stopping one forward earlier instead) or idles from the end of its last
  forward until the gradient arrives.

``race_warmup`` chooses, device by device from the last, how many forwards to run before the
first backward: the ones that end before the gradient arrives (the device idles the rest), or
more (the gradient waits for them; the last device runs one). It keeps every Pareto-optimal (arrival, worst idle so far) pair
and returns the counts that minimise the worst device's idle, the first device's forced wait
included. Times follow the table level's rule on the problem's own durations and delays; only
the first microbatch's gradient is raced, the rest of the order is left to the list scheduler
(``pipesim.search.construct``, ``Rule.warmup``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipesim.search.problem import Problem


def race_warmup(problem: Problem, limit: Sequence[float]) -> tuple[int, ...] | None:
    """Per stage, the forwards to run before its first backward; None unless the layout is a
    chain of at least two stages (one route, each stage on its own device)."""
    p = problem
    lay = p.layout
    S = lay.num_stages
    if S < 2 or len(lay.routes) != 1 or lay.num_devices != S or len(set(lay.stage_device)) != S:
        return None
    route = lay.routes[0]
    mbs = lay.stage_microbatches
    M = len(mbs[route[0]])
    if any(len(mbs[s]) != M for s in route):
        return None
    # Forward ends with every device running forwards back to back: ends[i][k] on route[i].
    ends: list[list[float]] = []
    prev: list[float] = []
    for i, s in enumerate(route):
        row: list[float] = []
        t = 0.0
        for k, m in enumerate(mbs[s]):
            f = p.f_id[(s, m)]
            if i:
                t = max(t, prev[k] + p.delay1[f])
            t += p.dur[f]
            row.append(t)
        ends.append(row)
        prev = row
    act = p.costs.activation_bytes

    def most(i: int) -> int:
        """The forwards stage route[i]'s device can stash at once."""
        s = route[i]
        room = limit[lay.stage_device[s]] / act[s] if act[s] > 0 else math.inf
        return M if room >= M else max(1, math.floor(room + 1e-9))

    m0 = mbs[route[-1]][0]
    # Pareto front of (the first gradient's arrival-ready time, worst idle so far, counts).
    last = p.g_id[(route[-1], m0)]
    front: list[tuple[float, float, tuple[int, ...]]] = [(ends[-1][0] + p.dur[last], 0.0, (1,))]
    for i in range(S - 2, -1, -1):
        g = p.g_id[(route[i], m0)]
        row = ends[i]
        top = most(i)
        options = []
        for done, worst, counts in front:
            a = done + p.delay2[g]
            n = sum(1 for e in row[:top] if e <= a)  # forwards that end before the gradient arrives
            # n: idle until it arrives; more: it waits for them (each one later shifts the phase
            # of every device upstream, which can shorten a worse wait there).
            # Never fewer than the device below ran: their forwards must pass through here first.
            for k in range(max(1, n, counts[0]), top + 1):
                options.append((max(a, row[k - 1]) + p.dur[g], max(worst, a - row[k - 1], 0.0), (k, *counts)))
        options.sort()
        front = []
        for opt in options:  # keep the ones no other beats on both arrival and worst idle
            if not front or opt[1] < front[-1][1]:
                front.append(opt)
    if not front:  # a device below stashes more than one above can feed it
        return None
    _, _, best = min(front, key=lambda x: (x[1], x[0]))
    out = [0] * S
    for s, k in zip(route, best, strict=True):
        out[s] = k
    return tuple(out)
