"""GPipe: every forward, then every backward (one flush per iteration)."""

from __future__ import annotations

from pipesim.schedule.action import Action, Kind
from pipesim.schedule.layout import linear_layout
from pipesim.schedule.registry import Generator
from pipesim.schedule.table import Schedule


def gpipe(p: int, m: int) -> Schedule:
    """All m forwards then all m backwards on every device, microbatches in order.

    Uniform costs give makespan (m+p-1)(F+B) and an activation peak of m on every stage.
    """
    rows = [
        [Action(d, Kind.F, mb) for mb in range(m)] + [Action(d, Kind.B, mb) for mb in range(m)]
        for d in range(p)
    ]
    return Schedule.build("gpipe", linear_layout(p, m), rows)


GENERATORS = (
    Generator("gpipe", gpipe, "all forwards, then all backwards (GPipe)"),
)
