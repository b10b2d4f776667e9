"""Formula level: closed forms for uniform costs, one function per schedule.

Each schedule module registers ``FORMULAS: dict[name, callable]``; ``closed_form`` dispatches.
All times use *per-stage* costs (the same numbers a ``Costs`` object holds): for interleaved
schedules F and B are one chunk's, so the literature's whole-device F equals v * F here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

FORMULA_MODULES = ("pipesim.formulas.classic", "pipesim.formulas.advanced")


@dataclass(frozen=True)
class ClosedForm:
    """What the literature predicts for a schedule with uniform costs and free communication.

    ``None`` means the literature gives no exact value (an estimate may sit in ``notes``).
    ``peak_activations`` is per device, in microbatches in flight (forward done, backward not).
    ``p2p_per_microbatch`` counts cross-device messages one microbatch causes in each direction.
    """

    schedule: str
    makespan: float | None
    bubble_ratio: float | None
    span_bubble_ratio: float | None
    peak_activations: tuple[float, ...] | None
    weight_copies: float
    p2p_per_microbatch: int
    collectives_per_iteration: int = 0
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def _table() -> dict[str, Callable[..., ClosedForm]]:
    out: dict[str, Callable[..., ClosedForm]] = {}
    for mod in FORMULA_MODULES:
        try:
            out.update(importlib.import_module(mod).FORMULAS)
        except ModuleNotFoundError as exc:  # a module still being written must not break the rest
            if exc.name != mod:
                raise
    return out


def known() -> list[str]:
    return sorted(_table())


def closed_form(name: str, p: int, m: int, *, F: float = 1.0, B: float | None = None,
                I: float | None = None, W: float | None = None, **options: object) -> ClosedForm:  # noqa: E741
    """Closed forms for schedule ``name``; B defaults to 2F, I and W to B/2 (as ``Costs.make``)."""
    table = _table()
    key = name.lower()
    if key == "pipedream-flush":
        key = "1f1b"
    if key not in table:
        raise ValueError(f"no closed form for schedule '{name}'; known: {', '.join(sorted(table))}")
    b = 2.0 * F if B is None else B
    if B is None and I is not None and W is not None:
        b = I + W
    i = b / 2 if I is None else I
    w = b / 2 if W is None else W
    return table[key](p, m, F=F, B=b, I=i, W=w, **options)
