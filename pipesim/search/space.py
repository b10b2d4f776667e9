"""The plan space: which plans (microbatch count, layout family and degree, layer split,
placement) a search tries, counted before any of them is built.

A plan is plain data (``Plan``) so that it travels to pool and Dask workers. The space is the
product of one list of values per item; an item left out of ``--space`` keeps the base
scenario's value. ``order`` is the order search itself (always on inside a plan; leaving it out
of the space scores the named generators' orders only).

Families (a layout plus the named generators whose orders fit it, used as search seeds):

* ``1f1b``: the chain of p stages (GPipe, 1F1B, ZB-H1, ZB-H2 orders);
* ``interleaved``: v chunks per device in a loop (interleaved 1F1B, looped BFS), v = degree;
* ``v-shape``: 2p chunks in a V (ZB-V, Hanayo with one wave, DualPipeV);
* ``hanayo``: 2W chunks per device in W waves (W = degree >= 2);
* ``chimera``: two replicas of p parts in opposite directions (p even).

``backward`` is whether the backward runs whole (B) or split into its input half I and weight
half W (zero-bubble style): a split backward lets W fill bubbles, but needs the costs of I and
W, and keeps W's share of the activations stashed until W runs. Searching both keeps the
answer at least as fast as every named schedule of either kind.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipesim.search.errors import SearchError

SPACE_ITEMS = ("order", "m", "v", "layout", "split", "placement", "backward")
# Layer-split rules (see ``pipesim.search.problem.resolve_split``).
SPLITS = ("scenario", "uniform", "balanced", "head-1", "head+1")
# Items that need a workload model (a microbatch size or layers to move) or a topology.
NEEDS_MODEL = ("m", "split")
# Why an item cannot be searched, for the items that need more than a scenario.
_NEEDS = {"backward": "it needs the costs of the backward's halves I and W (a model, or costs with I and W) "
                      "and no --split-backward/--no-split-backward pinning it",
          "placement": "it needs a scenario with a topology"}


@dataclass(frozen=True)
class Family:
    name: str
    generator: str  # the registry generator that lays the family out
    degree_option: str | None  # the generator option that takes the degree (v, waves)
    degrees: tuple[int, ...]  # degrees tried when ``v`` is in the space
    default_degree: int
    seeds: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]  # (generator, options) giving orders
    fixed: tuple[tuple[str, Any], ...] = ()  # options the layout generator always gets


FAMILIES: tuple[Family, ...] = (
    Family("1f1b", "1f1b", None, (1,), 1,
           (("gpipe", ()), ("1f1b", ()), ("zb-h1", ()), ("zb-h2", ()))),
    Family("interleaved", "looped-bfs", "v", (2, 3, 4), 2,
           (("interleaved", ()), ("looped-bfs", ()))),
    Family("v-shape", "zb-v", None, (1,), 1,
           (("zb-v", ()), ("hanayo", (("waves", 1), ("strict", False))),
            ("dualpipev", (("overlap_chunks", False),)))),
    Family("hanayo", "hanayo", "waves", (2, 3), 2, (("hanayo", (("strict", False),)),),
           (("strict", False),)),
    Family("chimera", "chimera", None, (1,), 1, (("chimera", ()), ("chimera", (("order", "greedy"),)))),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)

# A named schedule's family (asynchronous PipeDream runs the chain; DualPipe's two directions
# are the bidirectional layout of Chimera).
_FAMILY_OF = {"gpipe": "1f1b", "1f1b": "1f1b", "zb-h1": "1f1b", "zb-h2": "1f1b", "pipedream": "1f1b",
              "pipedream-2bw": "1f1b", "interleaved": "interleaved", "looped-bfs": "interleaved",
              "zb-v": "v-shape", "dualpipev": "v-shape", "hanayo": "hanayo", "chimera": "chimera",
              "dualpipe": "chimera"}


def family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise SearchError(f"layout family {name!r} is unknown; known: {', '.join(FAMILY_NAMES)}")


def family_of(schedule_name: str, options: dict[str, Any]) -> tuple[Family, int]:
    """The family and degree of a named schedule (Hanayo with one wave is the V shape)."""
    fam = family(_FAMILY_OF.get(schedule_name, "1f1b"))
    if fam.name == "hanayo" and int(options.get("waves", 1)) == 1:
        return family("v-shape"), 1
    if fam.degree_option is None:
        return fam, 1
    return fam, int(options.get(fam.degree_option, fam.default_degree))


def parse_space(text: str | None, *, allowed: Sequence[str] = SPACE_ITEMS) -> tuple[str, ...]:
    """``order,m,v`` -> the items, in ``SPACE_ITEMS`` order; ``all`` is every allowed item."""
    if text is None or text.strip().lower() == "all":
        return tuple(i for i in SPACE_ITEMS if i in allowed)
    items = [x.strip().lower() for x in text.split(",") if x.strip()]
    if not items:
        raise SearchError(f"--space: {text!r} names no item; give some of {','.join(SPACE_ITEMS)} (or all)")
    for item in items:
        if item not in SPACE_ITEMS:
            raise SearchError(f"--space: unknown item {item!r}; valid: {', '.join(SPACE_ITEMS)} (or all)")
        if item not in allowed:
            raise SearchError(f"--space: {item!r} cannot be searched here: "
                              + ("it needs a scenario with a model (a workload model gives the costs of each "
                                 "microbatch size and layer split)" if item in NEEDS_MODEL
                                 else _NEEDS.get(item, "it does not apply here")))
    return tuple(i for i in SPACE_ITEMS if i in items)


@dataclass(frozen=True)
class Plan:
    """One point of the plan space. ``split`` "scenario": the scenario's own layer split (or
    the automatic one); ``placement`` None: the scenario's own placement (or devices in order)."""

    family: str
    degree: int
    microbatches: int
    microbatch_size: int | None = None  # per microbatch; None: costs-only scenario
    split: str = "scenario"  # a rule of SPLITS, resolved per layout when the plan is built
    placement: tuple[int, ...] | None = None
    placement_name: str = "scenario"
    split_backward: bool = False  # the backward split into I and W (else one B per microbatch)

    @property
    def layout_label(self) -> str:
        fam = family(self.family)
        if fam.degree_option is None:
            return fam.name
        return f"{fam.name} {'v' if fam.degree_option == 'v' else 'W'}={self.degree}"

    def label(self) -> str:
        parts = [self.layout_label, f"m={self.microbatches}"]
        if self.split != "scenario":
            parts.append(f"split={self.split}")
        if self.placement_name != "scenario":
            parts.append(f"placement={self.placement_name}")
        if self.split_backward:
            parts.append("backward=I+W")
        return " ".join(parts)

    def generator_options(self) -> dict[str, Any]:
        fam = family(self.family)
        out = dict(fam.fixed)
        if fam.degree_option is not None:
            out[fam.degree_option] = self.degree
        return out


@dataclass(frozen=True)
class Axes:
    """The values of each item. The table level cannot tell placements apart (it has no
    network), so the table-level plans are the product of the other items, and every
    placement is tried on the network for each re-scored plan."""

    layouts: tuple[tuple[str, int], ...]  # (family, degree)
    microbatches: tuple[tuple[int, int | None], ...]  # (m, microbatch size)
    splits: tuple[str, ...] = ("scenario",)
    placements: tuple[tuple[str, tuple[int, ...] | None], ...] = (("scenario", None),)
    notes: tuple[str, ...] = field(default=())
    backwards: tuple[bool, ...] = (False,)  # split_backward values; the base scenario's first
    base: tuple[str, int, int] | None = None  # the base scenario's (family, degree, m): ``anchors``

    @property
    def count(self) -> int:
        """Plans searched at the table level (placement is judged on the network only)."""
        return len(self.layouts) * len(self.microbatches) * len(self.splits) * len(self.backwards)

    def plans(self) -> list[Plan]:
        return [Plan(fam, deg, m, b, split, split_backward=back)
                for (fam, deg), (m, b), split, back in itertools.product(self.layouts, self.microbatches, self.splits,
                                                                         self.backwards)]


def layout_axis(space: Sequence[str], base: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    """(family, degree) pairs: every family with ``layout``, every degree with ``v``."""
    fams = FAMILIES if "layout" in space else (family(base[0]),)
    out: list[tuple[str, int]] = []
    for fam in fams:
        if "v" in space:
            out += [(fam.name, d) for d in fam.degrees]
        elif fam.name == base[0]:
            out.append((fam.name, base[1]))
        else:
            out.append((fam.name, fam.default_degree))
    return tuple(dict.fromkeys(out))


def microbatch_axis(global_batch: int, base_m: int, p: int) -> tuple[tuple[int, int], ...]:
    """Every m that divides the global batch (per pipeline replica) into whole microbatches,
    from p (fewer leaves devices idle by construction) up, and the scenario's own m."""
    ms = [m for m in range(1, global_batch + 1) if global_batch % m == 0 and m >= min(p, base_m)]
    return tuple((m, global_batch // m) for m in sorted(set(ms) | {base_m}))


def placement_axis(devices: Sequence[str], needed: int, *, samples: int, seed: int
                   ) -> tuple[tuple[tuple[str, tuple[int, ...] | None], ...], str]:
    """Placements of ``needed`` pipeline devices on a topology's ``devices``: packed (in order),
    striped across nodes (device names ``node.gpu``), then ``samples`` seeded random ones.
    Returns the axis and a note saying how much of the whole space that covers."""
    n = len(devices)
    out: dict[tuple[int, ...], str] = {tuple(range(needed)): "packed"}
    nodes: dict[str, list[int]] = {}
    for i, name in enumerate(devices):
        nodes.setdefault(name.split(".", 1)[0] if "." in name else "", []).append(i)
    if len(nodes) > 1:
        queues = [list(v) for v in nodes.values()]
        striped = [q.pop(0) for _ in range(max(map(len, queues))) for q in queues if q][:needed]
        if len(striped) == needed:
            out.setdefault(tuple(striped), "striped")
    rng = random.Random(seed)
    tries = 0
    while len(out) < 2 + samples and tries < 20 * (samples + 1):
        tries += 1
        pick = tuple(rng.sample(range(n), needed))
        out.setdefault(pick, f"random{len(out)}")
    total = math.perm(n, needed)
    note = (f"placement: {len(out)} of {total:,} device assignments (packed, striped, {samples} seeded random)"
            if total > len(out) else f"placement: all {total} device assignments")
    return tuple((name, place) for place, name in out.items()), note


def bounded(axes: Axes, limit: int, seed: int) -> tuple[list[Plan], str]:
    """The plans to try: all of them when they number at most ``limit``, else a seeded sample
    of ``limit`` that always keeps the base plan (the first) and, room allowing, its anchors
    (``anchors``), with a note saying so."""
    plans = axes.plans()
    if len(plans) <= limit:
        return plans, f"{len(plans)} plan{'s' if len(plans) != 1 else ''}"
    rng = random.Random(seed)
    fixed = list(dict.fromkeys([plans[0], *anchors(plans, axes.base)]))[:limit]
    rest = [p for p in plans if p not in fixed]
    keep = [*fixed, *rng.sample(rest, limit - len(fixed))]
    order = {id(p): i for i, p in enumerate(plans)}
    keep.sort(key=lambda p: order[id(p)])
    return keep, f"{len(plans):,} plans in the space; tried a seeded sample of {limit} (raise --max-plans for more)"


def anchors(plans: Sequence[Plan], base: tuple[str, int, int] | None) -> list[Plan]:
    """The plans of the base scenario's layout and microbatch count (``base``: family, degree,
    m) on its own or the balanced layer split, either backward: where the named schedules of
    the base layout run (the ranked table runs each on its balanced split), so that a sample
    never drops them."""
    if base is None:
        return []
    return [p for p in plans if (p.family, p.degree, p.microbatches) == base and p.split in ("scenario", "balanced")]


def shifted(split: Sequence[int], delta: int) -> tuple[int, ...] | None:
    """``split`` with ``delta`` layers moved onto the last part (the one carrying the head) from
    the part before it; None where a part would be left without layers."""
    out = list(split)
    if len(out) < 2:
        return None
    out[-1] += delta
    out[-2] -= delta
    return tuple(out) if min(out) >= 1 else None
