"""From a generated schedule to the one that runs: generation plus the passes that need timing.

Generators (``pipesim.schedule``) are pure and never evaluate anything. Some decisions need
the schedule's timing, so they are made here, one layer above the table level:

* ``insert_reduce_grads`` adds one ``REDUCE_GRAD`` per replicated stage, in the first idle slot
  after that stage's last backward on its device (what Chimera's implementation does: it
  launches the gradient all-reduce as soon as a model part has no backward left, inside a
  bubble). Schedules whose generator was asked for it (option ``reduce_grad``, Chimera and
  DualPipe) get it from ``finalize``.

``generate`` is the one call that does both: a registry's generator, then ``finalize``.
"""

from __future__ import annotations

import math

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule.action import Action, Kind, compute_parts
from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import DeadlockError, validate


def generate(name: str, p: int, m: int, *, costs: Costs | None = None, message_delay: float = 0.0,
             registry: Registry | None = None, **options: object) -> Schedule:
    """The schedule ``name`` for p devices and m microbatches, with every timing-dependent pass
    applied: ``costs`` time them (unit slots without); ``message_delay``, the time a message
    between two devices takes, times a cost-aware generator's order (not ``REDUCE_GRAD``
    placement, which looks for the order's own bubbles)."""
    reg = registry or Registry.default()
    # Cost-aware generators order with the real costs when they cover the schedule's stages.
    timed: dict[str, object] = {}
    if costs is not None and reg.get(name).cost_aware:
        timed = {"costs": costs, "message_delay": message_delay}
    schedule = reg.generate(name, p, m, **timed, **options)
    return finalize(schedule, costs)


def finalize(schedule: Schedule, costs: Costs | None = None) -> Schedule:
    """Apply the passes a generated schedule asks for (see the module docstring). The
    ``REDUCE_GRAD`` pass looks for the order's own bubbles, so it is timed without message
    delays (see ``insert_reduce_grads``)."""
    if not schedule.options.get("reduce_grad"):
        return schedule  # without reading its actions: a schedule made from columns keeps only those
    has = any(a.kind is Kind.REDUCE_GRAD for row in schedule.actions for a in row)
    return schedule if has else insert_reduce_grads(schedule, costs)


def unit_costs(schedule: Schedule) -> Costs:
    """Chimera's slot convention: a forward and a backward take one slot each (I = W = 1/2)."""
    return Costs.make(schedule.num_stages, F=1.0, B=1.0, I=0.5, W=0.5)


def insert_reduce_grads(schedule: Schedule, costs: Costs | None = None, message_delay: float = 0.0) -> Schedule:
    """Add a ``REDUCE_GRAD`` for every stage whose model part has more than one replica.

    Rule: time the schedule (unit slots unless ``costs`` is given, every message between two
    devices ``message_delay`` long, 0 by default); on the device of stage s,
    put ``sREDUCE_GRAD`` before the first action that starts after an idle gap following the
    end of s's last backward (B or W), or at the end of the list if no gap follows. The
    collectives of one device keep one global order (by planned time, then model part) so that
    two devices sharing two all-reduces never wait on each other crosswise. If that placement
    would deadlock (possible only for asymmetric layouts), every ``REDUCE_GRAD`` moves to the
    end of its device's list, in the same global order.

    ``finalize`` (and so every scenario) times it without message delays: the gaps it looks
    for are the order's bubbles, where Chimera launches its all-reduce. A delay also opens
    gaps where a device waits for a message; an all-reduce placed there shares the link with
    that message, and with ``grad_sync: blocking`` holds the device past it (symmetric Chimera,
    p = 4, 2 nodes over InfiniBand: 3.404 s instead of 3.275 s simulated).
    """
    lay = schedule.layout
    replicated = [s for s in range(lay.num_stages) if len(lay.part_stages[lay.stage_part[s]]) > 1]
    if not replicated:
        return schedule
    base = [[a for a in row if a.kind is not Kind.REDUCE_GRAD] for row in schedule.actions]
    plain = schedule.with_actions(base)
    res = evaluate(plain, costs or unit_costs(plain), message_delay=message_delay)
    prog = res.program
    planned: dict[int, tuple[float, int]] = {}  # stage -> (planned time, insert index)
    for s in replicated:
        d = lay.stage_device[s]
        first, count = prog.first[d], prog.count[d]
        last = -1
        for j in range(count):
            if any(x.stage == s and x.kind in (Kind.B, Kind.W) for x in compute_parts(prog.actions[first + j])):
                last = j
        if last < 0:  # the replica saw no microbatch: synchronise at the end
            planned[s] = (res.end[first + count - 1] if count else 0.0, count)
            continue
        idx, when = count, res.end[first + count - 1]
        for j in range(last + 1, count):
            g = first + j
            if res.start[g] > res.end[g - 1] + 1e-12:
                idx, when = j, res.end[g - 1]
                break
        planned[s] = (when, idx)
    # One global order of collectives: by the latest planned time among a part's replicas.
    part_time: dict[int, float] = {}
    for s in replicated:
        k = lay.stage_part[s]
        part_time[k] = max(part_time.get(k, -math.inf), planned[s][0])
    rank = sorted(replicated, key=lambda s: (part_time[lay.stage_part[s]], lay.stage_part[s], s))

    def build(at_end: bool) -> Schedule:
        rows = []
        for d, row in enumerate(base):
            mine = [s for s in rank if lay.stage_device[s] == d]
            out: list[Action] = []
            pos = 0
            for s in mine:
                target = len(row) if at_end else max(planned[s][1], pos)
                out.extend(row[pos:target])
                pos = max(pos, target)
                out.append(Action(s, Kind.REDUCE_GRAD))
            out.extend(row[pos:])
            rows.append(out)
        return schedule.with_actions(rows)

    placed = build(at_end=False)
    try:
        validate(placed)
    except DeadlockError:
        placed = build(at_end=True)
    return placed
