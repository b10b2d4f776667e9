"""Hanayo (Liu et al., SC'23): wave-like pipelines with one model copy.

Layout. The model is cut into 2W·p chunks (W = ``waves``) placed zig-zag over the p devices:
chunk s is on device s mod p on the way down (s // p even) and on device p-1-(s mod p) on the way
up (``linear_layout(p, m, 2W, style="v")``). Every microbatch therefore travels down and up W
times; at each of the 2W-1 turns the next chunk is on the same device, so a microbatch crosses
2W(p-1) device boundaries forward and as many backward. W = 1 is the V shape.

Regime. Hanayo, like Chimera, reasons about a *group* of as many microbatches as devices
(B = P in its figures); more microbatches are more groups. We therefore require m to be a
multiple of p (``strict=True``, the default). ``strict=False`` accepts any m >= 1 with the same
rule. The order is not copied from the paper (its text was not available to us); it is built by
a documented rule: a greedy list schedule, timed with the real per-stage costs and message delay
when they are given (unit slots otherwise), in which each idle device starts, among its ready
actions, a backward before a forward, and among forwards the one deepest in the microbatch's
route (the wave front) first, whatever its input's age (among backwards either the oldest
input or the one nearest the route head: both rules are timed and the shorter kept); each chunk keeps at most (route length - its
position) microbatches in flight, the 1F1B activation budget. This is valid by construction.
The published bubble estimate (p-1)/(2W·m+p-1) is reported as an estimate only.
"""

from __future__ import annotations

from pipesim.costs import Costs
from pipesim.schedule.action import Kind
from pipesim.schedule.layout import linear_layout
from pipesim.schedule.placement import Candidate, best_list_schedule
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


def hanayo(p: int, m: int, waves: int = 1, strict: bool = True, costs: Costs | None = None,
           message_delay: float = 0.0) -> Schedule:
    if waves < 1:
        raise RequirementError(f"schedule 'hanayo': waves={waves}; need at least 1 wave (1 = V shape)")
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
    rows = best_list_schedule(layout, (wave_front_first, wave_front_both), costs=costs, message_delay=message_delay)
    return Schedule.build("hanayo", layout, rows, waves=waves, strict=strict)


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
        ),
    ),
)
