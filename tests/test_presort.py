"""The guessed execution order (``pipesim.schedule.presort``) against the walk and the rules.

An order the guess returns must be valid by every prerequisite the dependency rule derives
(``Program.deps``, built from all prerequisites, not from the two slots the guess reads); the
guess must succeed for the families its docstring names; a program that deadlocks must get no
order; and the table times over a guessed order must equal, bit for bit, those of the walk.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from schedule_grid import schedule_grid

from pipesim.costs import Costs
from pipesim.ideal import run_table
from pipesim.schedule import Action, Kind, Layout, Schedule, ScheduleError, validate
from pipesim.schedule.deps import Program
from pipesim.schedule.presort import guessed_order
from pipesim.schedule.validate import DeadlockError, check_program
from pipesim.schedule.walk import walk
from pipesim.timeline import compile_schedule

# The families the module docstring says the guess always fits; DualPipe's overlapped F&B
# chunks pair the two directions in one action and usually go to the walk.
GUESSED = {"gpipe", "1f1b", "interleaved", "looped-bfs", "zb-h1", "zb-h2", "zb-v", "chimera", "hanayo", "pipedream",
           "pipedream-2bw"}


GRID = schedule_grid((1, 2, 3, 4, 6, 8), (1, 2, 5, 8, 16))
IDS = [name for _, name, _ in GRID]


def assert_valid(prog: Program, guessed: np.ndarray) -> None:
    """``guessed`` lists every action once, keeps each device's list order, and puts every
    prerequisite (all of them, by the rule) before the action that needs it."""
    n = prog.num_actions
    order = guessed.tolist()
    assert sorted(order) == list(range(n))
    pos = [0] * n
    for i, g in enumerate(order):
        pos[g] = i
    for f, k in zip(prog.first, prog.count, strict=True):
        assert all(pos[g] < pos[g + 1] for g in range(f, f + k - 1))
    for g, row in enumerate(prog.deps):
        for dep in row:
            assert pos[dep.pred] < pos[g], (prog.actions[dep.pred], prog.actions[g])


@pytest.mark.parametrize(("family", "name", "s"), GRID, ids=IDS)
def test_a_guessed_order_is_valid_and_given_where_documented(family, name, s):
    prog = check_program(s)
    order = guessed_order(prog)
    if family in GUESSED:
        assert order is not None, name
    if order is not None:
        assert_valid(prog, order)


@pytest.mark.parametrize(("family", "name", "s"), GRID[::2], ids=IDS[::2])
def test_times_over_a_guessed_order_equal_the_walk(family, name, s):
    rnd = random.Random(name)
    n = s.num_stages
    # Per-stage values whose sums round, so that any change in the order of additions shows.
    costs = Costs.make(n, F=[rnd.choice([0.1, 0.7, 1.3]) for _ in range(n)], I=[rnd.choice([0.3, 0.9]) for _ in range(n)],
                       W=[rnd.choice([0.2, 1.1]) for _ in range(n)], overlap=0.7)
    for delay, grad_sync in ((0.0, "blocking"), (0.37, "blocking"), (0.37, "overlap")):
        # The walk holds a REDUCE_GRAD as a rendezvous; without one, every sync mode times alike.
        compiled = compile_schedule(s, costs, reduce_time=0.25, dry_run=False)
        walked = walk(compiled.program, compiled.durations, delay)
        assert walked is not None
        table = run_table(compiled, delay, grad_sync)  # the guessed order when there is one
        if grad_sync == "blocking" or not any(a.kind is Kind.REDUCE_GRAD for a in compiled.program.actions):
            assert [x.hex() for x in table.start] == [x.hex() for x in walked[0]]
            assert [x.hex() for x in table.end] == [x.hex() for x in walked[1]]
        reference = run_table(compile_schedule(s, costs, reduce_time=0.25), delay, grad_sync)  # validated order
        assert [x.hex() for x in table.end] == [x.hex() for x in reference.end]
        assert table.metrics() == reference.metrics()
        # Busy time is the summed durations: end - start, summed, to rounding.
        assert table.busy == pytest.approx([sum(e - b for b, e in zip(table.start[f:f + k], table.end[f:f + k],
                                                                          strict=True))
                                            for f, k in zip(compiled.program.first, compiled.program.count,
                                                            strict=True)], rel=1e-12, abs=1e-12)


def shuffled(s: Schedule, rnd: random.Random) -> Schedule:
    """``s`` with a few actions of one device moved to random places: often a deadlock, or a
    local-order mistake, sometimes still valid."""
    rows = [list(r) for r in s.actions]
    d = rnd.choice([d for d, r in enumerate(rows) if len(r) > 1])
    for _ in range(rnd.randint(1, 3)):
        a = rows[d].pop(rnd.randrange(len(rows[d])))
        rows[d].insert(rnd.randrange(len(rows[d]) + 1), a)
    return s.with_actions(rows)


@pytest.mark.parametrize(("family", "name", "s"), GRID[::3], ids=IDS[::3])
def test_a_program_that_deadlocks_gets_no_order(family, name, s):
    rnd = random.Random(name)
    for _ in range(6):
        bad = shuffled(s, rnd)
        try:
            prog = check_program(bad)
        except ScheduleError:
            continue
        order = guessed_order(prog)
        walked = walk(prog, [0.0] * prog.num_actions)
        if walked is None:
            assert order is None
        elif order is not None:
            assert_valid(prog, order)


def test_an_empty_program_has_the_empty_order():
    # No microbatch: a valid schedule with no action at all.
    s = Schedule.build("empty", Layout(2, (0, 1), (0, 1), ((0, 1),), ()), [[], []])
    order = guessed_order(check_program(s))
    assert order is not None and order.tolist() == []
    assert run_table(compile_schedule(s, dry_run=False)).end == []


def test_an_action_that_waits_for_itself_is_a_deadlock_with_a_clear_error():
    """Two replicas of one model part on one device: the first REDUCE_GRAD would wait for the
    device to reach the second, after it. No order exists; the error says what to change."""
    layout = Layout(1, (0, 0, 0), (0, 1, 1), ((0,),), (0,))
    s = Schedule.build("self", layout, [[Action(0, Kind.F, 0), Action(0, Kind.B, 0), Action(1, Kind.REDUCE_GRAD),
                                         Action(2, Kind.REDUCE_GRAD)]])
    assert guessed_order(check_program(s)) is None
    for attempt in (lambda: validate(s), lambda: run_table(compile_schedule(s, dry_run=False), 0.0, "blocking")):
        with pytest.raises(DeadlockError, match=r"waits for itself.*place the replicas of stage 1's part on different"):
            attempt()


@pytest.mark.parametrize(("family", "name", "s"), GRID[::5], ids=IDS[::5])
def test_the_loop_reads_the_order_validation_found(family, name, s):
    """A validated program's order is the same sequence of ids as a list, as the loop reads it
    (a memoryview over a guessed order's array) and as the guess or the walk gave it."""
    prog = validate(s)
    assert prog.has_order and prog.order is not None
    assert list(prog.loop_order() or ()) == prog.order
    if prog.order_array is not None:
        assert prog.order == guessed_order(check_program(s)).tolist()
    else:
        assert family not in GUESSED and prog.order_runs is not None
    assert prog.remote_pred == prog.remote_array.tolist()
