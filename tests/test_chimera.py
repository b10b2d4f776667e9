"""Chimera: oracles from the paper (bubble, weights, activations) and from Chimera's own program."""

from __future__ import annotations

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.plan import finalize
from pipesim.schedule import Kind, Registry, RequirementError, validate
from pipesim.schedule.generators.chimera import chimera, deepest_forward_first
from pipesim.schedule.placement import list_schedule


def unit(s, F=1.0, B=1.0):
    return evaluate(s, Costs.make(s.num_stages, F=F, B=B))


@pytest.mark.parametrize("D", [4, 6, 8, 16])
def test_paper_bubble_ratio_for_n_equals_d(D):
    # Li & Hoefler, Table 2: (D-2)/(2N+D-2) with forward and backward one slot each;
    # bubble = idle / (devices x makespan).
    r = unit(chimera(D, D))
    assert r.bubble_ratio == pytest.approx((D - 2) / (2 * D + D - 2))
    assert r.makespan == pytest.approx(2 * D + D - 2)


@pytest.mark.parametrize("D,k", [(4, 2), (4, 3), (6, 2), (8, 3)])
def test_direct_concatenation_keeps_d_minus_2_slots_of_bubble_when_f_equals_b(D, k):
    r = unit(chimera(D, k * D))
    assert r.makespan == pytest.approx(2 * k * D + D - 2)


@pytest.mark.parametrize("D", [4, 6, 8, 16])
def test_two_weight_copies_and_activation_peak_within_paper_bounds(D):
    r = unit(chimera(D, D))
    assert r.weight_copies == [2.0] * D
    assert min(r.peak_inflight) == D // 2 + 1
    assert max(r.peak_inflight) == D
    assert all(D // 2 + 1 <= x <= D for x in r.peak_inflight)


def test_device_programs_follow_chimera_phases_d4():
    # Chimera's worker program with D = 4 (a = 2 - j, b = j): device 0 (j = 0) runs
    # 2x nF, 2x (fF fB), 2x nB; device 1 (j = 1) runs nF, (fF nF), (fF fB), (nB fB), nB.
    # Down microbatches 0, 1 (stages 0..3), up microbatches 2, 3 (stages 4..7, stage 4+j on device 3-j).
    s = chimera(4, 4, reduce_grad=False)
    rows = s.as_strings()
    assert rows[0] == ["0F0", "0F1", "7F2", "7B2", "7F3", "7B3", "0B0", "0B1"]
    assert rows[1] == ["1F0", "6F2", "1F1", "6F3", "6B2", "1B0", "6B3", "1B1"]
    assert rows[3] == ["4F2", "4F3", "3F0", "3B0", "3F1", "3B1", "4B2", "4B3"]


def test_layout_two_replicas_per_part_and_two_routes():
    s = chimera(6, 12)
    lay = s.layout
    assert lay.num_stages == 12 and len(lay.routes) == 2
    for k in range(6):
        assert lay.part_stages[k] == (k, 6 + k)
        assert lay.stage_device[k] == k and lay.stage_device[6 + k] == 5 - k
    assert sorted(lay.mb_route).count(0) == 6 == sorted(lay.mb_route).count(1)


@pytest.mark.parametrize("D,N", [(4, 4), (6, 12), (8, 8)])
def test_reduce_grad_per_stage_in_first_idle_slot_after_last_backward(D, N):
    s = finalize(chimera(D, N))
    reduces = [(d, j, a) for d, row in enumerate(s.actions) for j, a in enumerate(row) if a.kind is Kind.REDUCE_GRAD]
    assert sorted(a.stage for _, _, a in reduces) == list(range(2 * D))
    plain = chimera(D, N, reduce_grad=False)
    r, r0 = unit(s), unit(plain)
    assert r.makespan == r0.makespan  # free collectives placed in bubbles cost nothing
    prog = r.program
    for d in range(D):
        f, c = prog.first[d], prog.count[d]
        acts = prog.actions[f:f + c]
        for j, a in enumerate(acts):
            if a.kind is not Kind.REDUCE_GRAD:
                continue
            last_b = max(i for i, x in enumerate(acts) if x.stage == a.stage and x.kind is Kind.B)
            assert j > last_b
            # nothing but other collectives between the last backward and the first gap after it
            between = [x for x in acts[last_b + 1:j] if x.kind is not Kind.REDUCE_GRAD]
            for i in range(last_b + 1, j):
                if acts[i].kind is not Kind.REDUCE_GRAD:
                    assert r.start[f + i] == r.end[f + i - 1] or i == last_b + 1
            nxt = next((i for i in range(j + 1, c) if acts[i].kind is not Kind.REDUCE_GRAD), None)
            if nxt is not None:  # it sits in an idle slot: the next computation starts later
                prev_end = max(r.end[f + i] for i in range(j) if acts[i].kind is not Kind.REDUCE_GRAD)
                assert r.start[f + nxt] > prev_end
            assert all(x.kind is not Kind.REDUCE_GRAD for x in between)


@pytest.mark.parametrize("F,B", [(1, 1), (1, 2), (1, 3), (2, 1), (1.5, 2.5)])
@pytest.mark.parametrize("D,k", [(4, 1), (4, 3), (6, 2), (8, 1)])
def test_concat_formula_equals_table(F, B, D, k):
    r = unit(chimera(D, k * D, scale="concat"), F, B)
    cf = closed_form("chimera", D, k * D, F=F, B=B, scale="concat")
    assert cf.makespan == pytest.approx(r.makespan)
    assert cf.bubble_ratio == pytest.approx(r.bubble_ratio)
    assert list(cf.peak_activations) == r.peak_inflight
    assert cf.weight_copies == 2.0 and cf.collectives_per_iteration == D


@pytest.mark.parametrize("F,B", [(1, 1), (1, 2), (1, 1.5), (2, 3)])
@pytest.mark.parametrize("D,k", [(4, 1), (4, 2), (6, 1), (8, 2)])
def test_forward_doubling_formula_equals_table(F, B, D, k):
    N = 2 * k * D
    r = unit(chimera(D, N, scale="double"), F, B)
    cf = closed_form("chimera", D, N, F=F, B=B, scale="double")
    assert cf.makespan == pytest.approx(r.makespan)
    assert list(cf.peak_activations) == r.peak_inflight


def test_forward_doubling_removes_intermediate_bubbles_when_b_is_2f():
    # B = 2F: concatenation adds (D-2)(B-F) per unit, doubling keeps the bubble constant.
    D = 4
    c2, c4 = unit(chimera(D, 2 * D, scale="concat"), 1, 2), unit(chimera(D, 4 * D, scale="concat"), 1, 2)
    d2, d4 = unit(chimera(D, 2 * D, scale="double"), 1, 2), unit(chimera(D, 4 * D, scale="double"), 1, 2)
    assert (c4.makespan - 4 * D * 3) - (c2.makespan - 2 * D * 3) == pytest.approx(2 * (D - 2))
    assert d4.makespan - 4 * D * 3 == pytest.approx(d2.makespan - 2 * D * 3)


def test_asymmetric_split_and_placement():
    s = chimera(4, 8, down_fraction=0.75, up_placement="shift=2")
    lay = s.layout
    assert lay.mb_route.count(0) == 6 and lay.mb_route.count(1) == 2
    assert [lay.stage_device[4 + j] for j in range(4)] == [(3 - j + 2) % 4 for j in range(4)]
    validate(s)
    perm = finalize(chimera(4, 6, up_placement="1,2,3,0"))
    assert [perm.layout.stage_device[4 + j] for j in range(4)] == [1, 2, 3, 0]
    assert sum(a.kind is Kind.REDUCE_GRAD for row in perm.actions for a in row) == 8


@pytest.mark.parametrize("D", [4, 8])
def test_greedy_order_and_scaled_budget_bound_the_stash(D):
    own, greedy, half = chimera(D, 2 * D), chimera(D, 2 * D, order="greedy"), chimera(D, 2 * D, budget=0.5)
    for s in (greedy, half):
        validate(s)
        assert s.layout.stage_device == own.layout.stage_device  # same mirrored layout, another order
    # Device d holds down position d and up position D-1-d: budgets (D-d) + (d+1) = D+1 at most,
    # and with the budget halved ceil((D-d)/2) + ceil((d+1)/2).
    assert max(unit(greedy).peak_inflight) <= D + 1
    assert all(x <= -(-(D - d) // 2) - (-(d + 1) // 2) for d, x in enumerate(unit(half).peak_inflight))
    # A tighter budget lowers the peak and costs time.
    assert max(unit(half).peak_inflight) < max(unit(greedy).peak_inflight)
    assert unit(half, 1, 2).makespan > unit(greedy, 1, 2).makespan
    # The default budget is list_schedule's own (the 1F1B budget), the order one of the two
    # documented priorities; REDUCE_GRADs are only inserted.
    compute = [[a for a in row if a.kind is not Kind.REDUCE_GRAD] for row in greedy.actions]
    assert compute in (list_schedule(greedy.layout), list_schedule(greedy.layout, priority=deepest_forward_first))


@pytest.mark.parametrize("D", [2, 4, 6])
def test_grid_validates(D):
    gen = Registry.default().get("chimera")
    for N in range(1, 3 * D + 1):
        for opts in ({}, {"scale": "double"}, {"down_fraction": 0.3}, {"up_placement": "shift=2"},
                     {"order": "greedy"}, {"budget": 0.5}):
            try:
                s = gen(D, N, **opts)
            except RequirementError:
                continue
            validate(s)
            assert s.num_microbatches == N


@pytest.mark.parametrize("p,m,opts,needle", [
    (3, 6, {}, "even number of devices"),
    (4, 6, {}, "multiple"),
    (4, 4, {"scale": "double"}, "2D"),
    (4, 8, {"down_fraction": 1.5}, "within [0, 1]"),
    (4, 4, {"down_fraction": 0.1}, "at least one"),
    (4, 4, {"up_placement": "0,0,1,2"}, "permutation"),
    (4, 4, {"up_placement": "shift=1"}, "both replicas"),
    (4, 4, {"up_placement": "shift=x"}, "whole number"),
    (4, 8, {"down_fraction": 0.25, "scale": "double"}, "symmetric"),
    (4, 8, {"order": "greedy", "scale": "double"}, "symmetric"),
    (4, 8, {"budget": 0.0}, "within (0, 1]"),
    (4, 8, {"budget": 1.5}, "within (0, 1]"),
])
def test_requirement_errors(p, m, opts, needle):
    with pytest.raises(RequirementError, match="chimera") as exc:
        Registry.default().generate("chimera", p, m, **opts)
    assert needle in str(exc.value)


@pytest.mark.parametrize("B", [1, 2, 3])
@pytest.mark.parametrize("D,N", [(4, 4), (4, 8), (4, 12), (8, 32), (8, 64)])
def test_default_scale_is_never_slower_than_concat(B, D, N):
    s = chimera(D, N)
    assert s.options["scale"] == ("double" if N % (2 * D) == 0 else "concat")
    assert unit(s, 1, B).makespan <= unit(chimera(D, N, scale="concat"), 1, B).makespan
