"""Every registered schedule family with its option variants over p and m: the grid that the
compile and order tests sweep."""

from __future__ import annotations

import contextlib

from pipesim.plan import generate
from pipesim.schedule import RequirementError, Schedule
from pipesim.schedule.registry import Registry

VARIANTS: dict[str, list[dict[str, object]]] = {
    "chimera": [{}, {"reduce_grad": True}],
    "dualpipe": [{}, {"reduce_grad": True}, {"overlap_chunks": False}],
    "dualpipev": [{}, {"overlap_chunks": False}],
    "interleaved": [{}, {"v": 3}],
    "hanayo": [{}, {"waves": 2}],
}


def schedule_grid(ps: tuple[int, ...], ms: tuple[int, ...]) -> list[tuple[str, str, Schedule]]:
    """``(family, name, schedule)`` for every family, variant, p and m the family accepts."""
    out = []
    for gen in Registry.default():
        for opts in VARIANTS.get(gen.name, [{}]):
            for p in ps:
                for m in ms:
                    with contextlib.suppress(RequirementError):
                        out.append((gen.name, f"{gen.name}{opts or ''}-p{p}-m{m}", generate(gen.name, p, m, **opts)))
    return out
