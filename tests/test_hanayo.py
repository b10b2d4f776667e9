"""Hanayo: zig-zag layout, messages counted from dependencies, regime errors."""

from __future__ import annotations

from collections import Counter

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.schedule import Registry, RequirementError, validate
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD
from pipesim.schedule.generators.hanayo import hanayo, v_order
from pipesim.schedule.layout import linear_layout
from pipesim.schedule.placement import order_makespan, order_peaks


@pytest.mark.parametrize("W", [1, 2, 3])
@pytest.mark.parametrize("p", [2, 3, 4, 6])
def test_messages_per_microbatch_counted_from_dependencies(W, p):
    s = hanayo(p, p, waves=W)
    prog = validate(s)
    acts, grads = Counter(), Counter()
    for deps in prog.deps:
        for dep in deps:
            if dep.kind == DEP_ACT:
                acts[dep.microbatch] += 1
            elif dep.kind == DEP_GRAD:
                grads[dep.microbatch] += 1
    assert set(acts.values()) == {2 * W * (p - 1)}
    assert set(grads.values()) == {2 * W * (p - 1)}
    assert len(acts) == p
    assert closed_form("hanayo", p, p, waves=W).p2p_per_microbatch == 2 * W * (p - 1)


def test_zigzag_layout_two_w_chunks_per_device():
    s = hanayo(4, 8, waves=2)
    lay = s.layout
    assert lay.stage_device == (0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0)
    assert all(len(x) == 4 for x in lay.device_stages)
    r = evaluate(s, Costs.make(lay.num_stages))
    assert r.weight_copies == [1.0] * 4


def test_estimate_is_reported_not_claimed():
    cf = closed_form("hanayo", 4, 8, waves=2)
    assert cf.bubble_ratio is None and cf.makespan is None
    assert cf.extra["bubble_ratio_estimate"] == pytest.approx(3 / (2 * 2 * 8 + 3))


def test_grid_validates():
    gen = Registry.default().get("hanayo")
    for W in (1, 2, 3):
        for p in (1, 2, 3, 4, 5):
            for m in range(1, 3 * p + 1):
                for strict in (True, False):
                    try:
                        s = gen(p, m, waves=W, strict=strict)
                    except RequirementError:
                        assert strict
                        continue
                    validate(s)
                    assert s.num_stages == 2 * W * p


@pytest.mark.parametrize("p,m,opts,needle", [
    (4, 6, {}, "multiple of p"),
    (1, 3, {}, "p >= 2"),
    (4, 4, {"waves": 0}, "at least 1 wave"),
    (4, 4, {"memory": 0}, "budget must be > 0"),
])
def test_requirement_errors(p, m, opts, needle):
    with pytest.raises(RequirementError, match="hanayo") as exc:
        Registry.default().generate("hanayo", p, m, **opts)
    assert needle in str(exc.value)


@pytest.mark.parametrize("waves", [1, 2])
@pytest.mark.parametrize("b", [1.0, 2.0])
@pytest.mark.parametrize("p,k", [(4, 1), (4, 2), (4, 4), (8, 1), (8, 2), (8, 4)])
def test_no_worse_than_1f1b_at_equal_work_and_memory(waves, b, p, k):
    # Equal work: each of Hanayo's 2W chunks per device is 1/(2W) of a device's share (F = 1,
    # B = b per chunk, activations 1/(2W)); 1F1B's stage is the whole share. The oracle is
    # 1F1B's closed form: makespan (m + p - 1)(F + B) of its stage, peak min(p, m) shares.
    m = k * p
    costs = Costs.make(2 * waves * p, F=1.0, B=b, activation_bytes=1.0 / (2 * waves))
    r = evaluate(hanayo(p, m, waves=waves, costs=costs), costs)
    one_f_one_b = (m + p - 1) * 2 * waves * (1.0 + b)
    assert r.makespan <= one_f_one_b
    assert max(r.peak_activation_bytes) <= min(p, m) + 1e-9


@pytest.mark.parametrize("p", [2, 3, 4, 8])
def test_v_order_is_zb_v_with_the_backward_fused(p):
    # Cross-check against the ZB-V generator: its I is the fused B, its W disappears.
    reg = Registry.default()
    for m in range(1, 3 * p + 1):
        fused = [[Action(a.stage, Kind.B, a.microbatch) if a.kind is Kind.I else a for a in row
                  if a.kind is not Kind.W] for row in reg.generate("zb-v", p, m).actions]
        assert v_order(p, m) == fused


@pytest.mark.parametrize("delay", [0.0, 0.7])
@pytest.mark.parametrize("name,p,m", [("hanayo", 4, 8), ("zb-v", 4, 8), ("1f1b", 3, 5), ("chimera", 4, 8)])
def test_order_timing_and_peaks_match_the_table_level(name, p, m, delay):
    # The generator's own clock (order_makespan, order_peaks) against the table-level evaluator.
    s = Registry.default().generate(name, p, m)
    s = s.with_actions([[a for a in row if a.kind is not Kind.REDUCE_GRAD] for row in s.actions])
    costs = Costs.make(s.num_stages, F=[1.0 + 0.25 * (i % 3) for i in range(s.num_stages)], B=2.5, I=1.5, W=1.0,
                       activation_bytes=[1.0 + i for i in range(s.num_stages)])
    r = evaluate(s, costs, message_delay=delay)
    assert order_makespan(s.layout, s.actions, costs, delay) == pytest.approx(r.makespan)
    assert order_peaks(s.layout, s.actions, costs) == pytest.approx(r.peak_activation_bytes)


def test_memory_option_trades_memory_for_time():
    # A larger budget admits more microbatches: never slower, and the default stays at 1F1B's peak.
    costs = Costs.make(8, F=1.0, B=2.0, activation_bytes=0.5)
    tight = evaluate(hanayo(4, 16, costs=costs), costs)
    loose = evaluate(hanayo(4, 16, memory=2.0, costs=costs), costs)
    assert loose.makespan <= tight.makespan
    assert max(tight.peak_activation_bytes) <= 4.0
    assert max(loose.peak_activation_bytes) <= 8.0
    layout = linear_layout(4, 16, 2, style="v")
    assert order_peaks(layout, v_order(4, 16), costs) == [4.0] * 4
