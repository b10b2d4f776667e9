"""Memory as a function of the schedule and the costs: static memory and activation steps.

Activation memory depends on each device's action *order* only; times merely place its steps.
So it is computed once per compiled program, and each level maps the steps onto its own start
and end times. Sizes are bytes when the costs carry sizes, else stage-microbatch units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

from pipesim.costs import Costs
from pipesim.schedule.columns import CODE_B, CODE_COMM, CODE_F, CODE_I, CODE_REDUCE, CODE_W, Columns
from pipesim.schedule.deps import Program
from pipesim.schedule.table import Schedule


def static_memory(schedule: Schedule, costs: Costs) -> list[float]:
    """Per device: weights (one copy per stashed version), one gradient buffer, optimizer state.

    Asynchronous schedules record per-stage weight versions in ``layout.notes["weight_versions"]``
    (PipeDream stashes p - s versions on stage s, 2BW two); everything else keeps one.
    """
    lay = schedule.layout
    versions = lay.notes.get("weight_versions") if lay.notes else None
    out = []
    for d in range(lay.num_devices):
        total = 0.0
        for s in lay.device_stages[d]:
            copies = float(versions[s]) if isinstance(versions, Sequence) else 1.0
            total += costs.param_bytes[s] * (copies + 1.0) + costs.optimizer_bytes[s]
        out.append(total)
    return out


Step = tuple[int, bool, float, int]  # (action id, at its start, stash size, microbatches)


class ActivationSteps:
    """``steps[d]`` lists, in device order, ``(action id, at its start, size, microbatches)``: the
    stash after that action starts (forwards) or ends (everything else). ``peaks_n`` and
    ``peaks_b`` are each device's most microbatches in flight and largest stash.

    Metrics need only the peaks; the steps (one record per action) are built on first use, by
    traces."""

    __slots__ = ("_build", "_steps", "peaks_b", "peaks_n")

    def __init__(self, peaks_n: list[int], peaks_b: list[float], steps: Callable[[], list[list[Step]]]) -> None:
        self.peaks_n = peaks_n
        self.peaks_b = peaks_b
        self._build: Callable[[], list[list[Step]]] | None = steps
        self._steps: list[list[Step]] = []

    @property
    def steps(self) -> list[list[Step]]:
        if self._build is not None:
            self._steps, self._build = self._build(), None
        return self._steps


def activation_steps(program: Program, costs: Costs) -> ActivationSteps:
    """Walk each device's actions in order: F stashes its activations (at its start), I frees all
    but W's share, W frees the rest, B frees everything (at their ends).

    Per plain action performed (``Program.columns`` parts), the change of the stash; each
    device's stash after every part is a running sum from 0.0. ``np.cumsum`` adds sequentially,
    left to right, so every value is bit for bit the one a Python loop accumulating
    ``cur += change`` gets. The changes are too: ``act * -(1 - keep)`` is ``-(act * (1 - keep))``
    (rounding does not depend on the sign), and subtracting is adding the negation.
    """
    c = program.columns
    keep = costs.weight_keep
    pk, ps = c.part_kind, c.part_stage
    sign_b = np.zeros(CODE_COMM + 1, dtype=np.float64)
    sign_b[[CODE_F, CODE_B, CODE_I, CODE_W]] = 1.0, -1.0, -(1.0 - keep), -keep
    sign_n = np.zeros(CODE_COMM + 1, dtype=np.int64)
    sign_n[[CODE_F, CODE_B, CODE_W]] = 1, -1, -1
    act = np.asarray(costs.activation_bytes, dtype=np.float64)
    delta_b = act[ps]
    delta_b *= sign_b[pk]
    # Parts of device d: those of its actions (gids are device-major, parts in gid order).
    ends = np.asarray([*program.first, len(c)], dtype=np.int64)
    cut = ends if c.one_part_each else np.searchsorted(c.part_gid, ends)
    lo = cut[:-1][cut[:-1] < cut[1:]]  # first part of each device that has parts
    delta_b[lo] += 0.0  # the loop's first addition is 0.0 + change (a -0.0 change gives 0.0)
    cum_b = delta_b  # summed in place: each sum reads a change before it overwrites it
    bounds = cut.tolist()
    for a, b in pairwise(bounds):
        np.cumsum(cum_b[a:b], out=cum_b[a:b])
    # Integers: one running sum over all devices; device d's own is that less its value before
    # d's first part, so d's peak is the global peak over its parts less the same number.
    cum_all = sign_n[pk]
    np.cumsum(cum_all, out=cum_all)
    start_n = np.concatenate(([0], cum_all))[cut[:-1]]
    top_b = np.maximum.reduceat(cum_b, lo).tolist() if len(lo) else []
    top_n = (np.maximum.reduceat(cum_all, lo) - start_n[cut[:-1] < cut[1:]]).tolist() if len(lo) else []
    busy = (cut[:-1] < cut[1:]).tolist()
    peaks_b: list[float] = []
    peaks_n: list[int] = []
    k = 0
    for has in busy:
        tb, tn = (top_b[k], top_n[k]) if has else (0.0, 0)
        k += has
        peaks_b.append(tb if tb > 0.0 else 0.0)
        peaks_n.append(tn if tn > 0 else 0)
    return ActivationSteps(peaks_n, peaks_b, lambda: _steps(c, bounds, cum_b, cum_all - np.repeat(start_n, np.diff(cut))))


def _steps(c: Columns, cut: list[int], cum_b: np.ndarray, cum_n: np.ndarray) -> list[list[Step]]:
    """The per-action records: one when a forward part starts (the stash after it), and one when
    any action but a plain forward or a REDUCE_GRAD ends (after its last part, never below 0)."""
    pg, pk = c.part_gid, c.part_kind
    out: list[list[Step]] = []
    for lo, hi in pairwise(cut):
        gid, kind = pg[lo:hi], pk[lo:hi]
        last = np.ones(hi - lo, dtype=bool)
        last[:-1] = gid[1:] != gid[:-1]
        ends = last & (c.kind[gid] != CODE_F) & (c.kind[gid] != CODE_REDUCE)
        # Records ordered by part, a part's start record before its action's end record.
        where = np.sort(np.concatenate([np.flatnonzero(kind == CODE_F) * 2, np.flatnonzero(ends) * 2 + 1]))
        part, is_start = where // 2, where % 2 == 0
        b = cum_b[lo:hi][part]
        b = np.where(is_start | (b >= 0.0), b, 0.0)  # max(cur, 0.0) at ends
        out.append(list(zip(gid[part].tolist(), is_start.tolist(), b.tolist(), cum_n[lo:hi][part].tolist(),
                            strict=True)))
    return out


def activation_timelines(
    steps: ActivationSteps, start: Sequence[float], end: Sequence[float]
) -> list[list[tuple[float, float, int]]]:
    """Per device, ``(time, size, microbatches)`` after each step, placed at the given times."""
    return [[(start[g] if at_start else end[g], b, n) for g, at_start, b, n in line] for line in steps.steps]
