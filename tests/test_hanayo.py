"""Hanayo: zig-zag layout, messages counted from dependencies, regime errors."""

from __future__ import annotations

from collections import Counter

import pytest

from pipesim.costs import Costs
from pipesim.formulas import closed_form
from pipesim.ideal import evaluate
from pipesim.schedule import Registry, RequirementError, validate
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD
from pipesim.schedule.generators.hanayo import hanayo


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
])
def test_requirement_errors(p, m, opts, needle):
    with pytest.raises(RequirementError, match="hanayo") as exc:
        Registry.default().generate("hanayo", p, m, **opts)
    assert needle in str(exc.value)
