"""Re-timing a candidate order: the search's inner loop.

``Timer`` times per-device id lists of a ``Problem`` with the table level's rule (an action
starts when its device is free and every input has arrived; an input from another device
arrives its message delay after it was produced), so its times equal ``pipesim.ideal.evaluate``
bit for bit: both take the maximum of the same sums. It differs only in what it skips: the
dependencies were derived once (``Problem``), nothing is validated, and a walk can resume.

The walk ("pull", like ``pipesim.schedule.walk``): run a device's list until an action's input
has not been produced yet, then go to the device that produces it. Without a deadlock that
reaches a device that can progress within one hop per device; more hops without progress mean
the devices wait on each other, and the order is rejected (None).

Incremental re-timing: the walk records the sequence in which it ran actions. When an order
differs from the last one timed only from position ``k`` of one device's list on, every
action the last walk ran before reaching that position saw the same inputs, so its times stand;
``retime`` restores that state and walks on from there.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from operator import itemgetter

from pipesim.search.problem import Problem, W

INF = math.inf


class Timer:
    """Times orders of one problem; keeps the last walk so that a change can be re-timed from
    where it begins (``retime``)."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        n = problem.size
        self.n = n
        self.start = [0.0] * n
        self.end = [INF] * n + [-INF]  # slot n is what "no input" (index -1) reads
        self.seq: list[int] = []  # ids in the order the last walk ran them
        self.seq_at: list[list[int]] = []  # per device: index in seq of each list position
        self.orders: list[list[int]] = []
        grads = [g for g in range(n) if problem.kind[g] != W]
        self._grads = itemgetter(*grads) if len(grads) > 1 else (lambda end: tuple(end[g] for g in grads))

    def time(self, orders: Sequence[list[int]]) -> bool:
        """Time ``orders`` from scratch; False when they deadlock (times then meaningless)."""
        self.orders = list(orders)
        end = self.end
        for g in range(self.n):
            end[g] = INF
        self.seq = []
        self.seq_at = [[] for _ in orders]
        return self._walk([0] * len(orders), [0.0] * len(orders))

    def retime(self, device: int, position: int, row: list[int]) -> bool:
        """Replace ``device``'s list by ``row``, which equals the old one before ``position``,
        and re-time what can have changed. False when the new order deadlocks (the timer must
        then be re-timed with a valid order before its times are read)."""
        at = self.seq_at[device]
        cut = at[position] if position < len(at) else len(self.seq)
        orders = self.orders
        orders[device] = row
        end, seq = self.end, self.seq
        for g in seq[cut:]:
            end[g] = INF
        del seq[cut:]
        pos = []
        free = []
        for d, a in enumerate(self.seq_at):
            k = bisect_left(a, cut)
            del a[k:]
            pos.append(k)
            free.append(end[orders[d][k - 1]] if k else 0.0)
        return self._walk(pos, free)

    def _walk(self, pos: list[int], free: list[float]) -> bool:
        p = self.p
        orders, start, end, seq = self.orders, self.start, self.end, self.seq
        p1, p2, d1, d2, dur, device = p.pred1, p.pred2, p.delay1, p.delay2, p.dur, p.device
        ndev = len(orders)
        stops = [len(r) for r in orders]
        d = scan = idle = 0
        seq_at = self.seq_at
        record = seq.append
        c = len(seq)  # the next index in seq
        while True:
            row, mark = orders[d], seq_at[d].append
            i = i0 = pos[d]
            stop = stops[d]
            t = free[d]
            q = -1
            while i < stop:
                g = row[i]
                q = p1[g]
                e = end[q]
                if e == INF:
                    break
                e += d1[g]
                if e > t:
                    t = e
                q = p2[g]
                e = end[q]
                if e == INF:
                    break
                e += d2[g]
                if e > t:
                    t = e
                start[g] = t
                t += dur[g]
                end[g] = t
                mark(c)
                record(g)
                c += 1
                i += 1
            if i > i0:
                pos[d] = i
                free[d] = end[row[i - 1]]
                idle = 0
            if i < stop:
                dq = device[q]
                if dq == d:  # needs an action later in its own list
                    return False
                idle += 1 if i == i0 else 0
                if idle > ndev:
                    return False
                d = dq
                continue
            while scan < ndev and pos[scan] == stops[scan]:
                scan += 1
            if scan == ndev:
                return True
            d = scan

    def makespan(self) -> float:
        end = self.end
        return max((end[r[-1]] for r in self.orders if r), default=0.0)

    def busy_ends(self) -> float:
        """The sum of the ends of every forward and backward (W excluded): smaller when the
        work others wait for finishes earlier, whatever the W's do."""
        return float(sum(self._grads(self.end)))

    def span(self) -> float:
        """The longest device's own span (first start to last end): the Zero Bubble paper's
        "cost" of a schedule."""
        end, start = self.end, self.start
        return max((end[r[-1]] - start[r[0]] for r in self.orders if r), default=0.0)


def peaks(problem: Problem, orders: Sequence[Sequence[int]]) -> list[float]:
    """Per device, the largest stash along its list, summed as ``pipesim.timeline.memory`` does."""
    mem = problem.mem
    out = []
    for row in orders:
        cur = top = 0.0
        for g in row:
            cur += mem[g]
            if cur > top:
                top = cur
        out.append(top)
    return out


def device_peak(mem: list[float], row: Sequence[int]) -> float:
    cur = top = 0.0
    for g in row:
        cur += mem[g]
        if cur > top:
            top = cur
    return top
