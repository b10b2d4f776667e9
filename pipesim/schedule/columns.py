"""A schedule as per-action integer columns, and the structural check done on them with numpy.

Compiling a schedule touches every action a few times (structure, dependencies, durations,
memory); at tens of thousands of actions a Python loop per step costs more than evaluating the
schedule. So the actions are read once, by C-level ``map`` passes, into numpy columns (kind,
stage, microbatch, device, step), and everything after that works on whole columns.

An overlapped F&B action performs two plain actions; the *part* columns list every plain
action performed, in action order, so that dependencies and memory treat an overlap as its two
halves exactly as the per-action code does (``a.sub if a.sub is not None else (a,)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import chain, compress
from operator import itemgetter

import numpy as np

from pipesim.schedule.action import Action, Kind
from pipesim.schedule.order import (
    CODE_B,
    CODE_COMM,
    CODE_F,
    CODE_I,
    CODE_OVERLAP,
    CODE_REDUCE,
    CODE_W,
    IntArray,
    PlainOrder,
)
from pipesim.schedule.table import Schedule

__all__ = ["CODE_B", "CODE_COMM", "CODE_F", "CODE_I", "CODE_OVERLAP", "CODE_REDUCE", "CODE_W", "KIND_CODE", "Columns",
           "IntArray", "action_columns", "structure_ok"]

KIND_CODE: dict[Kind, int] = {
    Kind.F: CODE_F, Kind.B: CODE_B, Kind.I: CODE_I, Kind.W: CODE_W, Kind.REDUCE_GRAD: CODE_REDUCE,
    Kind.OVERLAP_F_B: CODE_OVERLAP, Kind.SEND_F: CODE_COMM, Kind.RECV_F: CODE_COMM,
    Kind.SEND_B: CODE_COMM, Kind.RECV_B: CODE_COMM,
}
_STAGE, _KIND, _MB, _SUB = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)


@dataclass(eq=False)
class Columns:
    """Per compute action (gid order: device-major, list order, communication markers dropped):
    ``kind`` (``KIND_CODE``), ``stage``, ``device``, ``step`` (position in the device's original
    list). Per part (plain action performed; REDUCE_GRAD performs none): ``part_gid``,
    ``part_kind``, ``part_stage``, ``part_mb`` (-1 where the microbatch is None). ``actions``
    lists the actions themselves, built on first use for a schedule made from columns."""

    schedule: Schedule
    flat: list[Action] | None  # the actions, if already read (None: build on first use)
    kind: IntArray
    stage: IntArray
    device: IntArray
    first: list[int]
    count: list[int]
    parts: IntArray | None  # part -> gid; None when each action is its own one part
    part_kind: IntArray
    part_stage: IntArray
    part_mb: IntArray
    with_sub: list[int]  # gids of actions with sub-actions (overlapped F&B), ascending
    row_lengths: list[int]  # each device's list, communication markers included
    kept: IntArray | None  # positions (all devices' lists joined) of the compute actions; None: all

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def one_part_each(self) -> bool:
        """Part i is action i (no overlapped chunk, no REDUCE_GRAD)."""
        return self.parts is None

    @cached_property
    def part_gid(self) -> IntArray:
        """The action each part belongs to."""
        return np.arange(len(self), dtype=np.int64) if self.parts is None else self.parts

    @cached_property
    def actions(self) -> list[Action]:
        """gid -> action. Only a schedule made from columns (which has no communication markers)
        leaves this to be built here."""
        return self.flat if self.flat is not None else list(chain.from_iterable(self.schedule.actions))

    @cached_property
    def step(self) -> IntArray:
        """Position of each action in its device's original list (needed only to name errors)."""
        lens = self.row_lengths
        step = np.arange(sum(lens), dtype=np.int64) - np.repeat(np.cumsum([0, *lens[:-1]], dtype=np.int64), lens)
        return step if self.kept is None else step[self.kept]


# The plain kinds are the one-letter ones: joined, the kinds of a plain schedule are one byte
# each, and a byte table turns them into codes without a dictionary lookup per action.
_LETTER_CODE = np.full(256, -1, dtype=np.int64)
for _kind in (Kind.F, Kind.B, Kind.I, Kind.W):
    _LETTER_CODE[ord(_kind.value)] = KIND_CODE[_kind]


def _kinds(flat: list[Action]) -> IntArray:
    n = len(flat)
    letters = "".join(map(_KIND, flat))
    if len(letters) == n and letters.isascii():
        codes = _LETTER_CODE[np.frombuffer(letters.encode("ascii"), dtype=np.uint8)]
        if len(codes) == 0 or codes.min() >= 0:
            return codes
    return np.fromiter(map(KIND_CODE.__getitem__, map(_KIND, flat)), np.int64, n)


def _microbatches(flat: list[Action]) -> IntArray:
    try:
        return np.fromiter(map(_MB, flat), np.int64, len(flat))
    except TypeError:  # None (REDUCE_GRAD, overlaps, or a malformed action): -1, never valid
        return np.array([-1 if a.microbatch is None else a.microbatch for a in flat], dtype=np.int64)


def action_columns(schedule: Schedule) -> Columns:
    """Read ``schedule`` into columns: a few C-level passes over its actions, then numpy; a
    schedule made from columns is taken as it is."""
    if schedule.plain_order is not None:
        return _plain_columns(schedule, schedule.plain_order)
    rows = schedule.actions
    lens = [len(r) for r in rows]
    flat: list[Action] = list(chain.from_iterable(rows))
    n = len(flat)
    kind = _kinds(flat)
    stage = np.fromiter(map(_STAGE, flat), np.int64, n)
    mb = _microbatches(flat)
    subs: list[tuple[Action, ...] | None] = list(map(_SUB, flat))
    device = np.repeat(np.arange(len(rows), dtype=np.int64), lens)
    keep = kind != CODE_COMM
    kept = None
    if not keep.all():
        flat = list(compress(flat, keep.tolist()))
        subs = list(compress(subs, keep.tolist()))
        kind, stage, mb, device, kept = kind[keep], stage[keep], mb[keep], device[keep], np.flatnonzero(keep)
        n = len(flat)
    count = np.bincount(device, minlength=len(rows)).tolist()
    first = np.concatenate(([0], np.cumsum(count[:-1], dtype=np.int64))).astype(np.int64).tolist()
    with_sub = [g for g, s in enumerate(subs) if s is not None] if subs.count(None) != n else []
    if not with_sub:
        plain = kind != CODE_REDUCE
        if plain.all():
            return Columns(schedule, flat, kind, stage, device, first, count, None, kind, stage, mb, [], lens, kept)
        return Columns(schedule, flat, kind, stage, device, first, count, np.flatnonzero(plain), kind[plain], stage[plain], mb[plain],
                       [], lens, kept)
    # Actions with sub-actions perform those; REDUCE_GRAD performs nothing; the rest themselves.
    per = np.where(kind == CODE_REDUCE, 0, 1)
    extra: list[tuple[int, int, int, int]] = []
    for g in with_sub:
        parts = flat[g].sub or ()
        per[g] = len(parts) if kind[g] != CODE_REDUCE else 0
        if kind[g] != CODE_REDUCE:
            extra.extend((g, KIND_CODE[p.kind], p.stage, -1 if p.microbatch is None else p.microbatch) for p in parts)
    gids = np.arange(n, dtype=np.int64)
    part_gid = np.repeat(gids, per)
    part_kind, part_stage, part_mb = kind[part_gid], stage[part_gid], mb[part_gid]
    if extra:
        ex = np.array(extra, dtype=np.int64)
        # Positions of the sub-parts: each such action's run of parts, in order.
        ws = np.asarray(with_sub, dtype=np.int64)
        n_ws = per[ws]
        run_start = np.repeat(np.cumsum(per)[ws] - n_ws, n_ws)
        pos = run_start + np.arange(len(extra)) - np.repeat(np.cumsum(n_ws) - n_ws, n_ws)
        part_kind[pos], part_stage[pos], part_mb[pos] = ex[:, 1], ex[:, 2], ex[:, 3]
    return Columns(schedule, flat, kind, stage, device, first, count, part_gid, part_kind, part_stage, part_mb, with_sub, lens,
                   kept)


def _plain_columns(schedule: Schedule, order: PlainOrder) -> Columns:
    """Columns of a schedule made from plain-action columns: every action is its own one part."""
    lens = list(order.lengths)
    device = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    first = np.concatenate(([0], np.cumsum(lens[:-1], dtype=np.int64))).astype(np.int64).tolist()
    return Columns(schedule, None, order.kind, order.stage, device, first, lens, None, order.kind, order.stage,
                   order.microbatch, [], lens, None)


def structure_ok(schedule: Schedule, c: Columns) -> bool:
    """True when ``check_structure`` would find nothing wrong (numpy over the columns).

    Never true where the Python check raises; a False sends the caller to that check, which
    then raises with its exact message (the first bad cell in list order)."""
    lay = schedule.layout
    S, M = lay.num_stages, lay.num_microbatches
    if len(c.row_lengths) != lay.num_devices or S == 0:
        return False
    stage, kind = c.stage, c.kind
    if len(stage) and (stage.min() < 0 or stage.max() >= S):
        return False
    stage_device = np.asarray(lay.stage_device, dtype=np.int64)
    red = kind == CODE_REDUCE
    if red.any():
        rs = stage[red]
        if (stage_device[rs] != c.device[red]).any() or np.bincount(rs).max() > 1:
            return False
    pk, ps, pm = c.part_kind, c.part_stage, c.part_mb
    if len(pk) == 0:
        return not any(lay.stage_microbatches)
    if M == 0 or pk.max() > CODE_W or ps.min() < 0 or ps.max() >= S or pm.min() < 0 or pm.max() >= M:
        return False
    if (stage_device[ps] != (c.device if c.one_part_each else c.device[c.part_gid])).any():
        return False
    on_route = np.zeros((len(lay.routes), S), dtype=bool)
    for r, route in enumerate(lay.routes):
        on_route[r, list(route)] = True
    mb_route = np.asarray(lay.mb_route, dtype=np.int64)
    if not on_route.all() and not on_route[mb_route[pm], ps].all():  # all: every route visits every stage
        return False
    SM = S * M
    # One byte per (kind, stage, microbatch) cell, set where a part names it: the parts name
    # distinct cells exactly when as many cells are set as there are parts (a count per cell,
    # ``np.bincount``, takes eight bytes a cell and a pass more).
    cell = pk * S
    cell += ps
    cell *= M
    cell += pm
    seen = np.zeros(4 * SM, dtype=np.bool_)
    seen[cell] = True
    if np.count_nonzero(seen) != len(cell):
        return False
    # Every (stage, microbatch) on a route has one F and either one B or one I and one W; cells
    # off the routes have nothing (checked above).
    needed = on_route[mb_route].T.reshape(SM)  # [s * M + mb]
    f, b, i, w = seen.reshape(4, SM)
    return bool((f & ((b & ~i & ~w) | (~b & i & w)))[needed].all())
