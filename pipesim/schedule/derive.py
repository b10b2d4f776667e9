"""The dependency rule (``pipesim.schedule.deps``) applied to whole numpy columns.

``derive`` applies it to every part of every action and returns every prerequisite, CSR-style,
with the inputs no action produces. ``plain_slots`` is the common case's shortcut: when every
action is one plain F, B, I or W (no overlapped chunk, no REDUCE_GRAD) and every input exists,
it goes straight to the two slots per action that the Python loops read, without materialising
every prerequisite (messages, error texts and tests build those later, with ``derive``).
Both index producer tables ``[stage * M + microbatch]`` with numpy; no loop runs per action.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pipesim.schedule.action import Action
from pipesim.schedule.columns import CODE_B, CODE_F, CODE_I, CODE_REDUCE, CODE_W, Columns, IntArray
from pipesim.schedule.layout import Layout
from pipesim.schedule.table import Schedule

CLS_F, CLS_G, CLS_W = 0, 1, 2
# Prerequisite kinds, used for message sizes and labels.
DEP_LOCAL, DEP_ACT, DEP_GRAD, DEP_SYNC = 0, 1, 2, 3

Missing = tuple[int, Action, tuple[int, int, int]]  # (gid, action, absent (cls, stage, mb))


class DepArrays(NamedTuple):
    """Every prerequisite, CSR-style: action g's are entries ``ptr[g]:ptr[g + 1]`` of the other
    arrays, in rule order (never the previous action on the device)."""

    ptr: IntArray
    pred: IntArray
    kind: IntArray
    stage: IntArray
    mb: IntArray


def derive(schedule: Schedule, c: Columns) -> tuple[DepArrays, list[Missing]]:
    """Every prerequisite of every action, and the inputs that no action produces.

    Parts naming a stage or microbatch that does not exist get none (structural validation
    reports them)."""
    lay = schedule.layout
    S, M = max(lay.num_stages, 1), max(lay.num_microbatches, 1)
    SM = S * M
    n = len(c)
    device = c.device
    gid, pk, ps, pm = c.part_gid, c.part_kind, c.part_stage, c.part_mb
    valid = (pm >= 0) & (pm < M) & (ps >= 0) & (ps < S)
    if not valid.all():
        gid, pk, ps, pm = gid[valid], pk[valid], ps[valid], pm[valid]
    key = ps * M + pm
    is_f, is_w = pk == CODE_F, pk == CODE_W
    is_b = ~(is_f | is_w)  # B, I (and the rest, like a per-kind rule's last branch)
    makes_g = (pk == CODE_B) | (pk == CODE_I)
    makes_w = ~(is_f | (pk == CODE_I))  # B, W and the rest
    # Producer per (class, stage, microbatch). Only an invalid schedule has two; then the last
    # in list order (the largest gid) wins, as it would in a loop over the actions.
    prod = np.full(3 * SM, -1, dtype=np.int64)
    np.maximum.at(prod, key[is_f], gid[is_f])
    np.maximum.at(prod, SM + key[makes_g], gid[makes_g])
    np.maximum.at(prod, 2 * SM + key[makes_w], gid[makes_w])

    # At most two prerequisites per part: slot 0 (F: the previous stage's F; W: its own G;
    # B/I: its own F) and slot 1 (B/I: the next stage's G). -2: the rule names none.
    route = np.asarray(lay.mb_route, dtype=np.int64)[pm] if len(pm) else pm
    prev = _route_table(lay.route_prev, S)[route, ps]
    nxt = _route_table(lay.route_next, S)[route, ps]
    index0 = np.where(is_f, prev * M + pm, np.where(is_w, SM + key, key))
    index1 = SM + nxt * M + pm
    has0, has1 = ~is_f | (prev >= 0), is_b & (nxt >= 0)
    p0 = np.where(has0, prod[np.where(has0, index0, 0)], -2)
    p1 = np.where(has1, prod[np.where(has1, index1, 0)], -2)
    missing: list[Missing] = []
    if (p0 == -1).any() or (p1 == -1).any():
        both = np.stack([p0, p1], axis=1).ravel() == -1
        at = np.stack([index0, index1], axis=1).ravel()[both].tolist()
        for g, i, m in zip(np.repeat(gid, 2)[both].tolist(), at, np.repeat(pm, 2)[both].tolist(), strict=True):
            missing.append((g, c.actions[g], (i // SM, (i % SM) // M, m)))
    # A producer inside the same overlapped chunk is no prerequisite.
    ok0, ok1 = (p0 >= 0) & (p0 != gid), (p1 >= 0) & (p1 != gid)
    own = device[gid]
    remote0 = ok0 & is_f & (device[np.maximum(p0, 0)] != own)
    remote1 = ok1 & (device[np.maximum(p1, 0)] != own)
    parts = _Parts(gid, p0, ok0, np.where(remote0, DEP_ACT, DEP_LOCAL), np.where(is_f, prev, ps),
                   p1, ok1, np.where(remote1, DEP_GRAD, DEP_LOCAL), ps, pm)

    reduces = np.flatnonzero(c.kind == CODE_REDUCE).tolist()
    extra = None
    if reduces:
        extra, more = _reduce_deps(schedule, c, reduces, prod[2 * SM :].tolist(), S, M)
        missing = sorted(missing + more, key=lambda x: x[0])
    return _arrays(n, parts, extra), missing


Slots = tuple[IntArray, IntArray, dict[int, tuple[tuple[int, int], ...]]]


def slots(n: int, a: DepArrays) -> Slots:
    """``local_pred``, ``remote_pred`` and ``more_preds`` (see ``Program``) from every prerequisite."""
    owner = np.repeat(np.arange(n, dtype=np.int64), np.diff(a.ptr))
    local = a.kind == DEP_LOCAL
    local_pred, remote_pred = np.full(n, n, dtype=np.int64), np.full(n, n, dtype=np.int64)
    local_pred[owner[local]] = a.pred[local]
    remote_pred[owner[~local]] = a.pred[~local]
    many = (np.bincount(owner[local], minlength=n) > 1) | (np.bincount(owner[~local], minlength=n) > 1)
    local_pred[many], remote_pred[many] = n, n + 1
    more: dict[int, list[tuple[int, int]]] = {}
    sel = many[owner]
    for g, p, k in zip(owner[sel].tolist(), a.pred[sel].tolist(), a.kind[sel].tolist(), strict=True):
        more.setdefault(g, []).append((p, k))
    return local_pred, remote_pred, {g: tuple(v) for g, v in more.items()}


def plain_slots(lay: Layout, c: Columns) -> Slots | None:
    """``slots`` straight from the columns, or None unless every action is one plain F, B, I or
    W naming an existing stage and microbatch and every input exists."""
    n = len(c)
    S, M = lay.num_stages, lay.num_microbatches
    kind, ps, pm, device = c.kind, c.stage, c.part_mb, c.device
    if not c.one_part_each:
        return None
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), {}
    if kind.max() > CODE_W or ps.min() < 0 or ps.max() >= S or pm.min() < 0 or pm.max() >= M:
        return None
    key = ps * M + pm
    is_f, is_w = kind == CODE_F, kind == CODE_W
    f, w, b = np.flatnonzero(is_f), np.flatnonzero(is_w), np.flatnonzero(~(is_f | is_w))  # b: B or I
    # The producer of each F and G (B or I); the largest gid wins, as in ``derive``.
    prod_f = np.full(S * M, -1, dtype=np.int64)
    np.maximum.at(prod_f, key[f], f)
    prod_g = np.full(S * M, -1, dtype=np.int64)
    np.maximum.at(prod_g, key[b], b)
    local_pred = np.full(n, n, dtype=np.int64)
    remote_pred = np.full(n, n, dtype=np.int64)
    # F: the previous stage's F on the route (an activation unless that stage is on this device).
    prev = _along_route(lay, lay.route_prev, ps[f], pm[f])
    has = prev >= 0
    p = np.where(has, prod_f[np.where(has, prev * M + pm[f], 0)], -2)
    if (p == -1).any():
        return None
    here = has & (device[np.maximum(p, 0)] == device[f])
    local_pred[f[here]] = p[here]
    there = has & ~here
    remote_pred[f[there]] = p[there]
    # W: its own stage's G.
    p = prod_g[key[w]]
    if (p < 0).any():
        return None
    local_pred[w] = p
    # B/I: its own stage's F, then the next stage's G (a gradient unless on this device).
    p = prod_f[key[b]]
    if (p < 0).any():
        return None
    local_pred[b] = p
    nxt = _along_route(lay, lay.route_next, ps[b], pm[b])
    has = nxt >= 0
    p = np.where(has, prod_g[np.where(has, nxt * M + pm[b], 0)], -2)
    if (p == -1).any():
        return None
    here = has & (device[np.maximum(p, 0)] == device[b])
    # Two same-device prerequisites (a V-shape's turn): more than the slots hold.
    more: dict[int, tuple[tuple[int, int], ...]] = {
        g: ((own, DEP_LOCAL), (grad, DEP_LOCAL))
        for g, own, grad in zip(b[here].tolist(), local_pred[b[here]].tolist(), p[here].tolist(), strict=True)}
    local_pred[b[here]], remote_pred[b[here]] = n, n + 1
    there = has & ~here
    remote_pred[b[there]] = p[there]
    return local_pred, remote_pred, more


def _along_route(lay: Layout, table: tuple[tuple[int, ...], ...], stage: IntArray, mb: IntArray) -> IntArray:
    """``table[route of mb][stage]`` for arrays of stages and microbatches."""
    if len(table) == 1:
        return np.asarray(table[0], dtype=np.int64)[stage]
    return _route_table(table, lay.num_stages)[np.asarray(lay.mb_route, dtype=np.int64)[mb], stage]


class _Parts(NamedTuple):
    gid: IntArray
    pred0: IntArray
    ok0: npt.NDArray[np.bool_]
    kind0: IntArray
    stage0: IntArray
    pred1: IntArray
    ok1: npt.NDArray[np.bool_]
    kind1: IntArray
    stage1: IntArray
    mb: IntArray


def _arrays(n: int, p: _Parts, extra: IntArray | None) -> DepArrays:
    """Flatten the two slots part-major (each action's prerequisites in rule order); add the
    REDUCE_GRAD rows ``extra`` (owner, pred, kind, stage, mb) at their actions."""
    ok = np.stack([p.ok0, p.ok1], axis=1).ravel()
    owner = np.repeat(p.gid, 2)[ok]
    pred = np.stack([p.pred0, p.pred1], axis=1).ravel()[ok]
    kind = np.stack([p.kind0, p.kind1], axis=1).ravel()[ok]
    stage = np.stack([p.stage0, p.stage1], axis=1).ravel()[ok]
    mb = np.repeat(p.mb, 2)[ok]
    if extra is not None and len(extra):
        owner = np.concatenate([owner, extra[:, 0]])
        by_owner = np.argsort(owner, kind="stable")  # a REDUCE_GRAD has no parts: no ties to break
        owner = owner[by_owner]
        pred, kind, stage, mb = (np.concatenate([a, extra[:, i]])[by_owner]
                                 for i, a in enumerate((pred, kind, stage, mb), start=1))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=ptr[1:])
    return DepArrays(ptr, pred, kind, stage, mb)


def _route_table(rows: tuple[tuple[int, ...], ...], S: int) -> IntArray:
    """``route_prev``/``route_next`` as an array (routes x S; -1 everywhere for a layout without stages)."""
    return np.array(rows, dtype=np.int64).reshape(len(rows), -1) if rows and rows[0] else np.full((max(len(rows), 1), S), -1)


def _reduce_deps(schedule: Schedule, c: Columns, reduces: list[int], prod_w: list[int], S: int, M: int
                 ) -> tuple[IntArray, list[Missing]]:
    """Prerequisites of the REDUCE_GRAD actions (a handful per schedule: a plain loop)."""
    lay = schedule.layout
    stage_of = c.stage.tolist()
    device, first = c.device.tolist(), c.first
    reduce_of: dict[int, int] = {}
    for g in reduces:
        reduce_of[stage_of[g]] = g  # the last in list order
    rows: list[tuple[int, int, int, int, int]] = []  # (owner, pred, kind, stage, mb)
    missing: list[Missing] = []
    for g in reduces:
        s, d = stage_of[g], device[g]
        if not 0 <= s < S:
            continue
        for s2 in lay.part_stages[lay.stage_part[s]]:
            for mb in lay.stage_microbatches[s2]:
                p = prod_w[s2 * M + mb]
                if p < 0:
                    missing.append((g, c.actions[g], (CLS_W, s2, mb)))
                else:
                    rows.append((g, p, DEP_SYNC if device[p] != d else DEP_LOCAL, s2, mb))
            # A collective starts only when every replica has reached it: depend on the action
            # before each partner's REDUCE_GRAD on the partner's device.
            g2 = reduce_of.get(s2, -1)
            if s2 != s and g2 > first[device[g2]]:
                rows.append((g, g2 - 1, DEP_SYNC if device[g2] != d else DEP_LOCAL, s2, -1))
    return np.array(rows, dtype=np.int64).reshape(-1, 5), missing


