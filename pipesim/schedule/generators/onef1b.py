"""1F1B (PipeDream-Flush, DAPPLE): warm-up forwards, then alternate one forward, one backward."""

from __future__ import annotations

import numpy as np

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
    """``one_f_one_b_order`` on every rank, written straight into columns (2m actions per rank)."""
    kind = np.empty((p, 2 * m), dtype=np.int64)
    mb = np.empty((p, 2 * m), dtype=np.int64)
    for rank in range(p):
        w = min(p - rank - 1, m)
        k, b = kind[rank], mb[rank]
        k[:w], b[:w] = PLAIN_CODE[Kind.F], np.arange(w)  # warm-up
        k[w : 2 * m - w : 2], b[w : 2 * m - w : 2] = PLAIN_CODE[Kind.F], np.arange(w, m)  # steady: F, then B
        k[w + 1 : 2 * m - w : 2], b[w + 1 : 2 * m - w : 2] = PLAIN_CODE[Kind.B], np.arange(m - w)
        k[2 * m - w :], b[2 * m - w :] = PLAIN_CODE[Kind.B], np.arange(m - w, m)  # cool-down
    stage = np.repeat(np.arange(p, dtype=np.int64), 2 * m)
    order = PlainOrder(kind.ravel(), stage, mb.ravel(), (2 * m,) * p)
    return Schedule.from_order("1f1b", linear_layout(p, m), order)


GENERATORS = (
    Generator(
        "1f1b",
        one_f_one_b,
        "one-forward-one-backward with a flush (PipeDream-Flush / DAPPLE / Megatron)",
        aliases=("pipedream-flush",),
    ),
)
