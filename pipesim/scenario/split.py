"""A cost-balanced layer split for a schedule's model parts (``model.layers_per_stage: balanced``).

A schedule cuts the model into ``layout.num_parts`` contiguous parts (p for 1F1B, p·v for
interleaved, 2p for V shapes, 2Wp for Hanayo, p for Chimera/DualPipe whose two replicas share
a part). Part i with n layers costs ``base[i] + per_layer · n`` per microbatch (forward plus
backward), where ``base`` carries the embedding of part 0, the LM head and loss of the last part
and any per-boundary work: the workload model's costs are affine in the layer count.

A device's load is what it computes in one iteration: the sum, over the stages it holds, of the
stage's part cost times the microbatches routed through the stage. The split minimises, in this
order,

1. the busiest device's load (the steady-state bound, and where the first and last parts share
   a device, as in a V shape, their embedding and head are charged to it together);
2. the slowest stage (the fill and drain of the pipeline);
3. then each layer goes to the part whose cost it raises least (lowest index on ties), so the
   split is deterministic.

Exactness rests on one property: within each *group* of parts and devices connected by the
layout (a device and the parts it holds), every device computes each of the group's parts for
the same number of microbatches. Then a device's load depends only on the group's total layer
count, and both criteria are minimised exactly by threshold searches. Every built-in schedule
with its default options has this property (Chimera and DualPipe: devices d and p-1-d both hold
parts d and p-1-d, half of the microbatches each); a layout without it (asymmetric Chimera)
gets criterion 2 alone, over all parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipesim.schedule.layout import Layout

BALANCED = "balanced"  # the scenario spelling: ``model.layers_per_stage: balanced``


class SplitError(ValueError):
    """The model cannot be cut into the schedule's parts (too few layers)."""


@dataclass(frozen=True)
class PartCosts:
    """Per-microbatch cost of part i with n layers: ``base[i] + per_layer * n``."""

    base: tuple[float, ...]
    per_layer: float

    def cost(self, part: int, layers: int) -> float:
        return self.base[part] + self.per_layer * layers


def device_loads(layout: Layout, costs: PartCosts, split: Sequence[int]) -> list[float]:
    """Each device's work per iteration under ``split`` (see the module docstring)."""
    loads = [0.0] * layout.num_devices
    for s, mbs in enumerate(layout.stage_microbatches):
        part = layout.stage_part[s]
        loads[layout.stage_device[s]] += len(mbs) * costs.cost(part, split[part])
    return loads


def balanced_split(layout: Layout, layers: int, costs: PartCosts) -> tuple[int, ...]:
    """Layers per part (each >= 1, summing to ``layers``) by the module docstring's criteria."""
    parts = layout.num_parts
    if len(costs.base) != parts:
        raise ValueError(f"balanced_split: {len(costs.base)} part costs for a layout of {parts} parts")
    if layers < parts:
        raise SplitError(f"{layers} layers cannot give each of the schedule's {parts} parts one layer")
    groups = _groups(layout)
    caps = [layers] * parts
    if groups is not None:
        caps = _group_caps(groups, layers, costs)
    return _fill(layers, costs, groups or [(list(range(parts)), 0.0)], caps)


# A group: its parts and the largest per-layer load coefficient of its devices (0.0: unused).
Group = tuple[list[int], float]


def _groups(layout: Layout) -> list[tuple[list[int], float]] | None:
    """The connected groups of parts and devices, each with its devices' microbatch counts,
    or None when some device computes the parts of its group for unequal numbers of
    microbatches (then a device's load is not a function of its group's layer total)."""
    parts = layout.num_parts
    weight: dict[tuple[int, int], int] = {}  # (device, part) -> microbatches computed
    for s, mbs in enumerate(layout.stage_microbatches):
        key = (layout.stage_device[s], layout.stage_part[s])
        weight[key] = weight.get(key, 0) + len(mbs)
    parent = list(range(parts + layout.num_devices))  # parts, then devices

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for d, k in weight:
        parent[find(parts + d)] = find(k)
    members: dict[int, list[int]] = {}
    for k in range(parts):
        members.setdefault(find(k), []).append(k)
    out: list[tuple[list[int], float]] = []
    for root in sorted(members, key=lambda r: members[r][0]):
        ks = members[root]
        coeff = 0.0
        for d in range(layout.num_devices):
            if find(parts + d) != root:
                continue
            seen = {weight.get((d, k), 0) for k in ks}
            if len(seen) != 1:
                return None
            coeff = max(coeff, float(seen.pop()))
        out.append((ks, coeff))
    return out


def _group_caps(groups: list[Group], layers: int, costs: PartCosts) -> list[int]:
    """Criterion 1: the least possible busiest-device load, and per part the most layers its
    group may take under it (as a per-part cap on the group's total, see ``_fill``)."""
    lows = [len(ks) for ks, _ in groups]
    spare = layers - sum(lows)

    def load(g: int, total: int) -> float:
        ks, coeff = groups[g]
        return coeff * (sum(costs.base[k] for k in ks) + costs.per_layer * total)

    def most(g: int, limit: float) -> int:
        return _largest(lows[g], lows[g] + spare, lambda n: load(g, n) <= limit)

    candidates = sorted({load(g, n) for g in range(len(groups)) for n in range(lows[g], lows[g] + spare + 1)})
    best = _smallest(candidates, lambda t: all(load(g, lows[g]) <= t for g in range(len(groups)))
                     and sum(most(g, t) for g in range(len(groups))) >= layers)
    caps = [0] * len(costs.base)
    for g, (ks, _) in enumerate(groups):
        for k in ks:
            caps[k] = most(g, best)
    return caps


def _fill(layers: int, costs: PartCosts, groups: list[Group], caps: Sequence[int]) -> tuple[int, ...]:
    """Criteria 2 and 3: the least possible slowest stage with every group's total within its
    cap (``caps`` holds the group's cap on each of its parts), then one layer at a time to the
    part whose cost it raises least."""
    parts = len(costs.base)
    group_of = {k: g for g, (ks, _) in enumerate(groups) for k in ks}
    top = layers - parts + 1

    def most(k: int, limit: float) -> int:
        return _largest(1, top, lambda n: costs.cost(k, n) <= limit)

    def room(limit: float) -> int:
        return sum(min(caps[ks[0]], sum(most(k, limit) for k in ks)) for ks, _ in groups)

    candidates = sorted({costs.cost(k, n) for k in range(parts) for n in range(1, top + 1)})
    limit = _smallest(candidates, lambda t: all(costs.cost(k, 1) <= t for k in range(parts)) and room(t) >= layers)
    split = [1] * parts
    totals = [len(ks) for ks, _ in groups]
    for _ in range(layers - parts):
        open_parts = [k for k in range(parts)
                      if split[k] < most(k, limit) and totals[group_of[k]] < caps[k]]
        k = min(open_parts, key=lambda i: (costs.cost(i, split[i] + 1), i))
        split[k] += 1
        totals[group_of[k]] += 1
    return tuple(split)


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """The largest n in [lo, hi] with ok(n) (ok monotone: true then false); lo - 1 if none."""
    if not ok(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _smallest(values: list[float], ok: Callable[[float], bool]) -> float:
    """The smallest of the sorted ``values`` with ok (ok monotone: false then true)."""
    lo, hi = 0, len(values) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(values[mid]):
            hi = mid
        else:
            lo = mid + 1
    return values[lo]
