"""DualPipe and DualPipeV: the README bubble, memory and the eight-step structure."""

from __future__ import annotations

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.plan import finalize
from pipesim.schedule import Kind, Registry, RequirementError, validate
from pipesim.schedule.generators.dualpipe import dualpipe, dualpipev


def run(s, F=1.0, I=1.0, W=1.0, overlap=1.0):  # noqa: E741
    return evaluate(s, Costs.make(s.num_stages, F=F, B=I + W, I=I, W=W, overlap=overlap))


def worst_idle(r):
    """README 'bubble': idle time of the least busy device within the global makespan."""
    return max(r.makespan - b for b in r.busy)


COSTS = [(1, 1, 1, 1.0), (2, 2, 1, 1.0), (1, 1, 0.5, 1.0), (1, 1, 0.25, 1.0), (1, 1, 1, 0.8), (1, 1, 0.5, 0.7)]


@pytest.mark.parametrize("F,I,W,ov", COSTS)
@pytest.mark.parametrize("p,m", [(4, 8), (6, 14), (8, 20), (10, 20)])
def test_dualpipe_readme_bubble(F, I, W, ov, p, m):  # noqa: E741
    r = run(dualpipe(p, m), F, I, W, ov)
    B = I + W
    assert worst_idle(r) == pytest.approx((p / 2 - 1) * (ov * (F + B) + B - 3 * W))


@pytest.mark.parametrize("F,I,W,ov", COSTS)
@pytest.mark.parametrize("p,m", [(2, 4), (3, 7), (4, 10), (5, 12)])
def test_dualpipev_readme_bubble_with_pp_stages(F, I, W, ov, p, m):  # noqa: E741
    r = run(dualpipev(p, m), F, I, W, ov)
    B, PP = I + W, 2 * p  # README: DualPipeV has PP stages on PP/2 devices
    assert worst_idle(r) == pytest.approx((PP / 2 - 1) * (ov * (F + B) + B - 3 * W))


def test_readme_bubble_not_exact_when_input_gradient_differs_from_forward():
    # Documented disagreement: with I != F the 8-step order gives another bubble.
    r = run(dualpipe(4, 8), F=1, I=1.5, W=0.5)
    assert worst_idle(r) != pytest.approx((4 / 2 - 1) * (1 * 3 + 2 - 1.5))


@pytest.mark.parametrize("name,gen,p,m", [("dualpipe", dualpipe, 4, 8), ("dualpipe", dualpipe, 8, 24),
                                          ("dualpipev", dualpipev, 3, 6), ("dualpipev", dualpipev, 4, 11)])
@pytest.mark.parametrize("ov", [1.0, 0.75])
def test_formula_equals_table(name, gen, p, m, ov):
    r = run(gen(p, m), overlap=ov)
    cf = closed_form(name, p, m, F=1, I=1, W=1, overlap=ov)
    assert cf.makespan == pytest.approx(r.makespan)
    assert cf.bubble_ratio == pytest.approx(r.bubble_ratio)
    assert list(cf.peak_activations) == r.peak_inflight
    assert cf.weight_copies == r.weight_copies[0]


@pytest.mark.parametrize("p", [2, 4, 8])
def test_memory_pp_plus_one_activations_and_weights(p):
    r = run(dualpipe(p, 2 * p + 4))
    assert r.peak_inflight == [p + 1] * p  # README: PP+1
    assert r.weight_copies == [2.0] * p  # README: 2x parameters
    rv = run(dualpipev(p, 2 * p + 4))
    assert rv.peak_inflight == [2 * p + 1] * p  # PP = 2p stages
    assert rv.weight_copies == [1.0] * p  # one model copy, two chunks per device


def test_step_structure_rank0_p4():
    # Rank 0 of 4 (n = 2 ranks per half, h = 0, m/2 = 4 chunks per direction):
    # step 1: 2 x F0; step 2: F0 F1; step 3: I1 W1 F1; step 4: 1 x (F0&B1, F1&B0);
    # step 5: B1 (F1&B0); step 6: B1, then B0 deferred (h even); step 7: W, I0; step 8: W.
    s = dualpipe(4, 8, reduce_grad=False)
    assert s.as_strings()[0] == [
        "0F0", "0F1", "0F2", "7F4", "7I4", "7W4", "7F5", "(0F3;7B5)OVERLAP_F_B", "(7F6;0B0)OVERLAP_F_B",
        "7B6", "(7F7;0B1)OVERLAP_F_B", "7B7", "0I2", "0W2", "0I3", "0W3"]


def test_middle_rank_does_not_overlap_first_main_pair():
    s = dualpipe(4, 8, reduce_grad=False)
    row = s.as_strings()[1]  # rank 1 is a middle rank of 4
    i = row.index("1F2")
    assert row[i + 1] == "6B4"  # F0 and B1 run separately there
    assert all(a.kind is not Kind.OVERLAP_F_B for a in dualpipe(4, 8, overlap_chunks=False).actions[0])


def test_overlap_chunk_cost():
    s = dualpipe(4, 8, reduce_grad=False)
    r = run(s, F=1, I=1, W=1, overlap=0.6)
    prog = r.program
    durs = [r.end[g] - r.start[g] for g, a in enumerate(prog.actions) if a.kind is Kind.OVERLAP_F_B]
    assert durs and all(d == pytest.approx(0.6 * 3) for d in durs)


def test_reduce_grad_one_per_stage():
    s = finalize(dualpipe(6, 12))
    assert sorted(a.stage for row in s.actions for a in row if a.kind is Kind.REDUCE_GRAD) == list(range(12))
    assert run(s).makespan == run(dualpipe(6, 12, reduce_grad=False)).makespan


def test_grid_validates():
    reg = Registry.default()
    validated = {"dualpipe": 0, "dualpipev": 0}
    for name in validated:
        for p in range(1, 9):
            for m in range(1, 3 * p + 3):
                try:
                    s = reg.generate(name, p, m)
                except RequirementError:
                    continue
                validate(s)
                validated[name] += 1
    # Every even p >= 2 with m >= 2p (DualPipe) or m >= p stages (DualPipeV) is in range.
    assert validated["dualpipe"] >= 4 * 3 and validated["dualpipev"] >= 4 * 3, validated


@pytest.mark.parametrize("name,p,m,needle", [
    ("dualpipe", 3, 12, "even number of ranks"),
    ("dualpipe", 4, 9, "even m >= 2p"),
    ("dualpipe", 4, 6, "even m >= 2p"),
    ("dualpipev", 4, 7, "m >= 2p"),
])
def test_requirement_errors(name, p, m, needle):
    with pytest.raises(RequirementError, match=name) as exc:
        Registry.default().generate(name, p, m)
    assert needle in str(exc.value)
