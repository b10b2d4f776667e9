"""A valid execution order guessed from list positions and checked with numpy, before any walk.

Validation needs one order in which every action comes after its prerequisites and each
device's actions keep their list order (the deadlock dry run's proof; the table level's loop
then times the actions in it). ``pipesim.schedule.walk`` finds one by walking the devices, a
Python step per action plus one per switch of device. Most schedules admit an order that can
be written down at once, so this module guesses it and checks the guess over whole columns;
only a guess that fails costs a walk as well.

The guess: sort the actions by their position in their device's list, and, among actions at
the same position, forwards by stage upwards, then every other action by stage downwards.
Activations travel up the stages and gradients down them, so a forward that needs another
device's forward at the same position finds it earlier in its row, and likewise a backward
the gradient it needs. GPipe, 1F1B, interleaved, looped BFS, the zero-bubble family,
Chimera, Hanayo and the PipeDreams pass for every p and m tried; an overlapped F&B chunk
pairs the two directions in one action, so DualPipe and DualPipe-V usually go to the walk.

The check is exact: the sort key grows along each device's list (the position does, and the
position dominates the key), so the sorted order keeps list orders; a same-device prerequisite
comes earlier in the list (``Program.local_order_ok``); every other prerequisite (the remote
slot, and every entry of ``Program.more_preds``) must have a smaller key. An order that passes
is therefore valid, whatever the durations; it also proves the program free of deadlock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from pipesim.schedule.columns import CODE_F
from pipesim.schedule.deps import Program

Ints = npt.NDArray[np.signedinteger[Any]]


def guessed_order(program: Program) -> Ints | None:
    """A valid execution order of ``program`` by the guess above (action ids, as numpy: the
    table loop reads them through ``deps.loop_view``), or None when the guess fails (the
    caller walks; see the module docstring)."""
    n = program.num_actions
    if not program.local_order_ok:
        return None
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    c = program.columns
    width = 2 * max(program.schedule.num_stages, 1)
    # 32-bit keys where they fit: half the memory to touch.
    dtype: type[np.signedinteger[Any]] = np.int32 if max(n + 2, (max(program.count) + 1) * width) < 2**31 else np.int64
    # key[g] for every action, then -1 for the remote slot's "none" (n) and "more" (n + 1):
    # those pass the check here; more_preds are checked below.
    key: Ints = np.full(n + 2, -1, dtype=dtype)
    head: Ints = key[:n]
    np.subtract(width - 1, c.stage, out=head, casting="unsafe")
    np.copyto(head, c.stage, where=c.kind == CODE_F, casting="unsafe")
    ids = np.arange(n, dtype=dtype)
    position: Ints = np.asarray(program.first, dtype=dtype)[c.device]
    np.subtract(ids, position, out=position)
    position *= width
    head += position
    if (key[program.remote_array] >= head).any():
        return None
    for g, preds in program.more_preds.items():
        mine = key[g]
        if any(key[p] >= mine for p, _kind in preds):
            return None
    # A stage belongs to one device, so no two actions share a key (checked) and the keys sort
    # by a scatter into their range when it is small; else, or on a tie, a stable argsort.
    top = int(head.max()) + 1
    order: Ints | None = None
    if top <= 4 * n:
        slot = np.full(top, -1, dtype=dtype)
        slot[head] = ids
        order = slot[slot >= 0]
    if order is None or len(order) != n:
        order = np.argsort(head, kind="stable")
    return order
