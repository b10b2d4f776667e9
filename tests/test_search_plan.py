"""The plan search: its space, bounds, memory limits, measured delays and network scoring,
checked against independent references (brute force, hand-computed memory, the trace)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import pipesim
from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.plan import generate
from pipesim.search.errors import SearchError
from pipesim.search.limits import (
    check_fits,
    least_memory,
    parse_budget,
    parse_memory_limit,
)
from pipesim.search.score import edge_delays
from pipesim.search.space import Axes, Plan, bounded, parse_space, placement_axis
from pipesim.search.variant import Base, make_problem

# ---------------------------------------------------------------------------------------------
# Space


def test_parse_space_orders_items_and_names_bad_ones() -> None:
    assert parse_space("v,order") == ("order", "v")
    assert parse_space(None) == ("order", "m", "v", "layout", "split", "placement", "backward")
    with pytest.raises(SearchError, match=r"--space: unknown item 'speed'; valid: order, m, v"):
        parse_space("order,speed")
    with pytest.raises(SearchError, match="needs a scenario with a model"):
        parse_space("m", allowed=("order", "v", "layout"))


def test_bounded_counts_then_samples_deterministically() -> None:
    axes = Axes((("1f1b", 1), ("interleaved", 2)), ((8, 2), (16, 1)), ("uniform", "balanced", "head-1"))
    assert axes.count == 2 * 2 * 3 == len(axes.plans())
    plans, note = bounded(axes, 100, seed=0)
    assert len(plans) == 12 and note == "12 plans"
    few, note = bounded(axes, 5, seed=3)
    assert len(few) == 5 and few[0] == axes.plans()[0] and "12 plans in the space" in note
    assert few == bounded(axes, 5, seed=3)[0]
    # The base scenario's layout and m, on the balanced split, both backwards: always kept.
    axes = Axes((("1f1b", 1), ("interleaved", 2)), ((8, 2), (16, 1)), ("scenario", "uniform", "balanced"),
                backwards=(False, True), base=("1f1b", 1, 16))
    anchored = {p for p in axes.plans() if (p.family, p.microbatches) == ("1f1b", 16) and p.split != "uniform"}
    assert len(anchored) == 4
    for seed in range(5):
        some, _ = bounded(axes, 6, seed=seed)
        assert len(some) == 6 and anchored <= set(some) and axes.plans()[0] in some


def test_placement_axis_packed_striped_and_distinct() -> None:
    devices = [f"n{k}.gpu{g}" for k in range(2) for g in range(4)]
    axis, note = placement_axis(devices, 4, samples=3, seed=0)
    places = dict(axis)
    assert places["packed"] == (0, 1, 2, 3)
    assert places["striped"] == (0, 4, 1, 5)  # alternate nodes
    assert len({p for p in places.values()}) == len(axis) == 5
    assert all(len(set(p)) == 4 and max(p) < 8 for p in places.values() if p is not None)
    assert f"{math.perm(8, 4):,}" in note


# ---------------------------------------------------------------------------------------------
# Memory limit and budget


def test_memory_limit_kp_is_k_times_1f1b_peak() -> None:
    # 1F1B's device 0 holds p microbatches: its peak is exactly 1p, for any stash per stage.
    p, m = 4, 8
    sched = generate("1f1b", p, m)
    costs = Costs.make(p, activation_bytes=[3.0, 1.0, 2.0, 5.0])
    peak = evaluate(sched, costs).peak_activation_bytes
    bound = parse_memory_limit("1p")
    assert bound is not None
    limit = bound.per_device(sched.layout, costs)
    assert limit[0] == pytest.approx(peak[0]) == pytest.approx(p * 3.0)
    assert all(x <= b + 1e-12 for x, b in zip(peak, limit, strict=True))


def test_1p_counts_replicas_once_and_chunks_together() -> None:
    one_p = parse_memory_limit("1p")
    assert one_p is not None
    # Chimera: each device holds one stage of each replica; 1p is p stashes of one stage.
    sched = generate("chimera", 4, 8)
    assert one_p.per_device(sched.layout, Costs.make(sched.num_stages, activation_bytes=2.0)) == (8.0,) * 4
    # Interleaved v=2: a microbatch passes both chunks of a device; 1p is p stashes of both.
    inter = generate("interleaved", 4, 8, v=2)
    assert one_p.per_device(inter.layout, Costs.make(8, activation_bytes=1.0)) == (8.0,) * 4


def test_least_memory_v_shape_device_holds_both_arms() -> None:
    sched = generate("zb-v", 2, 4)
    costs = Costs.make(4, activation_bytes=1.0)
    assert least_memory(sched.layout, costs) == (2.0, 2.0)  # one microbatch passes both arms of a device
    with pytest.raises(SearchError, match=r"--memory-limit: 0.2p is below .* device 0 .* give at least 0.5p"):
        check_fits(parse_memory_limit("0.2p"), sched.layout, costs, "v-shape")  # type: ignore[arg-type]


@pytest.mark.parametrize("text,match", [("0", "at least 1"), ("0s", "must be > 0"), ("fast", "neither a time"),
                                        ("-3s", "")])
def test_bad_budgets(text: str, match: str) -> None:
    with pytest.raises(SearchError, match=f"--budget: .*{match}"):
        parse_budget(text)


def test_budget_forms_and_shares() -> None:
    b = parse_budget("2000")
    assert b is not None and b.evals == 2000 and b.seconds is None
    assert b.share(0.7, 10) == (140, None)
    t = parse_budget("30s")
    assert t is not None and t.seconds == 30.0
    assert t.share(0.5, 4, workers=2) == (None, 7.5)  # two rounds of two workers


@pytest.mark.parametrize("text", ["0p", "-1p", "abc", "0 GB"])
def test_bad_memory_limits(text: str) -> None:
    with pytest.raises(SearchError, match="--memory-limit"):
        parse_memory_limit(text)


# ---------------------------------------------------------------------------------------------
# Measured delays and network scoring

QUICK = "scenarios/quickstart.yaml"


def test_edge_delays_are_the_mean_transfer_time_per_hand_over() -> None:
    out = pipesim.run(QUICK)
    trace = out.trace
    delays = edge_delays(trace)
    # Reference: group the trace's messages by their actions' stages, by hand.
    groups: dict[tuple[int, int], list[float]] = {}
    for msg in trace.messages:
        if msg.kind in ("act", "grad"):
            src = int(msg.producer.split("F")[0].split("B")[0])
            dst = int(msg.consumer.split("F")[0].split("B")[0])
            groups.setdefault((src, dst), []).append(msg.arrived - msg.sent)
    assert set(delays) == set(groups)
    for edge, values in groups.items():
        assert delays[edge] == pytest.approx(sum(values) / len(values))
    # 1F1B on 8 devices: 7 forward and 7 backward hand-overs; the one over Ethernet (3 <-> 4) is slowest.
    assert len(delays) == 14
    assert max(delays, key=lambda e: delays[e]) in {(3, 4), (4, 3)}


def test_make_problem_split_and_microbatch_size_follow_the_plan() -> None:
    from pipesim.scenario.load import read_yaml

    base = Base(scenario=read_yaml(Path(QUICK)), base_dir="scenarios")
    plan = Plan("1f1b", 1, 8, 2, "balanced")
    prob = make_problem(base, plan)
    assert prob.built.workload.microbatch_size == 2 and prob.layout.num_microbatches == 8
    layers = [s.layers for s in prob.built.workload.stages]
    assert sum(layers) == 24 and min(layers) >= 1
    # Balanced by cost: its slowest part is no slower than the uniform split's.
    uniform = make_problem(base, Plan("1f1b", 1, 8, 2, "uniform"))
    assert [s.layers for s in uniform.built.workload.stages] == [3] * 8

    def slowest(prob_: object) -> float:
        return max(s.time.F + s.time.B for s in prob_.built.workload.stages)  # type: ignore[attr-defined]

    assert slowest(prob) <= slowest(uniform)
    assert layers[-1] < 3  # the LM head makes the last part lighter in layers


def test_search_is_deterministic_and_never_slower_than_the_free_network_choice() -> None:
    kwargs = dict(space="order", budget="50", split_backward=True,
                  overrides=["schedule.name=zb-h1", "topology.inter=eth10"])
    a = pipesim.search(QUICK, **kwargs)  # type: ignore[arg-type]
    b = pipesim.search(QUICK, **kwargs)  # type: ignore[arg-type]
    assert a.best_scored.schedule.actions == b.best_scored.schedule.actions
    assert a.best_scored.makespan == b.best_scored.makespan
    assert a.free_scored is not None
    assert a.best_scored.makespan <= a.free_scored.makespan
    # The winner's simulated time is what the simulation reports for that order (an independent run).
    from pipesim.sim.engine import Simulation

    prob = make_problem(_base(), a.best.plan)
    again = Simulation(a.best_scored.schedule, prob.costs, prob.built.topology, prob.built.sim_options).run()
    assert again.makespan == pytest.approx(a.best_scored.makespan)


def _base() -> Base:
    from pathlib import Path

    from pipesim.scenario.load import read_yaml

    return Base(scenario=read_yaml(Path(QUICK)), base_dir=str(Path("scenarios").resolve()),
                overrides=("schedule.name=zb-h1", "topology.inter=eth10"))


def test_table_form_never_slower_than_named_orders_of_the_layout() -> None:
    # No memory limit, free network: the search keeps the best named order of its layout as a floor.
    from pipesim.search.plan import Settings, search_plan
    from pipesim.search.request import from_table

    for p, m in [(2, 4), (4, 8), (4, 6)]:
        base, axes, space = from_table(p, m, {"F": 1.0, "B": 2.0}, schedule="1f1b", degree=None, delay=0.0,
                                       space_text="order")
        res = search_plan(base, axes, Settings(space), budget=parse_budget("20"))
        named = [generate(n, p, m) for n in ("gpipe", "1f1b")]
        floor = min(evaluate(s, Costs.make(p, F=1.0, B=2.0)).makespan for s in named)
        assert res.best_scored.makespan <= floor + 1e-9
        # 1F1B is optimal here: (m + p - 1)(F + B).
        assert res.best_scored.makespan == pytest.approx((m + p - 1) * 3.0)


def test_best_is_never_slower_than_a_named_schedule_that_fits_the_limit() -> None:
    # The ranked table's named rows (pipesim compare on the base scenario, simulated), kept where
    # their stashed activations fit 2p: the search's answer is no slower than any of them, with
    # whole and split backwards both searched by default (the scenario's schedule is 1F1B).
    from pipesim.compare import compare
    from pipesim.scenario import build, load_scenario
    from pipesim.schedule import Registry
    from pipesim.search.variant import peak

    overrides = ["parallel.pp=4", "parallel.microbatches=8", "model.layers_per_stage=balanced", "topology.gpus_per_node=2", "topology.gpus_per_nic=2"]
    res = pipesim.search(QUICK, overrides=overrides, space="order,backward", memory_limit="2p", budget="40",
                         rescore=1, rounds=0)
    limit = parse_memory_limit("2p")
    rows = compare(QUICK, Registry.default().names(), overrides=overrides)
    checked = 0
    for row in rows:
        if not row.feasible or row.iteration_time is None:
            continue
        sc = load_scenario(QUICK, [*overrides, f"schedule.name={row.schedule}", "schedule.options={}",
                                   "model.layers_per_stage=balanced"])
        built = build(sc)
        bound = limit.per_device(built.schedule.layout, built.costs)
        if all(x <= b * (1 + 1e-9) for x, b in zip(peak(built.schedule, built.costs), bound, strict=True)):
            checked += 1
            assert res.best_scored.makespan <= row.iteration_time * (1 + 1e-9), row.schedule
    assert checked >= 3  # 1F1B, ZB-H1 and ZB-H2 at least fit 2p
