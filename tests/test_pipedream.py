"""PipeDream and PipeDream-2BW: continuous 1F1B streams and their staleness."""

from __future__ import annotations

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.schedule import Registry, RequirementError, validate
from pipesim.schedule.generators.chimera import chimera
from pipesim.schedule.generators.pipedream import pipedream, pipedream_2bw
from pipesim.staleness import format_staleness, staleness


@pytest.mark.parametrize("S", [2, 4, 6])
def test_pipedream_steady_state_delay_and_versions(S):
    s = pipedream(S, 2 * S, iterations=3)
    rep = staleness(s, evaluate(s, Costs.make(S)))
    for st in rep.stages:
        k = st.stage
        assert st.versions_kept == S - k  # weight stashing: S - s versions
        assert set(st.delays[S:]) == {S - k - 1}  # steady state: S - s - 1 updates old
        assert st.delays[: S - k - 1] == tuple(range(S - k - 1))  # warm-up: fresh, then growing
        assert st.updates == 3 * 2 * S


@pytest.mark.parametrize("S,m", [(2, 2), (4, 4), (4, 6), (3, 7)])
def test_2bw_versions_and_one_step_delay(S, m):
    s = pipedream_2bw(S, m, iterations=4)
    rep = staleness(s, evaluate(s, Costs.make(S)))
    for st in rep.stages:
        for mb, version in st.forward_versions:
            k = mb + 1
            assert version == max((k - 1) // m - 1, 0)
        assert st.delays == (0, 1, 1, 1)  # W(t+1) = W(t) - lr grad f(W(t-1))
        assert st.versions_kept == 2


def test_no_flush_between_iterations():
    s = pipedream(4, 4, iterations=2)
    r = evaluate(s, Costs.make(4))
    prog = r.program
    t = {str(a): (r.start[g], r.end[g]) for g, a in enumerate(prog.actions)}
    # iteration 2's first forward on device 0 starts before iteration 1's last backward there
    assert t["0F4"][0] < t["0B3"][0]


@pytest.mark.parametrize("name,gen", [("pipedream", pipedream), ("pipedream-2bw", pipedream_2bw)])
@pytest.mark.parametrize("p,m,it", [(4, 4, 1), (4, 8, 3), (3, 5, 2)])
def test_formula_equals_table(name, gen, p, m, it):
    s = gen(p, m, iterations=it)
    r = evaluate(s, Costs.make(p, F=1, B=2))
    cf = closed_form(name, p, m, F=1, B=2, iterations=it)
    assert cf.makespan == pytest.approx(r.makespan) == pytest.approx((it * m + p - 1) * 3)
    assert list(cf.peak_activations) == r.peak_inflight
    rep = staleness(s, r)
    assert cf.weight_copies == max(st.versions_kept for st in rep.stages)


def test_list_order_equals_timeline_order_for_one_stage_per_device():
    s = pipedream(4, 4)
    assert staleness(s) == staleness(s, evaluate(s))


def test_synchronous_schedules_have_no_staleness():
    rep = staleness(chimera(4, 4))
    assert rep.mode == "sync"
    assert all(st.max_delay == 0 and st.versions_kept == 1 for st in rep.stages)


def test_format_staleness():
    text = format_staleness(staleness(pipedream(3, 3)))
    lines = text.splitlines()
    assert "pipedream" in lines[0] and "max delay" in lines[1]
    assert len(lines) == 2 + 3


def test_grid_validates():
    reg = Registry.default()
    for name in ("pipedream", "pipedream-2bw"):
        for p in range(1, 6):
            for m in range(1, 8):
                try:
                    validate(reg.generate(name, p, m, iterations=2))
                except RequirementError:
                    assert name == "pipedream-2bw" and m < p


@pytest.mark.parametrize("name,p,m,opts,needle", [
    ("pipedream-2bw", 4, 3, {}, "m >= p"),
    ("pipedream", 4, 4, {"iterations": 0}, "at least 1 iteration"),
])
def test_requirement_errors(name, p, m, opts, needle):
    with pytest.raises(RequirementError, match=name) as exc:
        Registry.default().generate(name, p, m, **opts)
    assert needle in str(exc.value)


def test_weight_copies_count_stashed_versions():
    # PipeDream stage s stashes p - s weight versions (Narayanan et al., weight stashing); 2BW two.
    from pipesim.costs import Costs as _Costs
    from pipesim.ideal import evaluate as _evaluate
    from pipesim.schedule import Registry as _Registry

    reg = _Registry.default()
    for p in (2, 4, 6):
        for name, expected in (("pipedream", [float(p - s) for s in range(p)]), ("pipedream-2bw", [2.0] * p),
                               ("1f1b", [1.0] * p)):
            s = reg.generate(name, p, 2 * p)
            assert _evaluate(s, _Costs.make(s.num_stages)).weight_copies == expected, (name, p)
