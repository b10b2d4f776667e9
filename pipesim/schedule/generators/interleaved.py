"""Interleaved 1F1B (Megatron-LM's virtual pipeline): v model chunks per device.

Layout. The model is cut into v·p chunks; chunk (stage) s lives on device s % p
(``linear_layout(p, m, v, style="loop")``), so every microbatch loops over the devices v times and
crosses v·p - 1 device boundaries in each direction.

Order (Megatron's rule, re-derived here):

* A *virtual microbatch* k = 0 .. m·v-1 names one (microbatch, chunk) pair. Microbatches are
  taken in groups of G (``group``, default p): for each group, every chunk in turn runs the
  group's microbatches, chunk 0 first. Forward k uses that table as is; backward k uses the same
  table with the chunk mirrored (v-1-c), so backwards run the model back to front.
* Rank r warms up with min(2(p-r-1) + (v-1)·G, m·v) forwards, then alternates one forward
  (k = warm-up + i) and one backward (k = i), then drains the remaining backwards.

With G = p this is the classic schedule and needs m % p == 0. With fewer microbatches than
devices (m < p) all m form one group (G = m), as PyTorch's ``ScheduleInterleaved1F1B`` does (one
round of m microbatches, warm-up (v-1)·m + 2(p-r-1)); the chunks of a device then wait for one
another less than whole microbatches would, so it still beats 1F1B (at p=8, v=2, m=4 and
F = B = 1 per chunk: 38 slots against 1F1B's 2·(4+7)·2 = 44 with whole-stage F = B = 2). Newer Megatron lets G be any value
in [p, m] and puts the remainder in the last group; in our dependency model (and in any runtime
that executes each rank's list in order) that can deadlock when the last group holds fewer than
p microbatches, so we require m % G == 0 or m % G >= p. Under that rule every (p, v, G, m) we
tried (p <= 16, v <= 5, G <= 3p, m <= 64) validates and has makespan (m·v + p - 1)(F + B) with
per-chunk F and B, i.e. the literature's bubble (p-1)(F+B)/v in whole-device units.
"""

from __future__ import annotations

from pipesim.schedule.layout import linear_layout
from pipesim.schedule.order import CODE_B, CODE_F, PlainOrder
from pipesim.schedule.registry import Generator, Option, RequirementError
from pipesim.schedule.table import Schedule


def virtual_table(m: int, v: int, group: int) -> list[tuple[int, int]]:
    """(microbatch, chunk) of each virtual microbatch, in forward order.

    Groups of ``group`` microbatches; the last group takes whatever is left (Megatron's rule).
    """
    out: list[tuple[int, int]] = []
    lo = 0
    while lo < m:
        hi = m if lo + group >= m else lo + group
        out.extend((mb, c) for c in range(v) for mb in range(lo, hi))
        lo = hi
    return out


def warmup_forwards(p: int, m: int, v: int, group: int, rank: int) -> int:
    """Megatron's warm-up length for ``rank``: 2(p-rank-1) + (v-1)·group, capped at m·v."""
    return min(2 * (p - rank - 1) + (v - 1) * group, m * v)


def _check(p: int, m: int, v: int, group: int) -> None:
    name = "schedule 'interleaved'"
    if v < 2:
        raise RequirementError(f"{name}: v={v}; interleaving needs v >= 2 chunks per device (v=1 is '1f1b')")
    if m < p:
        if group != m:
            raise RequirementError(f"{name}: m={m} < p={p} with group={group}; with fewer microbatches than "
                                   f"devices all m form one group (group=0 or group={m})")
        return
    if group < p:
        raise RequirementError(f"{name}: group={group} < p={p}; the group size must be at least p")
    if group > m:
        raise RequirementError(f"{name}: group={group} > m={m}; the group size must lie in [p, m] = [{p}, {m}]")
    rest = m % group
    if rest and rest < p:
        lower = m - rest
        if group == p:
            raise RequirementError(
                f"{name}: p={p}, m={m}; the classic rule needs m to be a multiple of p "
                f"(m % p == 0): use m={lower or p} or m={lower + p}, or group={m} "
                "(newer Megatron's grouping: any group G in [p, m] with m % G == 0 or m % G >= p)"
            )
        raise RequirementError(
            f"{name}: p={p}, m={m}, group={group}; the last group would hold {rest} < p microbatches, "
            f"which deadlocks: need m % group == 0 or m % group >= p (e.g. group={m}, or m={lower} or "
            f"m={lower + p})"
        )


def interleaved(p: int, m: int, v: int = 2, group: int = 0) -> Schedule:
    """Megatron's interleaved 1F1B; ``group`` = 0 means p (the classic rule), or m when m < p."""
    g = (p if m >= p else m) if group == 0 else group
    _check(p, m, v, g)
    layout = linear_layout(p, m, v, style="loop")
    layout.notes.update({"chunks_per_device": v, "group": g})
    table = virtual_table(m, v, g)
    total = m * v
    rows = []
    for r in range(p):
        fwd = [(c * p + r, CODE_F, mb) for mb, c in table]
        bwd = [((v - 1 - c) * p + r, CODE_B, mb) for mb, c in table]
        warm = warmup_forwards(p, m, v, g, r)
        row = fwd[:warm]
        for i in range(total - warm):
            row.append(fwd[warm + i])
            row.append(bwd[i])
        row.extend(bwd[total - warm:])
        rows.append(row)
    return Schedule.from_order("interleaved", layout, PlainOrder.of_rows(rows), v=v, group=g)


GENERATORS = (
    Generator(
        "interleaved",
        interleaved,
        "interleaved 1F1B (Megatron virtual pipeline): v chunks per device in a loop",
        requirements="v >= 2; m < p (one group of m), m % p == 0 (classic), or with group=G in [p, m]: "
                     "m % G == 0 or m % G >= p",
        options=(
            Option("v", int, 2, "model chunks per device (virtual stages), >= 2"),
            Option("group", int, 0, "microbatches per group per chunk (newer Megatron), in [p, m]; "
                                    "0 = p, the classic rule m % p == 0 (m when m < p)"),
        ),
        aliases=("interleaved-1f1b", "vpp"),
    ),
)
