"""Walking a program in dependency order: the deadlock dry run, which can time actions as it goes.

The dry run and the table level's timing loop visit every action in an order that respects
each device's list and every prerequisite; done separately they cost two walks. ``walk`` is
both at once: given durations and a message delay it returns every action's start and end
(the table level's times: an action starts when its device is free and its inputs exist, plus
the delay for an input that crossed devices) together with the order it found. With zero
durations it is simply the dry run. Validation first tries an order guessed and checked with
numpy (``pipesim.schedule.presort``); only a program whose guess fails is walked.

Strategy ("pull"): a device runs its list until an action's prerequisite has not run yet; the
walk then moves to the device that computes that prerequisite. Without a deadlock, following
such blockers reaches a device that can make progress within one hop per device; a chain of
more hops without progress has revisited a device, so its actions wait for each other: a
deadlock, reported as ``None`` (``stuck_state`` then gives the state the error describes).

The loop reads each action's remote prerequisite slot (``Program.remote_pred``); an action
that has not run yet ends at +inf and "no prerequisite" reads -inf, so the usual ``if e > t``
comparison also tells that an input is pending. The local slot is never read: a same-device
input comes earlier in the device's list (``Program.local_order_ok``; otherwise the program
deadlocks before any walk), and with no negative duration a device's end times never decrease
along its list, so that input ended no later than the device's previous action, i.e. no later
than the time ``t`` the device is free. Actions with more prerequisites than the slots hold,
and legitimately infinite times, take a general path over all of an action's prerequisites.
"""

from __future__ import annotations

import math

from pipesim.schedule.deps import DEP_LOCAL, Program

INF = math.inf


def walk(program: Program, durations: list[float], delay: float = 0.0
         ) -> tuple[list[float], list[float], list[int]] | None:
    """``(start, end, runs)`` of every action, or None when the program deadlocks. No duration
    may be negative (``pipesim.timeline.compile_schedule`` checks; see the module docstring).

    ``runs`` is the order found, as the end (exclusive) of each stretch one device ran
    (``Program.order_runs``; ``deps.order_from_runs`` expands it). Recording one number per
    stretch instead of one per action keeps the walk close to the cost of timing alone."""
    n = program.num_actions
    ndev = program.num_devices
    if n == 0:
        return [], [], []
    if not program.local_order_ok:  # an action needs one later in its own list: it never runs
        return None
    remote, device, first = program.remote_pred, program.device, program.first
    stops = [f + c for f, c in zip(first, program.count, strict=True)]
    pos = list(first)  # next action of each device not running now
    free = [0.0] * ndev  # when that device is free, or later (max with inputs already known)
    start = [0.0] * n
    end = [INF] * (n + 2)  # not run yet; then the slot values "none" (below) and "more than the slots hold"
    end[n] = -INF
    # With finite durations and delay no time is infinite, so an infinite end means "not run".
    finite = math.isfinite(2.0 * (sum(durations) + delay * n))
    runs: list[int] = []
    record = runs.append
    d = scan = q = 0
    idle = mark = 0  # hops without progress since ``runs`` had ``mark`` entries
    while True:
        g = g0 = pos[d]
        stop = stops[d]
        t = free[d]
        while g < stop:
            e = end[remote[g]] + delay
            if e > t:
                if e == INF:  # not run yet, more prerequisites than the slots, or really infinite
                    q = remote[g]
                    if q < n and (finite or q >= pos[device[q]]):
                        break
                    e, q = _general(program, g, d, pos, end, delay)
                    if q >= 0:
                        break
                t = e
            start[g] = t
            t += durations[g]
            end[g] = t
            g += 1
        else:  # the device ran to the end of its list: go to the first one that has not
            pos[d] = g
            if g > g0:
                record(g)
            while scan < ndev and pos[scan] == stops[scan]:
                scan += 1
            if scan == ndev:
                del end[n:]
                return start, end, runs
            d = scan
            continue
        # Blocked on q: go to its device. More hops without progress than there are devices
        # have come back to a device that is still blocked: a cycle of waits.
        pos[d] = g
        free[d] = t  # when its last action ran ends
        if g > g0:
            record(g)
        else:
            if len(runs) != mark:
                mark, idle = len(runs), 0
            idle += 1
            if idle > ndev:
                return None
        d = device[q]


def _all_preds(program: Program, g: int) -> tuple[tuple[int, int], ...]:
    """Every ``(pred, kind)`` of action g: the slots' overflow, else (infinite times) the arrays."""
    more = program.more_preds.get(g)
    if more is not None:
        return more
    ptr, pred, kind = program.dep_lists
    return tuple(zip(pred[ptr[g] : ptr[g + 1]], kind[ptr[g] : ptr[g + 1]], strict=True))


def _general(program: Program, g: int, d: int, pos: list[int], end: list[float], delay: float) -> tuple[float, int]:
    """Start of action g on device d from all its prerequisites, or the first one that has not
    run yet: ``(start, -1)`` or ``(_, pred)``. A device's actions up to ``pos`` have run (for d,
    those before g)."""
    device = program.device
    t = end[g - 1] if g > program.first[d] else 0.0
    for q, kind in _all_preds(program, g):
        dq = device[q]
        if q >= (g if dq == d else pos[dq]):
            return t, q
        e = end[q]
        if kind != DEP_LOCAL:
            e += delay
        if e > t:
            t = e
    return t, -1


def start_after(program: Program, g: int, free: float, end: list[float], delay: float) -> float:
    """Start of action g from all its prerequisites (all run) and its device's free time."""
    t = free
    for q, kind in _all_preds(program, g):
        e = end[q]
        if kind != DEP_LOCAL:
            e += delay
        if e > t:
            t = e
    return t


def stuck_state(program: Program) -> tuple[list[int], list[int], list[bool]]:
    """Where a deadlocked program stops: ``(stuck devices, next action per device, done)``.

    Every device runs as far as it can; that state does not depend on the order in which the
    devices are tried, so this plain stack-driven loop (used only to describe an error) gives
    the state any walk reaches."""
    first, count = program.first, program.count
    ptr_, pred, _ = program.dep_lists
    ndev = len(first)
    ptr = list(first)
    stop = [f + c for f, c in zip(first, count, strict=True)]
    done = [False] * program.num_actions
    waiters: dict[int, list[int]] = {}
    stack = list(range(ndev - 1, -1, -1))
    while stack:
        d = stack.pop()
        g, end = ptr[d], stop[d]
        while g < end:
            blocked = next((pred[j] for j in range(ptr_[g], ptr_[g + 1]) if not done[pred[j]]), -1)
            if blocked >= 0:
                waiters.setdefault(blocked, []).append(d)
                break
            done[g] = True
            stack.extend(waiters.pop(g, ()))
            g += 1
        ptr[d] = g
    return [d for d in range(ndev) if ptr[d] < stop[d]], ptr, done
