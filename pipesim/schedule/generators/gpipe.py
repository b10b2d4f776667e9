"""GPipe: every forward, then every backward (one flush per iteration)."""

from __future__ import annotations

from pipesim.schedule.layout import linear_layout
from pipesim.schedule.order import CODE_B, CODE_F, PlainOrder
from pipesim.schedule.registry import Generator
from pipesim.schedule.table import Schedule


def gpipe(p: int, m: int) -> Schedule:
    """All m forwards then all m backwards on every device, microbatches in order.

    Uniform costs give makespan (m+p-1)(F+B) and an activation peak of m on every stage.
    """
    rows = [[(d, CODE_F, mb) for mb in range(m)] + [(d, CODE_B, mb) for mb in range(m)] for d in range(p)]
    return Schedule.from_order("gpipe", linear_layout(p, m), PlainOrder.of_rows(rows))


GENERATORS = (
    Generator("gpipe", gpipe, "all forwards, then all backwards (GPipe)"),
)
