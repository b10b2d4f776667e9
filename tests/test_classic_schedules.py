"""Classic schedules against closed forms and hand derivations (uniform costs, free network)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.schedule import Action, Registry, RequirementError, ScheduleOptionError, validate
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD
from pipesim.schedule.generators.gpipe import gpipe
from pipesim.schedule.generators.interleaved import interleaved
from pipesim.schedule.generators.looped_bfs import looped_bfs
from pipesim.schedule.generators.onef1b import one_f_one_b
from pipesim.schedule.generators.zero_bubble import zb_h1, zb_h2, zb_v

CLASSIC = ("gpipe", "1f1b", "interleaved", "zb-h1", "zb-h2", "zb-v", "looped-bfs")


def grid(p_values=range(2, 17), extra: int = 24, seed: int = 7) -> list[tuple[int, int]]:
    """All p with the m values where regimes change, plus a fixed random subset of the rest."""
    out = set()
    for p in p_values:
        for m in (1, 2, p - 1, p, p + 1, 2 * p - 1, 2 * p, 3 * p, 64):
            if 1 <= m <= 64:
                out.add((p, m))
    rng = random.Random(seed)
    ps = list(p_values)
    while len(out) < len(ps) * 9 + extra:
        out.add((rng.choice(ps), rng.randint(1, 64)))
    return sorted(out)


GRID = grid()


def rows(s) -> list[str]:
    return [" ".join(str(a) for a in acts) for acts in s.actions]


# --- GPipe and 1F1B --------------------------------------------------------------------------

@pytest.mark.parametrize(("F", "B"), [(1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (0.5, 3.0)])
def test_gpipe_and_1f1b_makespan(F, B):
    for p, m in GRID:
        c = Costs.make(p, F=F, B=B)
        want = (m + p - 1) * (F + B)
        assert evaluate(gpipe(p, m), c).makespan == pytest.approx(want), (p, m)
        assert evaluate(one_f_one_b(p, m), c).makespan == pytest.approx(want), (p, m)


def test_activation_peaks_1f1b_and_gpipe():
    for p, m in GRID:
        assert evaluate(one_f_one_b(p, m)).peak_inflight == [min(p - s, m) for s in range(p)]
        assert evaluate(gpipe(p, m)).peak_inflight == [m] * p


# --- interleaved -----------------------------------------------------------------------------

def test_interleaved_hand_derivation_p2_v2_m4():
    # Table (mb, chunk): (0,0) (1,0) (0,1) (1,1) (2,0) (3,0) (2,1) (3,1); backward mirrors the chunk.
    # Rank 0 warms up 2*1 + 1*2 = 4 forwards, rank 1 warms up 0 + 2 = 2.
    s = interleaved(2, 4, v=2)
    assert rows(s) == [
        "0F0 0F1 2F0 2F1 0F2 2B0 0F3 2B1 2F2 0B0 2F3 0B1 2B2 2B3 0B2 0B3",
        "1F0 1F1 3F0 3B0 3F1 3B1 1F2 1B0 1F3 1B1 3F2 3B2 3F3 3B3 1B2 1B3",
    ]
    assert s.layout.stage_device == (0, 1, 0, 1)


@pytest.mark.parametrize("v", [2, 3, 4])
@pytest.mark.parametrize(("Fd", "Bd"), [(1.0, 2.0), (3.0, 3.0)])
def test_interleaved_bubble_is_p_minus_1_whole_device_over_v(v, Fd, Bd):
    # Whole-device costs Fd, Bd; each chunk costs Fd/v, Bd/v. The literature: bubble time
    # (p-1)(Fd+Bd)/v beyond the m(Fd+Bd) of work.
    for p in range(2, 17):
        for k in (1, 2, 4):
            m = k * p
            r = evaluate(interleaved(p, m, v=v), Costs.make(p * v, F=Fd / v, B=Bd / v))
            assert r.makespan - m * (Fd + Bd) == pytest.approx((p - 1) * (Fd + Bd) / v), (p, m)
            assert r.peak_inflight[0] == min(p * v + p - 1, m * v)


def test_interleaved_classic_rule_names_itself_and_suggests_m():
    with pytest.raises(RequirementError, match=r"m % p == 0\).*use m=4 or m=8, or group=6"):
        interleaved(4, 6)
    with pytest.raises(RequirementError, match="v >= 2"):
        interleaved(4, 8, v=1)


def test_interleaved_group_relaxes_the_rule():
    # m = 6, p = 4: no classic schedule; group = 6 (one group) or group = 4 with a remainder of 2 < p
    s = interleaved(4, 6, v=2, group=6)
    r = evaluate(s, Costs.make(8, F=1, B=2))
    assert r.makespan == pytest.approx((6 * 2 + 3) * 3)
    with pytest.raises(RequirementError, match="last group would hold 1 < p microbatches"):
        interleaved(4, 11, v=2, group=5)
    s = interleaved(4, 9, v=3, group=5)  # 9 % 5 = 4 >= p
    assert evaluate(s, Costs.make(12, F=1, B=1)).makespan == pytest.approx((9 * 3 + 3) * 2)
    with pytest.raises(RequirementError, match=r"group=3 < p=4"):
        interleaved(4, 8, group=3)


# --- Zero Bubble -----------------------------------------------------------------------------

def test_zb_h1_hand_derivation_p2_m3():
    # Device 0: 2 warm-up forwards, W right after its I; device 1: 1 warm-up forward, W deferred by 1.
    assert rows(zb_h1(2, 3)) == [
        "0F0 0F1 0I0 0W0 0F2 0I1 0W1 0I2 0W2",
        "1F0 1I0 1F1 1I1 1W0 1F2 1I2 1W1 1W2",
    ]


def test_zb_h1_extra_time_is_p_minus_1_times_f_plus_i_minus_w():
    for p, m in GRID:
        if m < p:
            continue
        r = evaluate(zb_h1(p, m), Costs.make(p, F=1, I=1, W=1))
        assert r.makespan - 3 * m == pytest.approx((p - 1) * (1 + 1 - 1)), (p, m)
        assert r.peak_inflight[0] == p  # 1F1B's stage-0 memory
        assert max(r.peak_inflight) == p


def test_zb_h1_beats_1f1b_by_two_w_per_boundary():
    # 1F1B with B = I + W = 2: (m+p-1)*3; ZB-H1: 3m + p - 1; difference 2(p-1).
    for p, m in [(4, 8), (8, 8), (5, 17)]:
        a = evaluate(one_f_one_b(p, m), Costs.make(p, F=1, B=2)).makespan
        b = evaluate(zb_h1(p, m), Costs.make(p, F=1, I=1, W=1)).makespan
        assert a - b == pytest.approx(2 * (p - 1))


def test_zb_h2_peak_and_zero_span_bubble():
    for p, m in GRID:
        r = evaluate(zb_h2(p, m), Costs.make(p, F=1, I=1, W=1))
        assert r.peak_inflight[0] == min(2 * p - 1, m), (p, m)
        if m >= 2 * p - 1:
            assert r.span_bubble_ratio == pytest.approx(0.0, abs=1e-12), (p, m)
            # device i starts after i forwards and is never idle afterwards
            assert r.spans == [(i, i + 3 * m) for i in range(p)]


def test_zb_v_layout_zero_span_bubble_and_peak():
    s = zb_v(4, 8)
    assert s.layout.stage_device == (0, 1, 2, 3, 3, 2, 1, 0)
    for p, m in GRID:
        if m < 2 * p - 1:
            continue
        r = evaluate(zb_v(p, m), Costs.make(2 * p, F=1, I=1, W=1))
        assert r.span_bubble_ratio == pytest.approx(0.0, abs=1e-12), (p, m)
        assert r.spans == [(d, d + 6 * m) for d in range(p)]
        # 2p chunk-microbatches in flight = p whole-device microbatches (chunk = M_a / 2)
        assert max(r.peak_inflight) == 2 * p
        assert r.weight_copies == [1.0] * p


def test_zb_v_needs_m_at_least_2p_minus_1_for_zero_bubble():
    # Device 0 must fill the 2p-1 slots before the first gradient returns with forwards of
    # chunk 0; with fewer microbatches it idles.
    p = 4
    r = evaluate(zb_v(p, 2 * p - 2), Costs.make(2 * p, F=1, I=1, W=1))
    assert r.span_bubble_ratio > 0


# --- looped BFS ------------------------------------------------------------------------------

@pytest.mark.parametrize("v", [1, 2, 3])
def test_looped_bfs_order_and_makespan(v):
    s = looped_bfs(2, 2, v=2)
    assert rows(s)[0] == "0F0 0F1 2F0 2F1 2B0 2B1 0B0 0B1"
    for p, m in GRID[::3]:
        r = evaluate(looped_bfs(p, m, v=v), Costs.make(p * v, F=1, B=2))
        assert r.makespan == pytest.approx(3 * max(v * m + p - 1, v * p + m - 1)), (p, m)
        assert r.peak_inflight == [v * m] * p


# --- formula == table ------------------------------------------------------------------------

def _options(name: str) -> list[dict]:
    return [{"v": 2}, {"v": 3}] if name in ("interleaved", "looped-bfs") else [{}]


@pytest.mark.parametrize("name", CLASSIC)
def test_closed_form_equals_table(name):
    reg = Registry.default()
    cost_sets = [dict(F=1.0, B=2.0), dict(F=1.0, I=1.0, W=1.0), dict(F=2.0, I=1.0, W=0.5)]
    checked = 0
    for opts in _options(name):
        for p, m in GRID[::3]:
            try:
                s = reg.generate(name, p, m, **opts)
            except RequirementError:
                continue
            for cs in cost_sets:
                c = Costs.make(s.num_stages, **cs)
                cf = closed_form(name, p, m, F=c.forward[0], B=c.backward[0], I=c.backward_input[0],
                                 W=c.backward_weight[0], **opts)
                r = evaluate(s, c)
                if cf.makespan is not None:
                    assert cf.makespan == pytest.approx(r.makespan), (name, opts, p, m, cs)
                    assert cf.bubble_ratio == pytest.approx(r.bubble_ratio), (name, opts, p, m, cs)
                    checked += 1
                if cf.span_bubble_ratio is not None:
                    assert cf.span_bubble_ratio == pytest.approx(r.span_bubble_ratio, abs=1e-12)
                if cf.peak_activations is not None:
                    assert list(cf.peak_activations) == r.peak_inflight, (name, opts, p, m)
                assert cf.weight_copies == 1.0 == max(r.weight_copies)
    assert checked > 50  # the identity was exercised, not skipped


@pytest.mark.parametrize(("name", "opts", "want"), [
    ("gpipe", {}, lambda p: p - 1),
    ("1f1b", {}, lambda p: p - 1),
    ("interleaved", {"v": 3}, lambda p: 3 * p - 1),
    ("zb-h1", {}, lambda p: p - 1),
    ("zb-v", {}, lambda p: 2 * p - 2),  # the V's turn stays on device p-1: 2x 1F1B's traffic
    ("looped-bfs", {"v": 2}, lambda p: 2 * p - 1),
])
def test_p2p_messages_per_microbatch(name, opts, want):
    for p in (2, 3, 5, 8):
        m = 2 * p
        prog = validate(Registry.default().generate(name, p, m, **opts))
        acts, grads = Counter(), Counter()
        for deps in prog.deps:
            for dep in deps:
                if dep.kind == DEP_ACT:
                    acts[dep.microbatch] += 1
                elif dep.kind == DEP_GRAD:
                    grads[dep.microbatch] += 1
        assert set(acts.values()) == {want(p)} == set(grads.values())
        assert closed_form(name, p, m, **opts).p2p_per_microbatch == want(p)


def test_zb_v_comm_is_twice_1f1b():
    for p in (2, 4, 8):
        assert closed_form("zb-v", p, 2 * p).p2p_per_microbatch == 2 * closed_form("1f1b", p, 2 * p).p2p_per_microbatch


# --- registry --------------------------------------------------------------------------------

def test_registry_knows_the_classic_schedules_and_their_split():
    reg = Registry.default()
    for name in CLASSIC:
        assert name in reg.names()
    assert {g.name for g in reg if g.split_backward} >= {"zb-h1", "zb-h2", "zb-v"}
    assert reg.get("ZBV").name == "zb-v"


def test_registry_rejects_unknown_names_and_options_listing_valid_ones():
    reg = Registry.default()
    with pytest.raises(ScheduleOptionError) as info:
        reg.generate("zbv2", 4, 8)
    msg = str(info.value)
    assert "unknown schedule 'zbv2'" in msg
    for name in CLASSIC:
        assert name in msg
    with pytest.raises(ScheduleOptionError, match=r"schedule 'interleaved' has no option 'chunks'; valid options: v, group"):
        reg.generate("interleaved", 4, 8, chunks=2)
    with pytest.raises(ScheduleOptionError, match=r"did you mean 'v'"):
        reg.generate("looped-bfs", 4, 8, vv=2)
    with pytest.raises(ScheduleOptionError, match="has no option 'v'; valid options: none"):
        reg.generate("zb-h1", 4, 8, v=2)
    with pytest.raises(ScheduleOptionError, match="'two' is not a valid int"):
        reg.generate("interleaved", 4, 8, v="two")


def test_split_schedules_emit_i_and_w_only():
    for s in (zb_h1(3, 6), zb_h2(3, 6), zb_v(3, 6)):
        kinds = {a.kind.value for acts in s.actions for a in acts}
        assert kinds == {"F", "I", "W"}
        assert Action.parse("0I0") in s.actions[0]
