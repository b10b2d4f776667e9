"""Hanayo (Liu et al., SC'23): wave-like pipelines with one model copy.

Layout. The model is cut into 2W·p chunks (W = ``waves``) placed zig-zag over the p devices:
chunk s is on device s mod p on the way down (s // p even) and on device p-1-(s mod p) on the way
up (``linear_layout(p, m, 2W, style="v")``). Every microbatch therefore travels down and up W
times; at each of the 2W-1 turns the next chunk is on the same device, so a microbatch crosses
2W(p-1) device boundaries forward and as many backward. W = 1 is the V shape.

Regime. Hanayo, like Chimera, reasons about a *group* of as many microbatches as devices
(B = P in its figures); more microbatches are more groups. We therefore require m to be a
multiple of p (``strict=True``, the default). ``strict=False`` accepts any m >= 1 with the same
rules. The order is not copied from the paper (its text was not available to us). It is the
best of a few documented orders, all timed on the real per-stage costs and message delay when
they are given (unit slots otherwise):

* for W = 1, the V shape's fixed order (``v_order``): ZB-V's published order with its I taken as
  the whole backward and its W dropped (1F1B's activation peak);
* greedy list schedules in which each idle device starts, among its ready actions, a backward
  before a forward, and among forwards the one deepest in the microbatch's route (the wave
  front) first, whatever its input's age (among backwards either the oldest input or the one
  nearest the route head); each chunk keeps at most (route length - its position) microbatches
  in flight, with or without memory-aware admission (a microbatch enters a device only if all
  it will stash there fits the budget, counting what the device holds now or also what the
  microbatches inside will still stash there); each rule is built on the real costs with and
  without the message delay, and on unit slots.

The kept order is the shortest among those whose activation peak fits ``memory`` x 1F1B's peak
(min(p, m) microbatches of a device's share, the largest share when chunks differ; the least
over it if none fits). With B = 2F this
is what keeps Hanayo no slower than 1F1B doing the same work at the same peak (at p = 4, m = 16
the greedy rules alone give 123 slots against 1F1B's 114; the V order gives 108). The published
bubble estimate (p-1)/(2W·m+p-1) is reported as an estimate only.
"""

from __future__ import annotations

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.layout import linear_layout
from pipesim.schedule.placement import Candidate, order_makespan, order_peaks, timed_list_schedule
from pipesim.schedule.registry import Generator, Option, RequirementError
from pipesim.schedule.table import Schedule


def wave_front_first(c: Candidate) -> tuple:
    """Backward before forward; among forwards the deepest chunk first; then oldest input.

    Depth comes before input age: ranking by age first lets device 0 flood its first chunk
    with new microbatches while deeper chunks, whose outputs the other devices wait for,
    queue behind them (126 slots instead of 1F1B's 114 at p=4, m=16, B=2F).
    """
    mb = c.action.microbatch if c.action.microbatch is not None else 0
    backward = c.action.kind is not Kind.F
    return (0 if backward else 1, 0 if backward else -c.position, c.ready, mb)


def wave_front_both(c: Candidate) -> tuple:
    """As ``wave_front_first``, and among backwards the one nearest the route head first (the
    backward wave front), which returns gradients to device 0 sooner."""
    mb = c.action.microbatch if c.action.microbatch is not None else 0
    backward = c.action.kind is not Kind.F
    return (0 if backward else 1, c.position if backward else -c.position, c.ready, mb)


def v_order(p: int, m: int) -> list[list[Action]]:
    """The V shape's fixed order (``waves`` = 1): ZB-V's published per-device order with each
    I taken as the whole backward B and its W dropped. Rank r, chunk A = stage r (down),
    chunk B = stage 2p-1-r (up), n = max(m, 2p-1) microbatch slots (those >= m dropped, so that
    small m stays valid): ``2(p-r)-1 x F_A``, ``r x (F_B F_A)``, ``(p-r) x (F_B B_B)``, then
    ``(F_A B_A F_B B_B)`` while forwards are left (F_A only while A has some), ``r x (B_A B_B)``,
    ``(p-r) x B_A``. Each device holds at most 2p chunk-microbatches: 1F1B's peak of p
    whole-device microbatches."""
    n = max(m, 2 * p - 1)
    rows = []
    for r in range(p):
        stages = (r, 2 * p - 1 - r)
        row: list[Action] = []
        count = {(c, k): 0 for c in (0, 1) for k in (Kind.F, Kind.B)}

        def do(*steps: tuple[int, Kind], _row: list[Action] = row, _st: tuple[int, int] = stages,
               _n: dict[tuple[int, Kind], int] = count) -> None:
            for c, k in steps:
                _row.append(Action(_st[c], k, _n[(c, k)]))
                _n[(c, k)] += 1

        fa, ba, fb, bb = (0, Kind.F), (0, Kind.B), (1, Kind.F), (1, Kind.B)
        for _ in range(2 * (p - r) - 1):
            do(fa)
        for _ in range(r):
            do(fb, fa)
        for _ in range(p - r):
            do(fb, bb)
        while count[fb] < count[fa] or count[fa] < n:
            do(*((fa,) if count[fa] < n else ()), ba, fb, bb)
        for _ in range(r):
            do(ba, bb)
        for _ in range(p - r):
            do(ba)
        rows.append([a for a in row if a.microbatch is not None and a.microbatch < m])
    return rows


def hanayo(p: int, m: int, waves: int = 1, strict: bool = True, memory: float = 1.0, costs: Costs | None = None,
           message_delay: float = 0.0) -> Schedule:
    if waves < 1:
        raise RequirementError(f"schedule 'hanayo': waves={waves}; need at least 1 wave (1 = V shape)")
    if not memory > 0:
        raise RequirementError(f"schedule 'hanayo': memory={memory}; the activation budget must be > 0 "
                               "(1 = 1F1B's peak)")
    if strict and (p < 2 or m % p):
        raise RequirementError(
            f"schedule 'hanayo': p={p}, m={m}; Hanayo's regime is p >= 2 devices and m a multiple of p "
            f"(groups of p microbatches, B = P as in the paper); valid m: {p}, {2 * p}, {3 * p}, ... "
            "(strict=false schedules any m by the same greedy rule)"
        )
    layout = linear_layout(p, m, 2 * waves, style="v")
    layout.notes.update({"waves": waves, "shape": "wave"})
    if costs is not None and costs.num_stages != layout.num_stages:
        raise RequirementError(f"schedule 'hanayo': costs for {costs.num_stages} stages given; "
                               f"waves={waves} on p={p} has {layout.num_stages} stages")
    act = list(costs.activation_bytes) if costs is not None else [1.0] * layout.num_stages
    # 1F1B's peak: min(p, m) microbatches of a whole device's share (its 2W chunks together),
    # the largest share when chunks differ, and the same for every device: GPUs are alike,
    # and a device whose entry chunk is the heavier one legitimately holds more of it.
    share = max(sum(act[s] for s in layout.device_stages[d]) for d in range(p))
    budget = [memory * min(p, m) * share] * p
    candidates = [v_order(p, m)] if waves == 1 else []
    # Greedy orders timed on the real costs and on unit slots: a rule is not monotone in the
    # costs, so the unit-slot order sometimes wins on the real ones, and keeping it makes the
    # cost-aware order never worse than the order computed without costs.
    # Built for the real message delay and as if messages were free: the kept order is then
    # never slower at that delay than the order built without it.
    timings = [(costs, message_delay), (costs, 0.0), (None, 0.0)] if costs is not None else [(None, 0.0)]
    timings = list(dict.fromkeys(timings))
    for timing, delay in timings:
        for prio in (wave_front_first, wave_front_both):
            for admit, reserve in ((None, False), (budget, False), (budget, True)):
                candidates.append(timed_list_schedule(layout, priority=prio, costs=timing, message_delay=delay,
                                                      memory_budget=admit, reserve=reserve)[0])

    def rank(i: int) -> tuple[float, float, int]:
        # Within the budget first (else the least over it), then the shortest on the real costs.
        rows = candidates[i]
        excess = max(max(0.0, pk / b - 1.0) if b > 0 else 0.0
                     for pk, b in zip(order_peaks(layout, rows, costs), budget, strict=True))
        return (excess if excess > 1e-9 else 0.0, order_makespan(layout, rows, costs, message_delay), i)

    rows = candidates[min(range(len(candidates)), key=rank)]
    return Schedule.build("hanayo", layout, rows, waves=waves, strict=strict, memory=memory)


GENERATORS = (
    Generator(
        "hanayo",
        hanayo,
        "wave-like pipeline (Hanayo, SC'23): 2W chunks per device in a zig-zag, one weight copy",
        requirements="waves >= 1; strict (default): p >= 2 and m a multiple of p",
        cost_aware=True,
        options=(
            Option("waves", int, 1, "number of waves W: each microbatch goes down and up W times over "
                                    "2W chunks per device (1 = V shape)"),
            Option("strict", bool, True, "enforce Hanayo's regime (m a multiple of p, p >= 2); false "
                                         "schedules any p, m by the same greedy wave-front rule"),
            Option("memory", float, 1.0, "activation budget per device in units of 1F1B's peak (min(p, m) "
                                         "microbatches of the device's share); orders above it are rejected "
                                         "unless none fits"),
        ),
    ),
)
