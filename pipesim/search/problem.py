"""The fixed part of an order search: every action of a layout, its duration, its inputs and its
memory step, as flat integer-indexed lists built once.

An order search only permutes each device's list; the set of actions, their durations and who
needs whose output never change. So the dependencies are derived here once, from the layout
(the same rule as ``pipesim.schedule.deps``: F needs the F of the stage before it on the
microbatch's route; B/I need their own F and the input gradient of the next stage; W needs its
own I), and the inner loop only re-times orders (``pipesim.search.timing``).

Every action has at most two inputs, ``pred1``/``pred2`` (``NONE`` = none), each with the
delay its message adds (0 for a hand-over on the same device). ``edge_delay[(src, dst)]``
overrides the constant delay for the hand-over from stage ``src`` to stage ``dst`` (the
activation for ``src`` before ``dst`` on a route, the gradient for ``src`` after it).

Memory follows ``pipesim.timeline.memory`` exactly: F adds the stage's ``activation_bytes`` at
its start, B frees it, I frees all but the ``weight_keep`` share and W frees that share; each
step is computed with the same floating-point expression, so a running sum here equals the
table level's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.layout import Layout
from pipesim.schedule.table import Schedule
from pipesim.search.errors import SearchError

F, B, I, W = 0, 1, 2, 3  # noqa: E741 - the literature's names
KINDS = (Kind.F, Kind.B, Kind.I, Kind.W)
NONE = -1  # "no input": the timing loops index a sentinel slot


@dataclass(eq=False)
class Problem:
    """Every action of ``layout`` (ids stage-major: F, then B or I and W, per microbatch)."""

    layout: Layout
    costs: Costs
    split_backward: bool
    kind: list[int]
    stage: list[int]
    mb: list[int]
    device: list[int]
    dur: list[float]
    pred1: list[int]
    delay1: list[float]
    pred2: list[int]
    delay2: list[float]
    mem: list[float]  # change of the device's stash when the action runs
    f_id: dict[tuple[int, int], int]  # (stage, mb) -> F id
    g_id: dict[tuple[int, int], int]  # (stage, mb) -> B or I id
    w_id: dict[tuple[int, int], int]  # (stage, mb) -> W id (split backward only)
    succ: list[list[int]]  # id -> actions needing its output

    @property
    def size(self) -> int:
        return len(self.kind)

    @property
    def num_devices(self) -> int:
        return self.layout.num_devices

    def action(self, g: int) -> Action:
        return Action(self.stage[g], KINDS[self.kind[g]], self.mb[g])

    def schedule(self, orders: Sequence[Sequence[int]], name: str = "search") -> Schedule:
        return Schedule.build(name, self.layout, [[self.action(g) for g in row] for row in orders])

    def orders_of(self, schedule: Schedule, what: str) -> list[list[int]]:
        """Per-device id lists of ``schedule``; SearchError unless it holds exactly this
        problem's actions on the right devices."""
        ids: dict[tuple[int, Kind, int | None], int] = {**{(s, Kind.F, m): g for (s, m), g in self.f_id.items()},
               **{(s, KINDS[self.kind[g]], m): g for (s, m), g in self.g_id.items()},
               **{(s, Kind.W, m): g for (s, m), g in self.w_id.items()}}
        if schedule.layout.stage_device != self.layout.stage_device or schedule.layout.routes != self.layout.routes \
                or schedule.layout.mb_route != self.layout.mb_route:
            raise SearchError(f"{what}: schedule '{schedule.name}' has another layout than the one searched")
        out: list[list[int]] = []
        seen = 0
        for d, row in enumerate(schedule.actions):
            got = []
            for a in row:
                g = ids.get((a.stage, a.kind, a.microbatch))
                if g is None or self.device[g] != d:
                    raise SearchError(f"{what}: schedule '{schedule.name}' has action {a} on device {d}, which this "
                                      f"search does not place there (F/{'I/W' if self.split_backward else 'B'} only)")
                got.append(g)
            seen += len(got)
            out.append(got)
        if seen != self.size or len({g for row in out for g in row}) != self.size:
            raise SearchError(f"{what}: schedule '{schedule.name}' has {seen} actions; the layout needs each of its "
                              f"{self.size} exactly once")
        return out


def build_problem(layout: Layout, costs: Costs, *, split_backward: bool, message_delay: float,
                  edge_delay: Mapping[tuple[int, int], float] | None) -> Problem:
    if costs.num_stages != layout.num_stages:
        raise SearchError(f"costs: given for {costs.num_stages} stages but the layout has {layout.num_stages}; "
                          "give one cost per stage")
    _check_delay("message_delay", message_delay)
    dev = layout.stage_device
    edges = _edge_delays(layout, message_delay, edge_delay)
    S = layout.num_stages
    keep = costs.weight_keep
    act = costs.activation_bytes
    kind: list[int] = []
    stage: list[int] = []
    mb: list[int] = []
    dur: list[float] = []
    mem: list[float] = []
    f_id: dict[tuple[int, int], int] = {}
    g_id: dict[tuple[int, int], int] = {}
    w_id: dict[tuple[int, int], int] = {}
    bk = I if split_backward else B
    times = (costs.forward, costs.backward, costs.backward_input, costs.backward_weight)
    # Stash changes written as ``pipesim.timeline.memory`` computes them (act * sign).
    signs = (1.0, -1.0, -(1.0 - keep), -keep)
    for s in range(S):
        for m in layout.stage_microbatches[s]:
            for k in ((F, bk, W) if split_backward else (F, bk)):
                g = len(kind)
                (f_id if k == F else w_id if k == W else g_id)[(s, m)] = g
                kind.append(k)
                stage.append(s)
                mb.append(m)
                dur.append(times[k][s])
                mem.append(act[s] * signs[k])
    n = len(kind)
    pred1, pred2 = [NONE] * n, [NONE] * n
    delay1, delay2 = [0.0] * n, [0.0] * n
    for g in range(n):
        s, m, k = stage[g], mb[g], kind[g]
        r = layout.mb_route[m]
        if k == F:
            prev = layout.route_prev[r][s]
            if prev >= 0:
                pred1[g], delay1[g] = f_id[(prev, m)], edges.get((prev, s), 0.0)
        elif k == W:
            pred1[g] = g_id[(s, m)]
        else:
            pred1[g] = f_id[(s, m)]
            nxt = layout.route_next[r][s]
            if nxt >= 0:
                pred2[g], delay2[g] = g_id[(nxt, m)], edges.get((nxt, s), 0.0)
    succ: list[list[int]] = [[] for _ in range(n)]
    for g in range(n):
        for q in (pred1[g], pred2[g]):
            if q != NONE:
                succ[q].append(g)
    return Problem(layout, costs, split_backward, kind, stage, mb, [dev[s] for s in stage], dur, pred1, delay1,
                   pred2, delay2, mem, f_id, g_id, w_id, succ)


def _check_delay(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise SearchError(f"{key}: {value!r}; must be a finite number of seconds >= 0")


def _edge_delays(layout: Layout, constant: float, given: Mapping[tuple[int, int], float] | None
                 ) -> dict[tuple[int, int], float]:
    """(src stage, dst stage) -> delay of every cross-device hand-over of the layout."""
    dev = layout.stage_device
    out: dict[tuple[int, int], float] = {}
    for route in layout.routes:
        for a, b in pairwise(route):
            if dev[a] != dev[b]:
                out[(a, b)] = out[(b, a)] = float(constant)
    for key, value in (given or {}).items():
        _check_delay(f"edge_delay[{key!r}]", value)
        if key not in out:
            raise SearchError(f"edge_delay: key {key!r} is not a cross-device hand-over (src stage, dst stage) of "
                              "this layout; only messages between devices take a delay")
        out[key] = float(value)
    return out


def least_memory(problem: Problem) -> list[float]:
    """Per device, the stash any valid order needs: one microbatch's activations on that device
    (all its forwards there run before its first backward there). Running the microbatches one
    after another, each backward right after the forwards, needs exactly this."""
    lay = problem.layout
    act = problem.costs.activation_bytes
    out = [0.0] * lay.num_devices
    for r, route in enumerate(lay.routes):
        if r not in lay.mb_route:
            continue
        per = [0.0] * lay.num_devices
        for s in route:
            per[lay.stage_device[s]] += act[s]
        out = [max(a, b) for a, b in zip(out, per, strict=True)]
    return out


def activation_limit(layout: Layout, costs: Costs, microbatches: float) -> list[float]:
    """Per device, the stash of ``microbatches`` whole microbatches on that device, in
    ``costs.activation_bytes`` units: the Zero Bubble paper's limits "1p" and "2p" are
    ``activation_limit(layout, costs, p)`` and ``(..., 2 * p)`` (one microbatch's activations on
    a device, M_B in the paper, summed over the device's stages on the first route)."""
    per = [0.0] * layout.num_devices
    for s in layout.routes[layout.mb_route[0] if layout.mb_route else 0]:
        per[layout.stage_device[s]] += costs.activation_bytes[s]
    return [microbatches * x for x in per]
