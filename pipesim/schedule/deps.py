"""Dependencies derived from the layout, compiled into flat integer arrays.

Both the table-level evaluator and the SimPy engine walk the same ``Program``: every action
gets a global id (device-major, in list order) and a list of prerequisites. A prerequisite on
another device is a *message* (activation forward, gradient backward) or, for ``REDUCE_GRAD``,
a gradient synchronisation among replicas. Nothing here is hand-written per schedule.

Completion classes: ``F`` (forward output exists), ``G`` (input gradient exists: made by B or
I), ``W`` (weight gradient exists: made by B or W).

The rule, per plain action performed (an overlapped F&B performs two, in order):

- ``F`` of stage s needs the ``F`` of the stage before s on the microbatch's route (an
  activation message when that stage is on another device);
- ``W`` needs the ``G`` of its own stage;
- ``B``/``I`` need the ``F`` of their own stage, then the ``G`` of the next stage on the route
  (a gradient message when remote);
- ``REDUCE_GRAD`` needs every replica stage's ``W`` and the action before each partner's
  ``REDUCE_GRAD`` (all replicas must have reached the collective).

``pipesim.schedule.derive`` applies it to whole numpy columns (``pipesim.schedule.columns``),
never looping per action. A ``Program`` keeps two prerequisite slots per action for the Python
loops that walk it; every prerequisite with its kind, stage and microbatch (CSR-style) and as
``Dep`` records is built when first asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from pipesim.schedule.action import Action
from pipesim.schedule.columns import Columns, IntArray, action_columns
from pipesim.schedule.derive import (
    CLS_F,
    CLS_G,
    CLS_W,
    DEP_ACT,
    DEP_GRAD,
    DEP_LOCAL,
    DEP_SYNC,
    DepArrays,
    Missing,
    derive,
    plain_slots,
    slots,
)
from pipesim.schedule.table import Schedule

__all__ = ["CLS_F", "CLS_G", "CLS_W", "DEP_ACT", "DEP_GRAD", "DEP_LOCAL", "DEP_SYNC", "Dep", "DepArrays", "Program",
           "compile_program", "loop_view", "order_from_runs", "waiting_description"]


class Dep(NamedTuple):
    """One prerequisite of an action: ``pred`` (global id) with ``kind`` (DEP_*).

    For DEP_ACT/DEP_GRAD, ``stage`` is the stage whose boundary tensor travels (the producer
    for activations, the receiver for gradients) so its size is ``costs.message_bytes[stage]``.
    """

    pred: int
    kind: int
    stage: int
    microbatch: int


@dataclass(eq=False)
class Program:
    """A schedule's actions numbered and their prerequisites derived; see the module docstring.

    The loops read each action's prerequisites as two slots: ``local_pred[g]`` (one on the same
    device) and ``remote_pred[g]`` (one that waits for a message), where ``n`` (the number of
    actions) means none and ``remote_pred[g] == n + 1`` means "more than the two slots hold"
    (``local_pred[g]`` is then ``n``): ``more_preds[g]`` lists them all as ``(pred, kind)``.
    ``local_order_ok`` is False when some ``local_pred`` comes later in its device's list than
    the action needing it (which can then never run). When it is True, a device that runs its
    list in order with no negative duration has always finished an action's local input by the
    time the action's turn comes, so the table level's loops read only the remote slot (the
    timing loop ``remote_array`` through ``loop_view``, the walk ``remote_pred``); both slots
    as lists are built on first use. ``dep_arrays`` (every prerequisite, with
    its kind, stage and microbatch) and ``deps`` (the same as ``Dep`` records) are built on
    first use too: messages, error texts and tests need them, the table level's loops do not.
    """

    schedule: Schedule
    device: list[int]  # gid -> device
    first: list[int]  # device -> first gid (gids of a device are contiguous)
    count: list[int]  # device -> number of actions
    columns: Columns
    local_array: IntArray
    remote_array: IntArray  # the remote slot as numpy: whole-column checks, the table loop
    more_preds: dict[int, tuple[tuple[int, int], ...]]
    local_order_ok: bool
    missing: list[Missing]  # prerequisites no action produces (validation turns them into errors)
    build_arrays: Callable[[], DepArrays] = field(repr=False)
    # A valid execution order as the walk found it: the end (exclusive) of each stretch of
    # actions one device ran (``order`` expands it on first use). None when validation set
    # ``order_array`` from a guessed order (``pipesim.schedule.presort``).
    order_runs: list[int] | None = None
    order_array: IntArray | None = None  # a guessed order, as numpy (int32 where the ids fit)
    # Structure checked, deadlock dry run not yet done: the table level does it (a guessed
    # order, else the walk that also times the actions), so a table run walks at most once.
    order_pending: bool = False
    _order: list[int] | None = field(default=None, repr=False)

    @property
    def num_devices(self) -> int:
        return len(self.first)

    @property
    def num_actions(self) -> int:
        return len(self.device)

    @property
    def actions(self) -> list[Action]:
        """gid -> action (communication markers removed); built on first use for a schedule
        made from columns."""
        return self.columns.actions

    @property
    def order(self) -> list[int] | None:
        """A valid execution order (action ids), or None before validation's dry run."""
        if self._order is None:
            if self.order_array is not None:
                self._order = self.order_array.tolist()
            elif self.order_runs is not None:
                self._order = order_from_runs(self, self.order_runs)
        return self._order

    @property
    def has_order(self) -> bool:
        return self.order_array is not None or self.order_runs is not None

    def loop_order(self) -> Sequence[int] | None:
        """``order`` for a loop that reads each id once: a guessed order is read through a
        ``memoryview`` of its array (see ``loop_view``), a walked one as its list."""
        return loop_view(self.order_array) if self.order_array is not None else self.order

    @cached_property
    def local_pred(self) -> list[int]:
        return self.local_array.tolist()

    @cached_property
    def remote_pred(self) -> list[int]:
        """The remote slot as a list, for the walk (the table loop reads ``remote_array``)."""
        return self.remote_array.tolist()

    @cached_property
    def step(self) -> list[int]:
        """gid -> position in the device's original list (communication markers included)."""
        return self.columns.step.tolist()

    @cached_property
    def dep_arrays(self) -> DepArrays:
        return self.build_arrays()

    @cached_property
    def deps(self) -> list[list[Dep]]:
        """gid -> prerequisites as ``Dep`` records."""
        a = self.dep_arrays
        new = tuple.__new__  # NamedTuple's own constructor is a Python function; this is not
        rows = [new(Dep, t) for t in zip(a.pred.tolist(), a.kind.tolist(), a.stage.tolist(), a.mb.tolist(), strict=True)]
        return [rows[lo:hi] for lo, hi in pairwise(a.ptr.tolist())]

    @cached_property
    def dep_lists(self) -> tuple[list[int], list[int], list[int]]:
        """``(ptr, pred, kind)`` of ``dep_arrays`` as lists, for the loops' rare general path."""
        a = self.dep_arrays
        return a.ptr.tolist(), a.pred.tolist(), a.kind.tolist()


def compile_program(schedule: Schedule, columns: Columns | None = None) -> Program:
    """Number the actions and derive every action's prerequisites from the layout.

    Prerequisites whose producer is absent are collected in ``missing`` (validation turns them
    into errors); parts naming a stage or microbatch that does not exist get none (structural
    validation reports them). ``columns`` may be passed when the caller already read them.
    """
    c = action_columns(schedule) if columns is None else columns
    n = len(c)
    fast = plain_slots(schedule.layout, c)
    missing: list[Missing] = []
    if fast is not None:
        local_pred, remote_pred, more = fast
        build = partial(_derive_arrays, schedule, c)
    else:
        arrays, missing = derive(schedule, c)
        local_pred, remote_pred, more = slots(n, arrays)
        build = partial(_given, arrays)
    # An action whose local input is itself or later in its list never runs.
    local_order_ok = not ((local_pred >= np.arange(n)) & (local_pred < n)).any()
    return Program(schedule, _device_list(c), c.first, c.count, c, local_pred, remote_pred, more, local_order_ok,
                   missing, build)


def loop_view(array: IntArray) -> Sequence[int]:
    """``array`` as a sequence of Python ints without a list: a ``memoryview`` makes each int
    when it is read, so a loop touches one freshly made (cache-hot) int per read instead of
    one stored int object per entry. A list's ints, made just before the loop among the heap's
    leftovers, lie scattered in memory, and the table loop ran a quarter slower over them than
    over a memoryview (``benchmarks/bench_table.py``)."""
    return np.ascontiguousarray(array).data


def _derive_arrays(schedule: Schedule, c: Columns) -> DepArrays:
    return derive(schedule, c)[0]


def _given(arrays: DepArrays) -> DepArrays:
    return arrays


def _device_list(c: Columns) -> list[int]:
    # Repeating small ints reuses cached int objects; ``tolist`` would allocate one per action.
    out: list[int] = []
    for d, k in enumerate(c.count):
        out += [d] * k
    return out


def order_from_runs(program: Program, runs: list[int]) -> list[int]:
    """The action order a walk found, one action id after another; ``runs`` holds the end
    (exclusive) of each stretch of one device's actions, in the order they ran."""
    pos = list(program.first)
    device = program.device
    out: list[int] = []
    for g in runs:
        d = device[g - 1]
        out.extend(range(pos[d], g))
        pos[d] = g
    return out


def waiting_description(program: Program, gid: int, done: list[bool] | None = None) -> str:
    """Human text for what action ``gid`` waits for, e.g. '1F3 (device 1, step 6)'."""
    parts = []
    for dep in program.deps[gid]:
        if done is not None and done[dep.pred]:
            continue
        p = dep.pred
        parts.append(f"{program.actions[p]} (device {program.device[p]}, step {program.step[p]})")
    return ", ".join(parts) if parts else "nothing"
