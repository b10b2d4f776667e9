"""Layout: where stages live, which model part each computes, and which route each microbatch takes.

Everything placement-related lives here so that dependencies can be *derived* rather than
written by hand: knowing each microbatch's route (sequence of stages) is enough to know that
F(next, mb) needs F(stage, mb) and that the backward runs the route in reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise


class LayoutError(ValueError):
    """A layout that is internally inconsistent."""


@dataclass(frozen=True)
class Layout:
    num_devices: int
    stage_device: tuple[int, ...]  # stage -> device
    stage_part: tuple[int, ...]  # stage -> model part (replicas share a part)
    routes: tuple[tuple[int, ...], ...]  # route -> stages in forward order
    mb_route: tuple[int, ...]  # microbatch -> route index
    # Extra per-schedule facts that do not change dependencies (e.g. weight versions).
    notes: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.num_devices < 1:
            raise LayoutError(f"layout: num_devices={self.num_devices}; need at least 1")
        if len(self.stage_part) != len(self.stage_device):
            raise LayoutError(
                f"layout: {len(self.stage_device)} stages placed but {len(self.stage_part)} model parts given"
            )
        for s, d in enumerate(self.stage_device):
            if not 0 <= d < self.num_devices:
                raise LayoutError(f"layout: stage {s} placed on device {d}; devices are 0..{self.num_devices - 1}")
        for r, route in enumerate(self.routes):
            if not route:
                raise LayoutError(f"layout: route {r} is empty")
            if len(set(route)) != len(route):
                raise LayoutError(f"layout: route {r} visits a stage twice: {list(route)}")
            for s in route:
                if not 0 <= s < self.num_stages:
                    raise LayoutError(f"layout: route {r} names stage {s}; stages are 0..{self.num_stages - 1}")
        for mb, r in enumerate(self.mb_route):
            if not 0 <= r < len(self.routes):
                raise LayoutError(f"layout: microbatch {mb} takes route {r}; routes are 0..{len(self.routes) - 1}")

    @property
    def num_stages(self) -> int:
        return len(self.stage_device)

    @property
    def num_microbatches(self) -> int:
        return len(self.mb_route)

    @cached_property
    def num_parts(self) -> int:
        return len(set(self.stage_part))

    @cached_property
    def route_prev(self) -> tuple[tuple[int, ...], ...]:
        """route_prev[r][stage] = the stage before ``stage`` on route r, -1 at the head or off-route."""
        out = []
        for route in self.routes:
            prev = [-1] * self.num_stages
            for a, b in pairwise(route):
                prev[b] = a
            out.append(tuple(prev))
        return tuple(out)

    @cached_property
    def route_next(self) -> tuple[tuple[int, ...], ...]:
        """route_next[r][stage] = the stage after ``stage`` on route r, -1 at the tail or off-route."""
        out = []
        for route in self.routes:
            nxt = [-1] * self.num_stages
            for a, b in pairwise(route):
                nxt[a] = b
            out.append(tuple(nxt))
        return tuple(out)

    @cached_property
    def route_stages(self) -> tuple[frozenset[int], ...]:
        return tuple(frozenset(r) for r in self.routes)

    @cached_property
    def stage_microbatches(self) -> tuple[tuple[int, ...], ...]:
        """For each stage, the microbatches whose route passes through it."""
        per_route = [sorted(r) for r in self.routes]
        out: list[list[int]] = [[] for _ in range(self.num_stages)]
        for mb, r in enumerate(self.mb_route):
            for s in per_route[r]:
                out[s].append(mb)
        return tuple(tuple(x) for x in out)

    @cached_property
    def device_stages(self) -> tuple[tuple[int, ...], ...]:
        out: list[list[int]] = [[] for _ in range(self.num_devices)]
        for s, d in enumerate(self.stage_device):
            out[d].append(s)
        return tuple(tuple(x) for x in out)

    @cached_property
    def part_stages(self) -> dict[int, tuple[int, ...]]:
        """Model part -> its replica stages (length > 1 means gradients need synchronising)."""
        out: dict[int, list[int]] = {}
        for s, k in enumerate(self.stage_part):
            out.setdefault(k, []).append(s)
        return {k: tuple(v) for k, v in out.items()}

    def weight_copies(self, device: int) -> float:
        """Weights held by ``device`` in units of one device's share of one model copy.

        A plain pipeline of p devices holds 1/p of the model per device (= 1 copy); interleaving
        splits that share into v chunks (still 1); Chimera/DualPipe hold two parts per device (2).
        Asynchronous schedules stash several versions of a stage's weights
        (``notes["weight_versions"]``, one count per stage): each version counts, so PipeDream's
        devices report p, p-1, ..., 1 and not one copy each.
        """
        versions = self.notes.get("weight_versions")
        share = self.num_devices / max(self.num_parts, 1)
        if isinstance(versions, list | tuple) and len(versions) == self.num_stages:
            return sum(float(versions[s]) for s in self.device_stages[device]) * share
        return len(self.device_stages[device]) * share


def linear_layout(num_devices: int, num_microbatches: int, chunks: int = 1, *, style: str = "loop") -> Layout:
    """The common case: one route through ``num_devices * chunks`` stages.

    ``style="loop"`` places stage s on device s % p (interleaved 1F1B, looped BFS);
    ``style="v"`` places the second half mirrored (V shape: stages p..2p-1 on devices p-1..0),
    generalised to ``chunks`` = 2W for Hanayo-style zig-zag.
    """
    p, n = num_devices, num_devices * chunks
    if style == "loop":
        devices = tuple(s % p for s in range(n))
    elif style == "v":
        devices = tuple((s % p) if (s // p) % 2 == 0 else (p - 1 - s % p) for s in range(n))
    else:
        raise LayoutError(f"layout style {style!r}; expected 'loop' or 'v'")
    return Layout(
        num_devices=p,
        stage_device=devices,
        stage_part=tuple(range(n)),
        routes=(tuple(range(n)),),
        mb_route=(0,) * num_microbatches,
    )
