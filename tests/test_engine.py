"""The simulation level against exact oracles: table identity on a free network, hand-derived
contention, deadlock reporting and determinism."""

import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.network import cluster, free, single_node
from pipesim.plan import generate
from pipesim.schedule import Action, Kind, Layout, Schedule
from pipesim.schedule.registry import Registry, RequirementError
from pipesim.schedule.validate import DeadlockError
from pipesim.sim.engine import SimOptions, Simulation

# (p, m) that every built-in generator should accept; a generator refusing raises RequirementError.
SHAPES = ((2, 4), (4, 8), (4, 16), (6, 12), (8, 16))


def _cases():
    registry = Registry.default()
    for gen in registry:
        for p, m in SHAPES:
            try:
                yield pytest.param(gen(p, m), id=f"{gen.name}-p{p}-m{m}")
            except RequirementError:
                continue


@pytest.mark.parametrize("schedule", list(_cases()))
def test_free_network_reproduces_the_table_level_exactly(schedule):
    # Non-uniform costs so that equal-time coincidences cannot hide an ordering bug.
    S = schedule.num_stages
    costs = Costs.make(S, F=[1.0 + 0.1 * (s % 3) for s in range(S)], B=[2.0 + 0.05 * s for s in range(S)],
                       I=[1.1 + 0.05 * s for s in range(S)], W=[0.9 + 0.01 * s for s in range(S)],
                       message_bytes=1e6, param_bytes=1e6)
    table = evaluate(schedule, costs)
    sim = Simulation(schedule, costs, free(schedule.num_devices)).run()
    assert sim.start[0] == pytest.approx(table.start, abs=1e-9)
    assert sim.end[0] == pytest.approx(table.end, abs=1e-9)
    assert sim.makespan == pytest.approx(table.makespan, abs=1e-9)


def _two_stage(m: int = 1) -> Schedule:
    lay = Layout(2, (0, 1), (0, 1), ((0, 1),), (0,) * m)
    rows = [[Action(0, Kind.F, i) for i in range(m)] + [Action(0, Kind.B, i) for i in range(m)],
            [a for i in range(m) for a in (Action(1, Kind.F, i), Action(1, Kind.B, i))]]
    return Schedule.build("hand", lay, rows)


@pytest.mark.parametrize(("chunk", "hops_paid"), [(None, 1), (float("inf"), 2)])
def test_one_message_costs_size_over_bandwidth_plus_latency(chunk, hops_paid):
    # Two GPUs on an NVSwitch node: gpu0 -> switch -> gpu1 is two identical hops. Unchunked
    # messages cut through (the size is paid once, latency per hop); chunk=inf stores and
    # forwards whole messages (the size is paid on every hop).
    topo = single_node(2, fabric="nvswitch")
    hop = topo.links[0].spec
    size = 100e6
    costs = Costs.make(2, F=1.0, B=2.0, message_bytes=size)
    res = Simulation(_two_stage(), costs, topo, SimOptions(chunking=chunk)).run()
    one_way = hops_paid * size / hop.bandwidth + 2 * hop.latency
    # device 1's F0 (action id 2) waits for the activation; device 0's B0 (id 1) for the gradient.
    assert res.start[0][2] == pytest.approx(1.0 + one_way, rel=1e-12)
    assert res.start[0][1] == pytest.approx(1.0 + one_way + 1.0 + 2.0 + one_way, rel=1e-12)


def test_blocking_send_delays_the_sender_until_arrival():
    topo = single_node(2, fabric="nvswitch")
    costs = Costs.make(2, F=1.0, B=2.0, message_bytes=1e9)
    async_res = Simulation(_two_stage(2), costs, topo, SimOptions(chunking=float("inf"))).run()
    block_res = Simulation(_two_stage(2), costs, topo, SimOptions(chunking=float("inf"), blocking_send=True)).run()
    # Device 0's second forward starts right after the first when sends are asynchronous...
    assert async_res.start[0][1] == pytest.approx(1.0)
    # ...and only after the first activation has arrived when they block.
    hop = topo.links[0].spec
    assert block_res.start[0][1] == pytest.approx(1.0 + 2 * (1e9 / hop.bandwidth + hop.latency), rel=1e-9)


def test_the_same_input_gives_the_same_trace():
    sched = Registry.default().generate("1f1b", 4, 8)
    costs = Costs.make(4, message_bytes=50e6)
    topo = cluster(2, 2, inter="eth10")
    a = Simulation(sched, costs, topo).run().trace
    b = Simulation(sched, costs, topo).run().trace
    assert a.spans == b.spans
    assert a.messages == b.messages
    assert a.memory == b.memory


@pytest.mark.parametrize(("schedule", "dp"), [("1f1b", 1), ("chimera", 2), ("zb-h1", 2)])
def test_metrics_count_messages_without_building_the_trace_and_agree_with_it(schedule, dp):
    # Message sizes with fractional bytes make the float sum depend on the order of additions.
    sched = Registry.default().generate(schedule, 4, 8)
    costs = Costs.make(sched.num_stages, F=1e-3, B=2e-3, message_bytes=3e6 + 1 / 3, param_bytes=1e8 / 3)
    res = Simulation(sched, costs, cluster(2, 8, inter="eth25"), SimOptions(dp=dp)).run()
    metrics = res.metrics()
    # Reading metrics built no trace (a sweep pays nothing for it) ...
    assert res.simulation.network.log.hops and "trace" not in vars(res.simulation)
    # ... and the counters equal what the trace says, bit for bit.
    messages = res.trace.messages
    assert "trace" in vars(res.simulation)
    assert metrics["messages"] == len(messages) > 0
    assert metrics["bytes_moved"] == sum(m.nbytes for m in messages)


def test_slow_links_never_make_the_simulation_faster_than_the_table():
    reg = Registry.default()
    for name in ("gpipe", "1f1b", "chimera"):
        sched = reg.generate(name, 4, 8)
        costs = Costs.make(sched.num_stages, F=1e-3, B=2e-3, message_bytes=8e6, param_bytes=1e8)
        table = evaluate(sched, costs)
        sim = Simulation(sched, costs, cluster(2, 2, inter="eth10")).run()
        assert sim.makespan >= table.makespan - 1e-12


def test_an_unvalidated_deadlock_is_reported_not_hung():
    # Device 0 waits for stage 1's gradient before sending its activation: a true cycle.
    lay = Layout(2, (0, 1), (0, 1), ((0, 1),), (0,))
    rows = [[Action(0, Kind.B, 0), Action(0, Kind.F, 0)], [Action(1, Kind.F, 0), Action(1, Kind.B, 0)]]
    sched = Schedule.build("bad", lay, rows)
    with pytest.raises(DeadlockError, match=r"device 0, step 0, action 0B0 waits for 1B0 from device 1"):
        Simulation(sched, Costs.make(2), free(2), SimOptions(validate=False)).run()


def test_validated_deadlock_names_both_devices():
    lay = Layout(2, (0, 1), (0, 1), ((0, 1),), (0, 0))
    # Device 1 wants microbatch 1 first, device 0 sends microbatch 0 first and then waits on B0.
    rows = [[Action(0, Kind.F, 0), Action(0, Kind.B, 0), Action(0, Kind.F, 1), Action(0, Kind.B, 1)],
            [Action(1, Kind.F, 1), Action(1, Kind.B, 1), Action(1, Kind.F, 0), Action(1, Kind.B, 0)]]
    with pytest.raises(DeadlockError) as err:
        Simulation(Schedule.build("cross", lay, rows), Costs.make(2), free(2)).run()
    text = str(err.value)
    assert "device 0, step 1, action 0B0 waits for 1B0" in text
    assert "device 1, step 0, action 1F1 waits for 0F1" in text


def test_data_parallel_allreduce_overlaps_and_costs_the_ring_time():
    # pp=2, dp=2 on a 4-GPU NVSwitch node; stage gradients of 1 GB all-reduced by a 2-ring.
    sched = Registry.default().generate("1f1b", 2, 2)
    costs = Costs.make(2, F=1.0, B=2.0, message_bytes=0.0, param_bytes=1e9)
    topo = single_node(4, fabric="nvswitch")
    res = Simulation(sched, costs, topo, SimOptions(dp=2, chunking=float("inf"))).run()
    spans = [s for s in res.trace.spans if s.kind == "allreduce"]
    assert len(spans) == 2
    hop = topo.links[0].spec
    # ring over n=2: 2(n-1) = 2 steps of S/2 each, every step crossing 2 hops (gpu->switch->gpu).
    ring = 2 * (2 * (0.5e9 / hop.bandwidth + hop.latency))
    for s in spans:
        assert s.end - s.start == pytest.approx(ring, rel=1e-9)
    assert res.makespan == pytest.approx(max(s.end for s in spans))


def test_memory_is_tracked_and_flagged():
    sched = Registry.default().generate("gpipe", 2, 4)
    costs = Costs.make(2, activation_bytes=1e9, param_bytes=1e9, optimizer_bytes=6e9, sized=True)
    res = Simulation(sched, costs, free(2), SimOptions(memory_limit=10e9)).run()
    m = res.metrics()
    # weights + gradients + optimizer = 8 GB static; GPipe stashes all 4 microbatches = 4 GB.
    assert m["peak_memory_bytes"] == [12e9, 12e9]
    assert m["over_memory_devices"] == [0, 1]


@pytest.mark.parametrize("grad_sync", ["blocking", "overlap"])
def test_replicated_parts_all_reduce_once_over_every_copy_with_data_parallelism(grad_sync):
    # Chimera p=2 with dp=2: each model part has 2 pipeline copies x 2 dp replicas = 4 copies,
    # synchronised by ONE ring over 4 GPUs (not a replica ring plus a dp ring).
    sched = generate("chimera", 2, 2)
    S = 4e8
    costs = Costs.make(sched.num_stages, F=1.0, B=2.0, message_bytes=0.0, param_bytes=S)
    topo = single_node(4, fabric="nvswitch")
    res = Simulation(sched, costs, topo, SimOptions(dp=2, chunking=float("inf"), grad_sync=grad_sync)).run()
    collectives = [s for s in res.trace.spans if s.kind == "allreduce"]
    assert not [s for s in collectives if s.track.startswith("dp:")]  # no separate dp ring
    hop = topo.links[0].spec
    n = 4
    # 2(n-1) ring steps; each moves S/n across gpu -> switch -> gpu, stored and forwarded.
    ring = 2 * (n - 1) * (2 * (S / n) / hop.bandwidth + 2 * hop.latency)
    reduces = [s for s in res.trace.spans if s.kind == "REDUCE_GRAD"]
    assert len(reduces) == 2 * sched.num_stages  # every stage in both dp replicas
    for part in range(2):
        spans = [s for s in reduces if sched.layout.stage_part[s.stage] == part]
        if grad_sync == "blocking":  # the devices wait for the collective, shared by all 4
            assert not collectives
            assert len({(s.start, s.end) for s in spans}) == 1
            assert spans[0].end - spans[0].start == pytest.approx(ring, rel=1e-9)
        else:  # the devices go on; the collective has its own lane and ends the iteration
            assert all(s.end == s.start for s in spans)
            (coll,) = [s for s in collectives if s.track == f"reduce:part{part}"]
            assert coll.start == max(s.start for s in spans)
            # Both parts' rings can run at once here, sharing the links: no faster than alone.
            assert coll.end - coll.start >= ring * (1 - 1e-9)
            assert res.makespan >= coll.end


def test_overlapped_gradient_sync_is_never_slower_on_a_free_network_and_wins_when_work_follows():
    # Chimera p=4, m=8: a device's first part is reduced while its other part still computes.
    sched = generate("chimera", 4, 8)
    costs = Costs.make(sched.num_stages, F=1.0, B=2.0, message_bytes=1e6, param_bytes=4e9)
    topo = cluster(2, 2, intra="nvlink3", inter="eth10", gpus_per_nic=2)
    got = {mode: Simulation(sched, costs, topo, SimOptions(grad_sync=mode)).run().makespan
           for mode in ("blocking", "overlap")}
    assert got["overlap"] < got["blocking"]
    for name in ("chimera", "1f1b"):
        s = generate(name, 4, 8)
        c = Costs.make(s.num_stages, F=1.0, B=2.0, message_bytes=1e6, param_bytes=1e6)
        free_runs = [Simulation(s, c, free(4), SimOptions(grad_sync=mode, dp=1)).run().makespan
                     for mode in ("blocking", "overlap")]
        assert free_runs[1] <= free_runs[0]


def test_blocking_data_parallel_sync_holds_the_device_until_its_stage_all_reduce_lands():
    sched = generate("1f1b", 2, 4)
    costs = Costs.make(2, F=1.0, B=2.0, message_bytes=1e6, param_bytes=4e9)
    topo = cluster(2, 2, intra="nvlink3", inter="eth10", gpus_per_nic=2)
    runs = {mode: Simulation(sched, costs, topo, SimOptions(dp=2, grad_sync=mode, placement=(0, 1, 2, 3))).run()
            for mode in ("blocking", "overlap")}
    # Same network traffic, same end of the last collective; blocking only holds devices.
    assert runs["blocking"].makespan == pytest.approx(runs["overlap"].makespan, rel=1e-9)
    assert runs["overlap"].compute_end < runs["overlap"].makespan
    with pytest.raises(ValueError, match=r"network\.grad_sync"):
        Simulation(sched, costs, topo, SimOptions(grad_sync="lazy"))


def test_an_infinite_message_size_is_refused_before_the_run():
    schedule = Registry.default().generate("1f1b", 2, 2)
    costs = Costs.make(2, message_bytes=[1e6, float("inf")])
    with pytest.raises(ValueError, match=r"costs.message_bytes\[1\]: inf"):
        Simulation(schedule, costs, single_node(2))


@pytest.mark.parametrize("grad_sync", ["overlap", "blocking"])
@pytest.mark.parametrize(("name", "p", "m", "options"), [("chimera", 4, 8, {}), ("chimera", 2, 4, {}),
                                                         ("dualpipe", 4, 8, {"reduce_grad": True})])
def test_free_network_reproduces_the_table_level_in_both_grad_sync_modes(name, p, m, options, grad_sync):
    # Replicated parts with an explicit reduce time: blocking holds every copy at a rendezvous
    # for it; overlap lets the devices go on and ends the iteration when the last reduce lands.
    sched = generate(name, p, m, **options)
    S = sched.num_stages
    costs = Costs.make(S, F=[1.0 + 0.1 * (s % 3) for s in range(S)], B=[2.0 + 0.05 * s for s in range(S)],
                       I=[1.1 + 0.05 * s for s in range(S)], W=[0.9 + 0.01 * s for s in range(S)],
                       message_bytes=1e6, param_bytes=1e6)
    reduce = 3.0
    table = evaluate(sched, costs, reduce_time=reduce, grad_sync=grad_sync)
    sim = Simulation(sched, costs, free(sched.num_devices), SimOptions(grad_sync=grad_sync), reduce_time=reduce).run()
    assert sim.start[0] == pytest.approx(table.start, abs=1e-9)
    assert sim.end[0] == pytest.approx(table.end, abs=1e-9)
    assert sim.makespan == pytest.approx(table.makespan, abs=1e-9)
    if grad_sync == "overlap":  # the reduce really is off the devices, and a long one ends the iteration
        assert table.makespan < evaluate(sched, costs, reduce_time=reduce, grad_sync="blocking").makespan
        # The devices never wait for a reduce, so its length moves no action; a long one ends
        # the iteration 1000 after the last copy reached its REDUCE_GRAD.
        long = evaluate(sched, costs, reduce_time=1e3, grad_sync="overlap")
        assert long.end == table.end
        last = max(long.start[g] for g, a in enumerate(long.program.actions) if a.kind is Kind.REDUCE_GRAD)
        assert long.makespan == last + 1e3
