"""A schedule's order as integer columns: the form the plain-kind generators emit.

Most generators (1F1B, GPipe, the Zero Bubble family, interleaved, looped BFS) emit only plain
F, B, I and W actions. Building one ``Action`` per entry costs a Python constructor call each,
and compiling the schedule then reads every field back out of those objects; at tens of
thousands of actions both cost more than evaluating the schedule. Such a generator therefore
hands over three integer columns (kind code, stage, microbatch; all devices' lists joined)
and the length of each device's list. This is the schedule's one representation; its
``Action`` lists are made from it, once, only when something reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from pipesim.schedule.action import Action, Kind

IntArray = npt.NDArray[np.int64]

# Kind codes. The four plain kinds come first so that ``code <= CODE_W`` selects them.
CODE_F, CODE_B, CODE_I, CODE_W, CODE_REDUCE, CODE_OVERLAP, CODE_COMM = range(7)
PLAIN_KINDS = (Kind.F, Kind.B, Kind.I, Kind.W)  # indexed by code

PLAIN_CODE = {kind: code for code, kind in enumerate(PLAIN_KINDS)}

Entry = tuple[int, int, int]  # (stage, kind code, microbatch): an Action's field order


@dataclass(frozen=True, eq=False)
class PlainOrder:
    """Every device's list of plain actions: entry k is ``Action(stage[k], PLAIN_KINDS[kind[k]],
    microbatch[k])``; device d's list is the ``lengths[d]`` entries after those of devices < d."""

    kind: IntArray
    stage: IntArray
    microbatch: IntArray
    lengths: tuple[int, ...]

    def __post_init__(self) -> None:
        n = sum(self.lengths)
        if not (len(self.kind) == len(self.stage) == len(self.microbatch) == n):
            raise ValueError(f"PlainOrder: columns of lengths {len(self.kind)}, {len(self.stage)}, "
                             f"{len(self.microbatch)} for {n} actions; all must be {n}")
        if n and (self.kind.min() < CODE_F or self.kind.max() > CODE_W):
            raise ValueError("PlainOrder: kind codes must be CODE_F..CODE_W (plain F, B, I, W)")

    @classmethod
    def of_rows(cls, rows: Sequence[Iterable[Entry]]) -> PlainOrder:
        """From one list of ``(stage, kind code, microbatch)`` per device."""
        lists = [list(r) for r in rows]
        flat = np.fromiter(chain.from_iterable(chain.from_iterable(lists)), np.int64).reshape(-1, 3)
        return cls(flat[:, 1].copy(), flat[:, 0].copy(), flat[:, 2].copy(), tuple(len(r) for r in lists))

    def __len__(self) -> int:
        return len(self.kind)

    def actions(self) -> tuple[tuple[Action, ...], ...]:
        """The ``Action`` lists this order describes."""
        new = tuple.__new__  # NamedTuple's own constructor is a Python function; this is not
        kinds = [PLAIN_KINDS[k] for k in self.kind.tolist()]
        flat = [new(Action, t) for t in zip(self.stage.tolist(), kinds, self.microbatch.tolist(), [None] * len(kinds),
                                             strict=True)]
        out = []
        lo = 0
        for k in self.lengths:
            out.append(tuple(flat[lo : lo + k]))
            lo += k
        return tuple(out)
