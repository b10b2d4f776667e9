"""Local search over per-device orders, scored by re-timing (``pipesim.search.timing``).

A move changes one device's list: it moves one action a few positions (a neighbour swap is
the shortest move), moves a deferred W back into an idle gap the timeline shows on that
device, or moves a W behind the action it delayed. Half of the moves go to the device that
sets the objective (the one ending last, or with the longest own span), the rest to a random
device. A move is kept when the objective does not get worse and the device's stash stays
within its limit; one that breaks a dependency deadlocks the walk and is undone.

A climb ends after ``stall`` evaluations without a strict improvement (or after its length
cap). Climbs alternate two tie-breakers behind the same judged term (``makespan``/``span``
and ``directed``); each starting order is climbed with both, then climbs restart from the
best orders found so far.

Everything random comes from one ``random.Random(seed)``, so a run with an evaluation budget
is reproducible; a time budget can only stop it earlier.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipesim.search.problem import Problem, W
from pipesim.search.timing import Timer, device_peak

Objective = Callable[[Timer], tuple[float, float]]


@dataclass
class Budget:
    max_evals: int
    deadline: float  # perf_counter time; inf for none
    used: int = 0

    def spend(self) -> bool:
        """Count one evaluation; False once the budget is gone."""
        if self.used >= self.max_evals:
            return False
        if self.used % 32 == 0 and time.perf_counter() > self.deadline:
            return False
        self.used += 1
        return True


def makespan(timer: Timer) -> tuple[float, float]:
    """The makespan, then the sum of the devices' last ends: the second term rewards a move
    that shortens a device which is not (yet) the last one, so the search is not blind on the
    plateaus of the maximum, and leaves moves that change neither free to drift."""
    end = timer.end
    ends = [end[r[-1]] for r in timer.orders if r]
    return max(ends, default=0.0), sum(ends)


def span(timer: Timer) -> tuple[float, float]:
    """The longest device's own span, then the sum of all spans."""
    end, start = timer.end, timer.start
    spans = [end[r[-1]] - start[r[0]] for r in timer.orders if r]
    return max(spans, default=0.0), sum(spans)


def directed(objective: Objective) -> Objective:
    """The same first term, then the sum of the ends of every forward and backward. Where the
    first objective drifts freely over moves that change neither of its terms, this one
    rewards each step that lets work others wait for finish earlier, e.g. freeing a chain of
    gradients from the W's in its way one device at a time. Which guides a climb better
    depends on the case, so climbs alternate between the two."""
    def direct(timer: Timer) -> tuple[float, float]:
        return objective(timer)[0], timer.busy_ends()
    return direct


def _critical(timer: Timer, by_span: bool) -> int:
    end, start = timer.end, timer.start
    best, arg = -1.0, 0
    for d, row in enumerate(timer.orders):
        if row:
            v = end[row[-1]] - (start[row[0]] if by_span else 0.0)
            if v > best:
                best, arg = v, d
    return arg


def _blocked(p: Problem, row: list[int], i: int, j: int) -> bool:
    """Whether moving row[i] to position j would put it before its own input or after an
    action that needs it (both on this device)."""
    g = row[i]
    if j < i:
        return any(h == p.pred1[g] or h == p.pred2[g] for h in row[j:i])
    return any(p.pred1[h] == g or p.pred2[h] == g for h in row[i + 1 : j + 1])


def _gap_move(p: Problem, timer: Timer, row: list[int], rng: random.Random) -> tuple[int, int] | None:
    """(from, to) moving a later W into an idle gap of this device, or None."""
    start, end = timer.start, timer.end
    gaps = [k for k in range(1, len(row)) if start[row[k]] > end[row[k - 1]]]
    if not gaps:
        return None
    k = gaps[rng.randrange(len(gaps))]
    for j in range(k + 1, len(row)):
        g = row[j]
        if p.kind[g] == W and end[p.pred1[g]] <= start[row[k]]:
            return j, k
    return None


def _sink_move(p: Problem, timer: Timer, row: list[int], rng: random.Random) -> tuple[int, int] | None:
    """(from, to) moving a W after the action right behind it, when that action's inputs were
    there before the W ended (the W delayed it), or None."""
    start, end = timer.start, timer.end
    p1, p2, d1, d2, kind = p.pred1, p.pred2, p.delay1, p.delay2, p.kind
    found = [k for k in range(1, len(row)) if kind[row[k - 1]] == W and kind[row[k]] != W
             and max(end[p1[row[k]]] + d1[row[k]], end[p2[row[k]]] + d2[row[k]]) < start[row[k]]]
    if not found:
        return None
    k = found[rng.randrange(len(found))]
    return k - 1, k


def improve(problem: Problem, timer: Timer, starts: Sequence[list[list[int]]], limit: Sequence[float],
            objectives: Sequence[Objective], by_span: bool, rng: random.Random, budget: Budget,
            progress: Callable[[int, float], None] | None = None, stall: int = 400,
            climbs: Sequence[int] = (1 << 62, 4000)
            ) -> tuple[list[list[int]], float]:
    """Best orders found from ``starts`` (each valid and within ``limit``) and their objective.

    Climbs use the ``objectives`` in turn (all share the first term, the one that is judged;
    their tie-breakers differ); each start is climbed with each, then climbs restart from the
    best orders found so far."""
    p = problem
    mem = p.mem
    best: list[list[int]] = [list(r) for r in starts[0]]
    timer.time([list(r) for r in best])
    best_value = objectives[0](timer)[0]
    which = 0
    while True:
        k = len(objectives)
        objective = objectives[which % k]
        first = which // k
        orders = [list(r) for r in (starts[first] if first < len(starts) else best)]
        which += 1
        if not budget.spend():
            break
        timer.time(orders)
        orders = timer.orders
        cur = objective(timer)
        since = 0
        out = False
        for _ in range(climbs[(which - 1) % len(climbs)]):
            if since >= stall:
                break
            if not budget.spend():
                out = True
                break
            since += 1
            d = _critical(timer, by_span) if rng.random() < 0.5 else rng.randrange(len(orders))
            row = orders[d]
            n = len(row)
            if n < 2:
                continue
            u = rng.random()
            move = _gap_move(p, timer, row, rng) if u < 0.3 else _sink_move(p, timer, row, rng) if u < 0.6 else None
            if move is None:
                i = rng.randrange(n)
                j = min(n - 1, max(0, i + rng.choice((-1, 1)) * (1 + int(rng.expovariate(0.4)))))
                if i == j or _blocked(p, row, i, j):
                    continue
            else:
                i, j = move
            new = list(row)
            g = new.pop(i)
            new.insert(j, g)
            if device_peak(mem, new) > limit[d]:
                continue
            at = min(i, j)
            if timer.retime(d, at, new):
                value = objective(timer)
                if value <= cur:
                    if value < cur:
                        since = 0
                    cur = value
                    orders = timer.orders
                    if value[0] < best_value:
                        best_value = value[0]
                        best = [list(r) for r in orders]
                        if progress is not None:
                            progress(budget.used, best_value)
                    continue
            timer.retime(d, at, row)
            orders = timer.orders
        if out:
            break
    return best, best_value
