"""Properties of every registered schedule (including ones added later) over p x m x v.

Each example builds a schedule, validates it, times it with random per-stage costs and checks
what must hold for any correct schedule. It also checks the lowering passes on the same draws.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule import Action, Kind, Registry, RequirementError, validate
from pipesim.schedule.action import COMM
from pipesim.schedule.lowering import add_send_recv, merge_iw, split_backward, strip_comms
from pipesim.timeline.bounds import critical_path_bound

REGISTRY = Registry.default()
NAMES = REGISTRY.names()
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(name: str, p: int, m: int, v: int):
    gen = REGISTRY.get(name)
    opts = {"v": v} if any(o.name == "v" for o in gen.options) else {}
    try:
        return gen(p, m, **opts)
    except RequirementError:
        assume(False)


@st.composite
def costs_for(draw, num_stages: int) -> Costs:
    per = st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=num_stages, max_size=num_stages)
    return Costs.make(num_stages, F=draw(per), I=draw(per), W=draw(per))


@SETTINGS
@given(name=st.sampled_from(NAMES), p=st.integers(1, 8), m=st.integers(1, 24), v=st.integers(1, 4),
       data=st.data())
def test_every_schedule_is_sound(name, p, m, v, data):
    s = build(name, p, m, v)
    prog = validate(s)
    c = data.draw(costs_for(s.num_stages))
    r = evaluate(s, c, program=prog)
    # one action at a time per device
    for f, n in zip(prog.first, prog.count, strict=True):
        spans = sorted((r.start[g], r.end[g]) for g in range(f, f + n))
        for (_, e0), (s1, _) in pairwise(spans):
            assert s1 >= e0 - 1e-9
    # every action starts after all its prerequisites end
    for g, deps in enumerate(prog.deps):
        for dep in deps:
            assert r.start[g] >= r.end[dep.pred] - 1e-9, (s.name, prog.actions[g], prog.actions[dep.pred])
    # no order beats the critical-path bound
    assert r.makespan >= critical_path_bound(s, c) - 1e-9
    # every action string round-trips
    for acts in s.actions:
        for a in acts:
            assert Action.parse(str(a)) == a


@SETTINGS
@given(name=st.sampled_from(NAMES), p=st.integers(1, 6), m=st.integers(1, 12), v=st.integers(1, 3))
def test_lowering_passes(name, p, m, v):
    s = build(name, p, m, v)
    c = Costs.make(s.num_stages, F=1.0, I=1.5, W=0.5)
    base = evaluate(s, c)

    # SEND/RECV markers: valid, same timing, one pair per cross-device hand-over, removable.
    lowered = add_send_recv(s)
    prog = validate(lowered)
    assert evaluate(lowered, c, program=prog).makespan == pytest.approx(base.makespan)
    assert strip_comms(lowered).actions == strip_comms(s).actions
    assert add_send_recv(lowered).actions == lowered.actions  # idempotent
    comm = [a for acts in lowered.actions for a in acts if a.kind in COMM]
    crossing = sum(1 for deps in prog.deps for d in deps if d.kind in (1, 2))  # DEP_ACT, DEP_GRAD
    assert len(comm) == 2 * crossing
    for d, acts in enumerate(lowered.actions):
        for a in acts:
            if a.kind in COMM:
                assert s.layout.stage_device[a.stage] == d

    # Splitting: valid; never slower when B = I + W; timed identically when W = 0 (I = B).
    split = split_backward(s)
    validate(split)
    assert not any(a.kind is Kind.B for acts in split.actions for a in acts)
    assert evaluate(split, c).makespan <= base.makespan + 1e-9
    zero_w = Costs.make(s.num_stages, F=1.0, I=2.0, W=0.0)
    assert evaluate(split, zero_w).makespan == pytest.approx(evaluate(s, zero_w).makespan)
    # merge_iw undoes split_backward exactly for schedules that used full backwards
    if not REGISTRY.get(name).split_backward:
        assert merge_iw(split).actions == s.actions
    merged = merge_iw(s)
    validate(merged)
    assert evaluate(merged, c).makespan >= base.makespan - 1e-9  # merging only delays gradients


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), p=st.integers(1, 16), m=st.integers(1, 64), v=st.integers(1, 4))
def test_whole_range_validates(name, p, m, v):
    validate(build(name, p, m, v))


def test_merge_iw_needs_adjacency():
    from pipesim.schedule import Schedule, linear_layout

    lay = linear_layout(1, 2)
    apart = ["0F0", "0F1", "0I0", "0I1", "0W0", "0W1"]
    s = Schedule.build("hand", lay, [[Action.parse(t) for t in apart]])
    assert [str(a) for a in merge_iw(s).actions[0]] == apart
    adjacent = ["0F0", "0I0", "0W0", "0F1", "0I1", "0W1"]
    s = Schedule.build("hand", lay, [[Action.parse(t) for t in adjacent]])
    assert [str(a) for a in merge_iw(s).actions[0]] == ["0F0", "0B0", "0F1", "0B1"]


def test_add_send_recv_on_a_hand_example():
    from pipesim.schedule.generators.onef1b import one_f_one_b

    s = add_send_recv(one_f_one_b(2, 1))
    assert [str(a) for a in s.actions[0]] == ["0F0", "0SEND_F0", "0RECV_B0", "0B0"]
    assert [str(a) for a in s.actions[1]] == ["1RECV_F0", "1F0", "1B0", "1SEND_B0"]


def test_same_device_hand_overs_get_no_messages():
    from pipesim.schedule.generators.zero_bubble import zb_v

    s = add_send_recv(zb_v(2, 3))
    # stages 1 and 2 share device 1 (the V's turn): no SEND_F from 1, no RECV_F into 2
    texts = {str(a) for acts in s.actions for a in acts}
    assert "1SEND_F0" not in texts and "2RECV_F0" not in texts
    assert "2SEND_F0" in texts and "3RECV_F0" in texts


def test_critical_path_bound_is_tight_for_one_microbatch():
    from pipesim.schedule.generators.onef1b import one_f_one_b
    from pipesim.schedule.generators.zero_bubble import zb_h1

    c = Costs.make(4, F=1, B=2)
    assert critical_path_bound(one_f_one_b(4, 1), c) == pytest.approx(12.0)
    # split: 4 F + 4 I + the head's W
    c = Costs.make(4, F=1, I=1.5, W=0.5)
    assert critical_path_bound(zb_h1(4, 1), c) == pytest.approx(4 + 6 + 0.5)
    # many microbatches: device work dominates
    assert critical_path_bound(one_f_one_b(4, 10), Costs.make(4, F=1, B=2)) == pytest.approx(30.0)
