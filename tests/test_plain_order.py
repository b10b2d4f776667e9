"""Schedules made from integer columns (``pipesim.schedule.order``) are the same schedules.

The plain-kind generators hand over their order as columns, and compiling takes those columns
as they are instead of reading ``Action`` objects. The oracle is the same schedule rebuilt from
its ``Action`` lists (``Schedule.build``), which goes through the per-action reader: both must
compile to the same columns and dependencies and time to the same bits, and compare equal.
"""

from __future__ import annotations

import contextlib
import copy
import pickle

import numpy as np
import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate, run_table
from pipesim.plan import generate
from pipesim.schedule import Action, Kind, RequirementError, Schedule, linear_layout
from pipesim.schedule.columns import action_columns
from pipesim.schedule.order import CODE_B, CODE_F, PlainOrder
from pipesim.schedule.registry import Registry
from pipesim.timeline import compile_schedule

REGISTRY = Registry.default()
PLAIN = ("1f1b", "gpipe", "zb-h1", "zb-h2", "zb-v", "interleaved", "looped-bfs")


def column_made() -> list[tuple[str, Schedule]]:
    out = []
    for name in PLAIN:
        for p in (1, 2, 3, 4):
            for m in (1, 2, 4, 8):
                with contextlib.suppress(RequirementError):
                    out.append((f"{name}-p{p}-m{m}", REGISTRY.generate(name, p, m)))
    return out


CASES = column_made()


def test_the_plain_generators_emit_columns():
    assert all(s.plain_order is not None for _, s in CASES)


@pytest.mark.parametrize(("name", "s"), CASES, ids=[n for n, _ in CASES])
def test_columns_compile_and_time_like_the_actions(name, s):
    rebuilt = Schedule.build(s.name, s.layout, s.actions, **s.options)  # the per-action path
    assert rebuilt.plain_order is None
    assert rebuilt == s and hash(rebuilt) == hash(s)
    assert rebuilt.num_actions == s.num_actions == sum(len(r) for r in s.actions)

    a, b = action_columns(s), action_columns(rebuilt)
    for field in ("kind", "stage", "device", "part_gid", "part_kind", "part_stage", "part_mb", "step"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert (a.first, a.count, a.row_lengths, a.with_sub) == (b.first, b.count, b.row_lengths, b.with_sub)
    assert a.actions == b.actions

    costs = Costs.make(s.num_stages, F=[0.1 + 0.2 * (i % 3) for i in range(s.num_stages)], B=0.3, I=0.7, W=0.1)
    ca, cb = compile_schedule(s, costs), compile_schedule(rebuilt, costs)
    assert ca.program.deps == cb.program.deps
    assert ca.program.remote_pred == cb.program.remote_pred and ca.program.local_pred == cb.program.local_pred
    for delay in (0.0, 0.37):
        ra, rb = run_table(ca, delay), evaluate(rebuilt, costs, message_delay=delay)
        assert [x.hex() for x in ra.end] == [x.hex() for x in rb.end]
        assert ra.metrics() == rb.metrics()


def test_a_schedule_made_from_columns_builds_its_actions_only_when_asked():
    s = REGISTRY.generate("1f1b", 4, 8)
    result = evaluate(s, Costs.make(4))
    result.metrics()
    assert s._actions is None  # timed and measured without a single Action object
    assert s.actions[0][:3] == (Action(0, Kind.F, 0), Action(0, Kind.F, 1), Action(0, Kind.F, 2))
    assert s._actions is not None


def test_plain_order_round_trips_its_rows():
    rows = [[(0, CODE_F, 0), (0, CODE_B, 0)], [], [(1, CODE_F, 3)]]
    order = PlainOrder.of_rows(rows)
    assert order.lengths == (2, 0, 1) and len(order) == 3
    assert order.actions() == ((Action(0, Kind.F, 0), Action(0, Kind.B, 0)), (), (Action(1, Kind.F, 3),))


def test_bad_columns_are_refused():
    ints = np.array([0, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="all must be 3"):
        PlainOrder(ints, ints, ints, (3,))
    with pytest.raises(ValueError, match="kind codes must be"):
        PlainOrder(np.array([0, 5], dtype=np.int64), ints, ints, (2,))
    order = PlainOrder.of_rows([[(0, CODE_F, 0)]])
    with pytest.raises(ValueError, match="plain_order has 1 device lists but the layout has 2 devices"):
        Schedule.from_order("x", linear_layout(2, 1), order)
    with pytest.raises(TypeError, match="either actions or plain_order"):
        Schedule("x", linear_layout(1, 1))


def test_schedules_stay_immutable_and_still_pickle_and_copy():
    s = REGISTRY.generate("gpipe", 2, 2)
    with pytest.raises(AttributeError, match="immutable"):
        s.name = "other"  # type: ignore[misc]
    rebuilt = Schedule.build(s.name, s.layout, s.actions, **s.options)
    for x in (s, rebuilt):
        for y in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x), copy.copy(x)):
            assert y == x and y.options == x.options
            assert (y.plain_order is None) == (x.plain_order is None)


def test_a_negative_duration_is_refused_with_its_action():
    s = generate("chimera", 2, 2, reduce_grad=True)  # with its REDUCE_GRAD actions
    with pytest.raises(ValueError, match=r"reduce_time of action \dREDUCE_GRAD: -1.0; durations must be >= 0"):
        compile_schedule(s, Costs.make(s.num_stages), reduce_time=-1.0)
