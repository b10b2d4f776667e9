"""Every schedule at most its paper's closed form; Hanayo's and ZB-H2's published bounds.

The bounds come from the papers, not from pipesim: Hanayo's bubble (p-1)/(2Wm+p-1) at F = B
[Hanayo, SC'23], and the Zero Bubble paper's Table 5 bubble rates of ZB-H2, computed by the
paper from its own profiled per-stage times (its Table 9; both copied in docs/reference.md,
section "Zero Bubble paper data").
"""

from __future__ import annotations

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.plan import finalize
from pipesim.schedule import Registry, RequirementError

REGISTRY = Registry.default()
UNIFORM = [(1.0, 2.0, 1.0, 1.0), (1.0, 1.0, 0.5, 0.5), (1.0, 3.0, 1.0, 2.0), (1.0, 3.0, 2.0, 1.0)]


@pytest.mark.parametrize("name", REGISTRY.names())
def test_makespan_at_most_closed_form(name):
    gen, checked = REGISTRY.get(name), 0
    for p in (2, 4, 8):
        for m in sorted({max(1, p // 2), p, 2 * p, 4 * p}):
            try:
                s = finalize(gen(p, m))
            except RequirementError:
                continue
            for F, B, I, W in UNIFORM:  # noqa: E741
                cf = closed_form(name, p, m, F=F, B=B, I=I, W=W)
                if cf.makespan is None:
                    continue
                r = evaluate(s, Costs.make(s.num_stages, F=F, B=B, I=I, W=W))
                assert r.makespan <= cf.makespan + 1e-9, (name, p, m, (F, B, I, W))
                checked += 1
    if name != "hanayo":  # Hanayo's paper gives an estimate only; checked below
        assert checked > 0


@pytest.mark.parametrize("waves", [1, 2, 3])
@pytest.mark.parametrize("p", [2, 4, 8])
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("cost_aware", [False, True])
def test_hanayo_reaches_its_bound_at_f_equal_b(waves, p, k, cost_aware):
    m = k * p
    costs = Costs.make(2 * waves * p, F=1.0, B=1.0)
    s = REGISTRY.generate("hanayo", p, m, waves=waves, costs=costs if cost_aware else None)
    r = evaluate(s, costs)
    assert r.bubble_ratio <= (p - 1) / (2 * waves * m + p - 1) + 1e-12


def test_hanayo_with_real_costs_no_worse_than_unit_order():
    # p=4, m=16, B=2F: the order the issue reported (126 slots) came from ranking input age
    # before depth; the cost-aware order must beat it, the unit-slot order, and 1F1B doing the
    # same work ((m + p - 1)(F + B) = 19 x 6 = 114 with its stage twice a chunk).
    costs = Costs.make(8, F=1.0, B=2.0)
    aware = evaluate(REGISTRY.generate("hanayo", 4, 16, costs=costs), costs).makespan
    unit = evaluate(REGISTRY.generate("hanayo", 4, 16), costs).makespan
    assert aware <= unit
    assert aware <= 114


# Zero Bubble paper [Qi et al., ICLR 2024], Table 9 (T_F, T_B = input gradient, T_W, T_comm in
# ms) and Table 5 (ZB-H2 bubble rate), for each model and m.
ZB_PAPER = [
    ("1.5B", 8, 24, 18.522, 18.086, 9.337, 0.601, 0.1083),
    ("1.5B", 8, 32, 18.513, 18.086, 9.331, 0.626, 0.0837),
    ("1.5B", 8, 64, 18.546, 18.097, 9.321, 0.762, 0.0444),
    ("6.2B", 8, 24, 29.718, 29.444, 19.927, 0.527, 0.0698),
    ("6.2B", 8, 32, 29.802, 29.428, 19.530, 0.577, 0.0559),
    ("6.2B", 8, 64, 29.935, 29.621, 19.388, 0.535, 0.0294),
    ("14.6B", 16, 48, 11.347, 11.248, 8.132, 0.377, 0.0672),
    ("14.6B", 16, 64, 11.307, 11.254, 8.101, 0.379, 0.0516),
    ("14.6B", 16, 128, 11.325, 11.308, 8.109, 0.378, 0.0266),
    ("28.3B", 32, 96, 10.419, 10.207, 7.715, 0.408, 0.0641),
    ("28.3B", 32, 128, 10.408, 10.204, 7.703, 0.408, 0.0490),
    ("28.3B", 32, 256, 10.402, 10.248, 7.698, 0.460, 0.0257),
]


@pytest.mark.parametrize("model,p,m,tf,tb,tw,tcomm,paper", ZB_PAPER)
def test_zb_h2_meets_paper_table5(model, p, m, tf, tb, tw, tcomm, paper):
    costs = Costs.make(p, F=tf, I=tb, W=tw)
    r = evaluate(REGISTRY.generate("zb-h2", p, m, costs=costs), costs, message_delay=tcomm)
    cost = max(end - start for start, end in r.spans)  # the paper's stage cost: longest own span
    rate = 1.0 - m * (tf + tb + tw) / cost
    assert rate <= paper + 5e-5, model  # the paper prints four decimals


@pytest.mark.parametrize("v", [2, 3, 4])
@pytest.mark.parametrize("p", [2, 4, 8, 16])
def test_interleaved_with_fewer_microbatches_than_devices(v, p):
    # PyTorch's ScheduleInterleaved1F1B runs m < p as one round of m microbatches; the order
    # must validate and do no worse than 1F1B doing the same work (whole-stage F = B = v).
    for m in range(1, p):
        s = REGISTRY.generate("interleaved", p, m, v=v)
        r = evaluate(s, Costs.make(s.num_stages, F=1.0, B=1.0))
        assert r.makespan <= (m + p - 1) * 2 * v, (p, m, v)
