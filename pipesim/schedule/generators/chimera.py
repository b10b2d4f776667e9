"""Chimera (Li & Hoefler, SC'21): two pipelines in opposite directions over the same devices.

Layout. With D devices (D even) there are 2D stages: the *down* pipeline's stage k is stage k
on device k; the *up* pipeline's stage j is stage D + j, by default on device D-1-j (the mirror).
Both replicas of model part k (stages k and D+k) share ``stage_part`` k, so each device holds two
parts (two weight copies) and each part's replicas all-reduce their gradients once per iteration.

Order. For the canonical case (equal split, mirrored up pipeline) every device follows Chimera's
own per-worker program, written here as a table of phases. On device d let j = min(d, D-1-d)
be its position in the pipeline where it is an *early* stage (the "near" pipeline: down for the
first half of the devices, up for the second half) and call the other pipeline "far"; then
a = D/2 - j, b = j, c = b + D/2. Per scheduling unit (D microbatches, D/2 per direction)::

    first unit   a x (nF)                later units   a x (nB nF)
                 b x (fF nF)
                 a x (fF fB)
                 b x (nB fB)
    after the last unit: a x (nB)

("nF" = the near pipeline's next forward, "fB" = the far pipeline's next backward.) The later
units' head absorbs the previous unit's near-pipeline tail, which is Chimera's *direct
concatenation* for N > D. ``scale="double"`` is Chimera's *forward doubling*: units of 2D
microbatches in which every forward slot runs two forwards, so that with B = 2F forward and
backward slots line up again::

    first unit   a x (nF nF)             later units   a x (nB nF nF)
                 b x (fF fF nF nF)
                 a x (fF fF fB)
                 c x (nB fB)
    after the last unit: a x (nB)

Asymmetric variants (an unequal split or an up pipeline that is not the mirror) have no
published order; they are scheduled by the greedy list scheduler under the 1F1B activation
budget per stage, valid by construction: two priorities (backward first then oldest input;
backward first then deepest forward) are timed with the real per-stage costs and message delay
when given (unit slots otherwise) and the shorter order is kept. ``order="greedy"`` schedules the
symmetric layout the same way and ``budget`` scales every stage's in-flight budget: controls
that separate what asymmetry does from what the greedy scheduler and its budget do.
"""

from __future__ import annotations

import math

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.layout import Layout
from pipesim.schedule.placement import Candidate, backward_first, best_list_schedule
from pipesim.schedule.registry import Generator, Option, RequirementError
from pipesim.schedule.table import Schedule

# Phase tables (repeat-count symbol, pattern). Symbols: a = D/2 - j, b = j, c = j + D/2.
_CONCAT: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "first": (("a", ("nF",)),),
    "next": (("a", ("nB", "nF")),),
    "body": (("b", ("fF", "nF")), ("a", ("fF", "fB")), ("b", ("nB", "fB"))),
    "tail": (("a", ("nB",)),),
}
_DOUBLE: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "first": (("a", ("nF", "nF")),),
    "next": (("a", ("nB", "nF", "nF")),),
    "body": (("b", ("fF", "fF", "nF", "nF")), ("a", ("fF", "fF", "fB")), ("c", ("nB", "fB"))),
    "tail": (("a", ("nB",)),),
}

SCALES = ("auto", "concat", "double")


def parse_up_placement(spec: str, D: int) -> tuple[int, ...]:
    """Device of each up-pipeline stage j (j = 0..D-1) from an ``up_placement`` string.

    ``"mirror"``: D-1-j (Chimera). ``"shift=k"``: (D-1-j+k) mod D, the mirror rotated by k
    devices. ``"3,2,0,1"``: an explicit permutation, the j-th number is the device of up stage j.
    """
    text = spec.strip().lower().replace(" ", "")
    if text in ("", "mirror"):
        return tuple(D - 1 - j for j in range(D))
    if text.startswith("shift="):
        try:
            k = int(text[len("shift="):])
        except ValueError:
            raise RequirementError(f"schedule 'chimera': up_placement={spec!r}; 'shift=' needs a whole number, e.g. 'shift=1'") from None
        return tuple((D - 1 - j + k) % D for j in range(D))
    try:
        perm = tuple(int(x) for x in text.replace(";", ",").split(","))
    except ValueError:
        perm = ()
    if sorted(perm) != list(range(D)):
        raise RequirementError(
            f"schedule 'chimera': up_placement={spec!r} with p={D}; give 'mirror', 'shift=k' or a "
            f"permutation of the devices 0..{D - 1} such as '{','.join(str(D - 1 - j) for j in range(D))}'"
        )
    return perm


def check_distinct_replicas(up_devices: tuple[int, ...], spec: str) -> None:
    """Both replicas of a part on one device would hold the same weights twice and need no
    all-reduce: that is not Chimera, so it is refused (an odd ``shift`` always does this)."""
    for j, d in enumerate(up_devices):
        if d == j:
            raise RequirementError(
                f"schedule 'chimera': up_placement={spec!r} puts both replicas of model part {j} on device {d}; "
                "each part's up replica must live on another device than its down replica "
                "(use 'mirror', an even 'shift=k', or a permutation with no fixed point)"
            )


def chimera_layout(D: int, down_mbs: list[int], up_mbs: list[int], up_devices: tuple[int, ...]) -> Layout:
    n = len(down_mbs) + len(up_mbs)
    mb_route = [0] * n
    for mb in up_mbs:
        mb_route[mb] = 1
    return Layout(
        num_devices=D,
        stage_device=tuple(range(D)) + up_devices,
        stage_part=tuple(range(D)) + tuple(range(D)),
        routes=(tuple(range(D)), tuple(range(D, 2 * D))),
        mb_route=tuple(mb_route),
        notes={"directions": ("down", "up"), "up_placement": up_devices},
    )


def _canonical_rows(D: int, N: int, scale: str) -> tuple[list[list[Action]], list[int], list[int]]:
    table = _CONCAT if scale == "concat" else _DOUBLE
    unit = D if scale == "concat" else 2 * D
    half = unit // 2
    units = N // unit
    down = [u * unit + i for u in range(units) for i in range(half)]
    up = [u * unit + half + i for u in range(units) for i in range(half)]
    rows = []
    for d in range(D):
        j = min(d, D - 1 - d)
        count = {"a": D // 2 - j, "b": j, "c": j + D // 2}
        # near pipeline: the one in which this device is an early stage
        if d < D // 2:
            near_stage, far_stage, near_mbs, far_mbs = d, D + (D - 1 - d), down, up
        else:
            near_stage, far_stage, near_mbs, far_mbs = D + j, d, up, down
        nxt = {("n", "F"): 0, ("n", "B"): 0, ("f", "F"): 0, ("f", "B"): 0}
        row: list[Action] = []

        def emit(phases: tuple[tuple[str, tuple[str, ...]], ...], row: list[Action] = row,
                 count: dict[str, int] = count, nxt: dict = nxt, ns: int = near_stage, fs: int = far_stage,
                 nm: list[int] = near_mbs, fm: list[int] = far_mbs) -> None:
            for sym, pattern in phases:
                for _ in range(count[sym]):
                    for tok in pattern:
                        which, kind = tok[0], tok[1]
                        i = nxt[(which, kind)]
                        nxt[(which, kind)] = i + 1
                        stage, mbs = (ns, nm) if which == "n" else (fs, fm)
                        row.append(Action(stage, Kind(kind), mbs[i]))

        for u in range(units):
            emit(table["first"] if u == 0 else table["next"])
            emit(table["body"])
        emit(table["tail"])
        rows.append(row)
    return rows, down, up


ORDERS = ("auto", "greedy")


def chimera(p: int, m: int, scale: str = "auto", down_fraction: float = 0.5,
            up_placement: str = "mirror", reduce_grad: bool = True, order: str = "auto",
            budget: float = 1.0, costs: Costs | None = None, message_delay: float = 0.0) -> Schedule:
    D, N = p, m
    if D < 2 or D % 2:
        raise RequirementError(f"schedule 'chimera': p={D}; Chimera needs an even number of devices >= 2 (e.g. {max(2, D + 1 if D % 2 else 2)})")
    if not 0.0 <= down_fraction <= 1.0:
        raise RequirementError(f"schedule 'chimera': down_fraction={down_fraction}; must be within [0, 1] (0.5 = equal split)")
    if not 0.0 < budget <= 1.0:
        raise RequirementError(f"schedule 'chimera': budget={budget}; must be within (0, 1] (1 = the 1F1B budget)")
    up_devices = parse_up_placement(up_placement, D)
    check_distinct_replicas(up_devices, up_placement)
    mirror = up_devices == tuple(D - 1 - j for j in range(D))
    n_down = round(N * down_fraction)
    symmetric = mirror and abs(down_fraction - 0.5) < 1e-12
    if scale == "auto":
        # Forward doubling is never slower than concatenation in Chimera's order (equal at
        # B = F, 126 -> 105 slots at p=8, m=32, B=2F), so it is the default where it applies.
        doubling = symmetric and order == "auto" and budget == 1.0 and N % (2 * D) == 0
        scale = "double" if doubling else "concat"
    if symmetric and order == "auto" and budget == 1.0:
        unit = D if scale == "concat" else 2 * D
        if N // unit == 0 or N % unit:
            what = "m a multiple of p (N = k*D: direct concatenation of D-microbatch units)" if scale == "concat" \
                else "m a multiple of 2p (N = k*2D: forward doubling works on units of 2D)"
            raise RequirementError(
                f"schedule 'chimera' (scale={scale!r}): p={D}, m={N}; needs {what}; "
                f"valid m: {unit}, {2 * unit}, {3 * unit}, ..."
            )
        rows, down, up = _canonical_rows(D, N, scale)
        layout = chimera_layout(D, down, up, up_devices)
    else:
        if scale != "concat":
            raise RequirementError(
                f"schedule 'chimera': scale={scale!r} is defined only for the symmetric case in Chimera's own "
                "order; with down_fraction != 0.5, up_placement != 'mirror', order='greedy' or budget < 1 use "
                "scale='concat'"
            )
        if n_down < 1 or n_down > N - 1:
            raise RequirementError(
                f"schedule 'chimera': p={D}, m={N}, down_fraction={down_fraction} gives {n_down} down and "
                f"{N - n_down} up microbatches; both directions need at least one (use 1f1b for one direction)"
            )
        down, up = list(range(n_down)), list(range(n_down, N))
        layout = chimera_layout(D, down, up, up_devices)
        if costs is not None and costs.num_stages != layout.num_stages:
            raise RequirementError(f"schedule 'chimera': costs for {costs.num_stages} stages given; "
                                   f"p={D} has {layout.num_stages} stages")
        # Both documented priorities are timed on the real costs and the shorter order kept.
        rows = best_list_schedule(layout, (backward_first, deepest_forward_first),
                                  caps=None if budget == 1.0 else _scaled_budgets(layout, budget),
                                  costs=costs, message_delay=message_delay)
    sched = Schedule.build("chimera", layout, rows, scale=scale, down_fraction=down_fraction,
                           up_placement=up_placement, reduce_grad=reduce_grad, order=order, budget=budget,
                           down_microbatches=len(down), up_microbatches=len(up))
    return sched


def deepest_forward_first(c: Candidate) -> tuple:
    """Backward first; among forwards the one deepest in its pipeline, so that the microbatches
    already in flight finish before new ones enter (a shorter critical path when B > F)."""
    mb = c.action.microbatch if c.action.microbatch is not None else 0
    backward = c.action.kind is not Kind.F
    return (0 if backward else 1, 0 if backward else -c.position, c.ready, mb)


def _scaled_budgets(layout: Layout, budget: float) -> list[int]:
    """Each stage's 1F1B in-flight budget (route length - position) times ``budget``, rounded
    up and at least one microbatch: a lower activation peak for a longer iteration."""
    caps = [0] * layout.num_stages
    for route in layout.routes:
        for i, s in enumerate(route):
            caps[s] = max(1, math.ceil(budget * (len(route) - i)))
    return caps


GENERATORS = (
    Generator(
        "chimera",
        chimera,
        "bidirectional pipelines with two model replicas (Chimera, Li & Hoefler SC'21)",
        requirements="p even >= 2; symmetric: m a multiple of p (scale=concat) or of 2p (scale=double); "
                     "asymmetric: each direction >= 1 microbatch",
        cost_aware=True,
        options=(
            Option("scale", str, "auto",
                   "how N > D microbatches are scheduled: 'concat' = direct concatenation of D-microbatch "
                   "units (m % p == 0); 'double' = forward doubling, units of 2D microbatches with two "
                   "forwards per forward slot (m % 2p == 0); symmetric case only; 'auto' (default) = "
                   "'double' where it applies (never slower), else 'concat'", SCALES),
            Option("down_fraction", float, 0.5,
                   "share of the m microbatches sent down (stage 0 first); round(m*down_fraction) go down "
                   "(microbatches 0..k-1), the rest up; != 0.5 uses the greedy list schedule"),
            Option("up_placement", str, "mirror",
                   "devices of the up pipeline's stages: 'mirror' (stage j on device p-1-j, Chimera), "
                   "'shift=k' (device (p-1-j+k) mod p), or a permutation 'd0,d1,...' (stage j on device dj); "
                   "non-mirror uses the greedy list schedule"),
            Option("reduce_grad", bool, True,
                   "add one REDUCE_GRAD per stage (both replicas of each part) in the first idle slot "
                   "after the part's last backward on that device (unit-slot timeline)"),
            Option("order", str, "auto",
                   "'auto': Chimera's own order in the symmetric case, the greedy list schedule otherwise; "
                   "'greedy': the greedy list schedule always (a control for asymmetric variants)", ORDERS),
            Option("budget", float, 1.0,
                   "scale of each stage's in-flight budget in the greedy list schedule: "
                   "ceil(budget x (route length - position)), at least 1; < 1 uses the greedy order and "
                   "trades iteration time for a lower activation peak"),
        ),
    ),
)
