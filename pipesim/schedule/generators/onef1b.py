"""1F1B (PipeDream-Flush, DAPPLE): warm-up forwards, then alternate one forward, one backward."""

from __future__ import annotations

from pipesim.schedule.action import Kind
from pipesim.schedule.layout import linear_layout
from pipesim.schedule.order import PLAIN_CODE, PlainOrder
from pipesim.schedule.registry import Generator
from pipesim.schedule.table import Schedule


def one_f_one_b_order(p: int, m: int, rank: int) -> list[tuple[Kind, int]]:
    """Megatron's order for one rank: p-rank-1 warm-up forwards, steady 1F1B, cool-down backwards.

    Stage ``rank`` therefore never holds more than min(p - rank, m) microbatches' activations.
    """
    warmup = min(p - rank - 1, m)
    order: list[tuple[Kind, int]] = [(Kind.F, mb) for mb in range(warmup)]
    for i in range(m - warmup):
        order.append((Kind.F, warmup + i))
        order.append((Kind.B, i))
    order.extend((Kind.B, mb) for mb in range(m - warmup, m))
    return order


def one_f_one_b(p: int, m: int) -> Schedule:
    rows = [[(d, PLAIN_CODE[k], mb) for k, mb in one_f_one_b_order(p, m, d)] for d in range(p)]
    return Schedule.from_order("1f1b", linear_layout(p, m), PlainOrder.of_rows(rows))


GENERATORS = (
    Generator(
        "1f1b",
        one_f_one_b,
        "one-forward-one-backward with a flush (PipeDream-Flush / DAPPLE / Megatron)",
        aliases=("pipedream-flush",),
    ),
)
