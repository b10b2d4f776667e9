"""The SimPy link layer against hand-derived answers (docs/reference.md#link-contention).

Expected values are derived in the comments from bandwidths, sizes and latencies; none is
copied from a run. ``fifo`` answers are exact; ``fair`` answers are exact on single links and
with chunking off (the fluid max-min model), and within 1% at the default 4 MiB chunks.
"""

import math
import pickle
import re

import pytest
import simpy

from pipesim.inputs import InputError
from pipesim.netreplay import format_flows, load_flows, read_flows, replay
from pipesim.network import cluster, free, from_dict, single_node
from pipesim.network.options import DEFAULT_CHUNK_BYTES, Chunking
from pipesim.sim.collectives import ring_allreduce
from pipesim.sim.network import Network, simulate_flows
from pipesim.sim.records import TransferLog, network_trace
from pipesim.trace import Span

GB, MB = 1e9, 1e6
DEFAULT = DEFAULT_CHUNK_BYTES
EXACT = 1e-9


def graph(devices, links, switches=()):
    return from_dict({"kind": "graph", "devices": list(devices), "switches": list(switches), "links": links})


def link(a, b, bandwidth, latency="0 s", **extra):
    return {"a": a, "b": b, "bandwidth": bandwidth, "latency": latency, **extra}


ONE_LINK = graph(["a", "b"], [link("a", "b", "1 GB/s")])


# -- case 1: three transfers on one link ---------------------------------------------------------


@pytest.mark.parametrize("chunk", [DEFAULT, None, 1 * MB])
def test_case1_one_link(chunk):
    flows = [(0, 1, 100 * MB, 0.0), (0, 1, 200 * MB, 0.0), (0, 1, 300 * MB, 0.0)]
    # fair: 1/3 GB/s each until 100 MB each have gone (0.3 s); then 1/2 GB/s for B's last
    # 100 MB (0.2 s more); then C alone for its last 100 MB (0.1 s).
    assert simulate_flows(ONE_LINK, flows, policy="fair", chunking=chunk) == pytest.approx([0.3, 0.5, 0.6], abs=EXACT)
    # fifo: one after the other, in send order.
    assert simulate_flows(ONE_LINK, flows, policy="fifo", chunking=chunk) == pytest.approx([0.1, 0.3, 0.6], abs=EXACT)


# -- case 2: a late arrival ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [DEFAULT, None])
def test_case2_late_arrival(chunk):
    flows = [(0, 1, 200 * MB, 0.0), (0, 1, 100 * MB, 0.1)]
    # fair: at 0.1 s the first has 100 MB left; both then share 0.5 GB/s and end together.
    assert simulate_flows(ONE_LINK, flows, policy="fair", chunking=chunk) == pytest.approx([0.3, 0.3], abs=EXACT)
    # fifo: the first ends at 0.2 s, the second follows (0.1 s more).
    assert simulate_flows(ONE_LINK, flows, policy="fifo", chunking=chunk) == pytest.approx([0.2, 0.3], abs=EXACT)


@pytest.mark.parametrize("chunk", [DEFAULT, None])
def test_late_arrival_joins_two_active_transfers(chunk):
    flows = [(0, 1, 200 * MB, 0.0), (0, 1, 200 * MB, 0.0), (0, 1, 100 * MB, 0.1)]
    # fair: 0.5 GB/s each until 0.1 s leaves 150, 150 MB; then 1/3 GB/s each: the newcomer's
    # 100 MB take 0.3 s (ends 0.4 s) while the others drop to 50 MB, which take 0.1 s at 0.5 GB/s.
    assert simulate_flows(ONE_LINK, flows, policy="fair", chunking=chunk) == pytest.approx(
        [0.5, 0.5, 0.4], abs=EXACT)
    assert simulate_flows(ONE_LINK, flows, policy="fifo", chunking=chunk) == pytest.approx(
        [0.2, 0.4, 0.5], abs=EXACT)


# -- case 3: case 1 behind access links ----------------------------------------------------------


def _case3(access_bw: str):
    return graph(["s0", "s1", "s2", "r"],
                 [link(f"s{i}", "x", access_bw, "5 us") for i in range(3)] + [link("x", "r", "1 GB/s", "10 us")],
                 switches=["x"])


@pytest.mark.parametrize("policy", ["fair", "fifo"])
@pytest.mark.parametrize("chunk", [DEFAULT, None])
def test_case3_latencies_add_15us(policy, chunk):
    flows = [(0, 3, 100 * MB, 0.0), (1, 3, 200 * MB, 0.0), (2, 3, 300 * MB, 0.0)]
    base = [0.3, 0.5, 0.6] if policy == "fair" else [0.1, 0.3, 0.6]
    want = [t + 15e-6 for t in base]
    # Infinitely fast access links: exact for every policy and chunking.
    assert simulate_flows(_case3("inf"), flows, policy=policy, chunking=chunk) == pytest.approx(want, abs=EXACT)
    # Fast but finite (1 TB/s) access links: store-and-forward of the first chunk costs
    # 4 MiB / 1 TB/s = 4.2 us at most; cut-through (fifo, chunking off) stays exact.
    got = simulate_flows(_case3("1 TB/s"), flows, policy=policy, chunking=chunk)
    if policy == "fifo" and chunk is None:
        assert got == pytest.approx(want, abs=EXACT)
    else:
        assert got == pytest.approx(want, abs=5e-6)


# -- case 4: parking lot -------------------------------------------------------------------------

PARKING = graph(["left", "middle", "right"], [link("left", "middle", "1 GB/s"), link("middle", "right", "2 GB/s")])
PARKING_FLOWS = [(0, 1, GB, 0.0), (0, 2, GB, 0.0), (1, 2, GB, 0.0)]  # A on L1, B on L1+L2, C on L2


def test_case4_parking_lot_fair_is_max_min():
    # Max-min: A = B = 0.5 GB/s (L1), C = 2 - 0.5 = 1.5 GB/s: C ends at 1/1.5 s; then A and B
    # still share L1 and end at 2.0 s.
    want = [2.0, 2.0, 1 / 1.5]
    assert simulate_flows(PARKING, PARKING_FLOWS, policy="fair", chunking=None) == pytest.approx(want, abs=EXACT)
    assert simulate_flows(PARKING, PARKING_FLOWS, policy="fair", chunking=DEFAULT) == pytest.approx(want, rel=0.01)


def test_case4_parking_lot_fifo():
    # A (lower id) has L1 first: ends at 1.0 s. C has L2 alone: 0.5 s. B crosses L1 after A
    # (1.0 s more); with chunking off it cuts through L2 and ends with its tail at 2.0 s.
    assert simulate_flows(PARKING, PARKING_FLOWS, policy="fifo", chunking=None) == pytest.approx(
        [1.0, 2.0, 0.5], abs=EXACT)
    # With chunks, B's chunks still have to cross L2 after L1. 1 GB is 238 chunks of 4 MiB and a
    # short last one; the last full chunk leaves L1 at 2.0 - last/1 GB/s and needs 4 MiB / 2 GB/s
    # on L2, so the short chunk (which left L1 at 2.0 s) queues behind it, then crosses.
    last = GB - 238 * DEFAULT
    b_end = 2.0 - last / 1e9 + DEFAULT / 2e9 + last / 2e9
    assert simulate_flows(PARKING, PARKING_FLOWS, policy="fifo", chunking=DEFAULT) == pytest.approx(
        [1.0, b_end, 0.5], abs=EXACT)


# -- case 5: multi-hop latency -------------------------------------------------------------------

CHAIN = graph(["a", "d"], [link("a", "b", "300 GB/s", "1 us"), link("b", "c", "25 GB/s", "2 us"),
                           link("c", "d", "50 GB/s", "5 us")], switches=["b", "c"])


@pytest.mark.parametrize("policy", ["fair", "fifo"])
def test_case5_multi_hop_latency(policy):
    # Chunking off: the bottleneck (25 GB/s) sets the time, every hop adds its latency.
    want = 1 / 25 + 8e-6
    assert simulate_flows(CHAIN, [(0, 1, GB, 0.0)], policy=policy, chunking=None)[0] == pytest.approx(want, abs=EXACT)
    # Chunks (238 of 4 MiB and a short last one): the 25 GB/s hop starts when the first chunk
    # has crossed the 300 GB/s hop and then never idles; it ends at T. The last full chunk left
    # it at T - last/25 GB/s and holds the 50 GB/s hop for 4 MiB / 50 GB/s, so the short chunk
    # queues behind it before its own last/50 GB/s.
    last = GB - 238 * DEFAULT
    t = DEFAULT / 300e9 + 1 / 25
    chunked = t - last / 25e9 + DEFAULT / 50e9 + last / 50e9 + 8e-6
    got = simulate_flows(CHAIN, [(0, 1, GB, 0.0)], policy=policy, chunking=DEFAULT)[0]
    assert got == pytest.approx(chunked, abs=EXACT)
    assert got == pytest.approx(want, rel=0.01)
    # Whole messages stored and forwarded at each hop: every transmission time adds up.
    whole = 1 / 300 + 1 / 25 + 1 / 50 + 8e-6
    assert simulate_flows(CHAIN, [(0, 1, GB, 0.0)], policy=policy, chunking=math.inf)[0] == pytest.approx(
        whole, abs=EXACT)


# -- case 6: full duplex -------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["fair", "fifo"])
@pytest.mark.parametrize("chunk", [DEFAULT, None])
def test_case6_full_duplex_each_direction_gets_the_full_bandwidth(policy, chunk):
    both = [(0, 1, GB, 0.0), (1, 0, GB, 0.0)]
    assert simulate_flows(ONE_LINK, both, policy=policy, chunking=chunk) == pytest.approx([1.0, 1.0], abs=EXACT)
    # The same cable as half duplex: one direction object, so the two share it.
    half = graph(["a", "b"], [link("a", "b", "1 GB/s", duplex=False)])
    want = [2.0, 2.0] if policy == "fair" else [1.0, 2.0]
    assert simulate_flows(half, both, policy=policy, chunking=chunk) == pytest.approx(want, abs=EXACT)


# -- builders under load -------------------------------------------------------------------------


def test_a_nic_shared_by_two_gpus_halves_each_ones_rate():
    size = GB
    flows = [(0, 2, size, 0.0), (1, 3, size, 0.0)]  # n0.gpu0 -> n1.gpu0 and n0.gpu1 -> n1.gpu1
    shared, own = cluster(2, 2, gpus_per_nic=2), cluster(2, 2, gpus_per_nic=1)
    bw = 50e9  # ib-ndr, per direction
    lat = 2e-6  # ib-ndr: 1 us to the leaf, 1 us from it
    # Fluid max-min (chunking off): exactly half the NIC each, or all of their own NIC.
    assert simulate_flows(shared, flows, chunking=None) == pytest.approx([2 * size / bw + lat] * 2, abs=EXACT)
    assert simulate_flows(own, flows, chunking=None) == pytest.approx([size / bw + lat] * 2, abs=EXACT)
    # Default chunks: the same within 1%.
    assert simulate_flows(shared, flows) == pytest.approx([2 * size / bw] * 2, rel=0.01)
    assert simulate_flows(own, flows) == pytest.approx([size / bw] * 2, rel=0.01)


# -- collectives ---------------------------------------------------------------------------------


def _ring(n: int):
    pairs = [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)]
    return graph([f"r{i}" for i in range(n)], [link(f"r{a}", f"r{b}", "10 GB/s", "3 us") for a, b in pairs])


def _allreduce(topo, group, size, policy, chunk):
    env = simpy.Environment()
    net = Network(env, topo, policy=policy, chunking=chunk)
    done = ring_allreduce(net, group, size, label="test")
    env.run()
    return done.value, net


@pytest.mark.parametrize("n", [2, 3, 4, 8])
@pytest.mark.parametrize(("policy", "chunk"), [("fifo", DEFAULT), ("fifo", None), ("fair", DEFAULT), ("fair", None)])
def test_lone_ring_allreduce_time(n, policy, chunk):
    size, bw, lat = 1 * GB, 10e9, 3e-6
    (start, end), net = _allreduce(_ring(n), list(range(n)), size, policy, chunk)
    # 2(n-1) steps, each moving size/n over one link and paying its latency.
    assert start == 0.0
    assert end == pytest.approx(2 * (n - 1) / n * size / bw + 2 * (n - 1) * lat, rel=1e-12)
    assert net.messages_sent == 2 * (n - 1) * n


def test_ring_allreduce_of_one_device_completes_at_once():
    env = simpy.Environment()
    net = Network(env, free(2))
    env.run(until=3.0)
    done = ring_allreduce(net, [1], 1e9)
    assert done.triggered and done.value == (3.0, 3.0)
    with pytest.raises(ValueError, match=re.escape("names a device twice")):
        ring_allreduce(net, [0, 0], 1e9)


# -- zero time, zero bytes, overhead, occupied latency --------------------------------------------


def test_free_routes_deliver_in_zero_simulated_time():
    via_switch = graph(["a", "b"], [{"a": "a", "b": "sw", "preset": "free"}, {"a": "sw", "b": "b", "preset": "free"}],
                       switches=["sw"])
    for topo in (free(3), via_switch):
        for policy, chunk in (("fair", DEFAULT), ("fifo", DEFAULT), ("fair", None), ("fifo", None)):
            env = simpy.Environment()
            net = Network(env, topo, policy=policy, chunking=chunk)
            seen = []

            def proc(net=net, env=env, seen=seen):
                yield env.timeout(2.5)
                for src, dst in ((0, 1), (1, 1)):
                    ev = net.send(src, dst, 5 * GB)
                    assert ev.triggered  # fires at the current time
                    yield ev
                    seen.append(env.now)

            env.process(proc())
            env.run()
            assert seen == [2.5, 2.5]


def test_zero_byte_message_costs_only_latency_even_behind_a_big_transfer():
    slow = graph(["a", "b"], [link("a", "b", "1 GB/s", "1 ms")])
    for policy in ("fair", "fifo"):
        for chunk in (DEFAULT, None):
            got = simulate_flows(slow, [(0, 1, GB, 0.0), (0, 1, 0.0, 0.0)], policy=policy, chunking=chunk)
            assert got[1] == pytest.approx(1e-3, abs=EXACT)


def test_overhead_is_paid_at_the_sender_before_the_first_chunk():
    slow = graph(["a", "b"], [link("a", "b", "1 GB/s", "1 ms")])
    for chunk in (DEFAULT, None):
        # 10 us overhead + 0.1 s on the wire + 1 ms latency
        got = simulate_flows(slow, [(0, 1, 100 * MB, 0.0)], chunking=chunk, overhead=10e-6)
        assert got == pytest.approx([10e-6 + 0.1 + 1e-3], abs=EXACT)


@pytest.mark.parametrize("chunk", [DEFAULT, None])
def test_occupy_latency_holds_the_link_until_arrival(chunk):
    size, bw, lat = 100 * MB, 1e9, 0.05
    flows = [(0, 1, size, 0.0), (0, 1, size, 0.0)]
    propagate = graph(["a", "b"], [link("a", "b", "1 GB/s", "50 ms")])
    occupy = graph(["a", "b"], [link("a", "b", "1 GB/s", "50 ms", occupy_latency=True)])
    # fifo: the second message leaves after the first's last bit (latency overlaps) or after the
    # first has arrived (latency occupies the link).
    assert simulate_flows(propagate, flows, policy="fifo", chunking=chunk) == pytest.approx(
        [size / bw + lat, 2 * size / bw + lat], abs=EXACT)
    assert simulate_flows(occupy, flows, policy="fifo", chunking=chunk) == pytest.approx(
        [size / bw + lat, 2 * (size / bw + lat)], abs=EXACT)
    # fair: both share the link, including the held latency, and arrive together.
    assert simulate_flows(occupy, flows, policy="fair", chunking=chunk) == pytest.approx(
        [2 * (size / bw + lat)] * 2, abs=EXACT)


# -- the trace and the counters --------------------------------------------------------------------


def test_trace_gets_link_tracks_messages_and_one_span_per_message_per_link():
    topo = single_node(2)
    log = TransferLog()
    env = simpy.Environment()
    net = Network(env, topo, policy="fifo", chunking=DEFAULT, log=log)
    size, bw, lat = 100 * MB, 450e9, 0.5e-6
    net.send(0, 1, size, kind="act", stage=0, microbatch=3, label="x")
    net.send(0, 1, size, kind="grad", stage=1, microbatch=4)
    env.run()
    trace = network_trace(log, list(topo.devices))
    assert trace.links == ["link:" + name for name in topo.link_names]
    first, second = trace.messages
    assert (first.id, first.src, first.dst, first.nbytes, first.sent, first.kind, first.stage, first.microbatch,
            first.label) == (0, 0, 1, size, 0.0, "act", 0, 3, "x")
    assert (second.id, second.kind, second.stage, second.microbatch, second.label) == (1, "grad", 1, 4, "")
    assert second.arrived == pytest.approx(2 * size / bw + DEFAULT / bw + 2 * lat, abs=EXACT)
    spans = sorted(trace.spans, key=lambda s: (s.message, s.start))
    assert [(s.track, s.message) for s in spans] == [
        ("link:n0.gpu0->n0.nvsw", 0), ("link:n0.nvsw->n0.gpu1", 0),
        ("link:n0.gpu0->n0.nvsw", 1), ("link:n0.nvsw->n0.gpu1", 1)]
    chunk_time = DEFAULT / bw
    up0, down0, up1, down1 = spans
    assert down1.end == pytest.approx(2 * size / bw + chunk_time + lat, abs=EXACT)
    # Chunks merge into one span per link: first chunk start to last chunk end, all bytes.
    assert (up0.start, up0.end, up0.nbytes, up0.queued) == pytest.approx((0.0, size / bw, size, 0.0), abs=EXACT)
    # The second message waits for the first on the uplink.
    assert (up1.start, up1.end, up1.queued) == pytest.approx((size / bw, 2 * size / bw, size / bw), abs=EXACT)
    # Downlink: starts when the first chunk has crossed the uplink, ends one chunk after it.
    assert down0.start == pytest.approx(chunk_time + lat, abs=EXACT)
    assert down0.end == pytest.approx(size / bw + chunk_time + lat, abs=EXACT)
    assert first.arrived == pytest.approx(size / bw + chunk_time + 2 * lat, abs=EXACT)
    assert all(s.kind == "xfer" for s in spans) and (up1.stage, up1.microbatch) == (1, 4)
    stats = {row["name"]: row for row in net.link_stats()}
    up = stats["n0.gpu0->n0.nvsw"]
    assert (up["bytes"], up["transfers"]) == (2 * size, 2)
    assert up["busy_time"] == pytest.approx(2 * size / bw, abs=EXACT)
    assert up["max_queueing_delay"] == pytest.approx(size / bw, abs=EXACT)
    assert up["mean_queueing_delay"] == pytest.approx(size / bw / 2, abs=EXACT)
    assert stats["n0.gpu1->n0.nvsw"]["transfers"] == 0


def _busy_run(policy, chunk):
    topo = cluster(2, 4, inter="eth25", gpus_per_nic=2)
    log = TransferLog()
    env = simpy.Environment()
    net = Network(env, topo, policy=policy, chunking=chunk, log=log)

    def device(d):
        for k in range(6):
            net.send(d, (d + 1 + k) % 8, 30 * MB * (1 + k % 3), stage=d, microbatch=k)
            yield env.timeout(1e-3 * (1 + d % 3))
        yield ring_allreduce(net, [d, (d + 4) % 8], 50 * MB)

    for d in range(8):
        env.process(device(d))
    env.run()
    return network_trace(log, list(topo.devices)), net


@pytest.mark.parametrize(("policy", "chunk"), [("fair", DEFAULT), ("fifo", DEFAULT), ("fair", None), ("fifo", None)])
def test_the_same_input_gives_an_identical_trace(policy, chunk):
    a, net_a = _busy_run(policy, chunk)
    b, net_b = _busy_run(policy, chunk)
    assert len(a.messages) == net_a.messages_sent > 48
    assert a.spans == b.spans and a.messages == b.messages
    assert net_a.link_stats() == net_b.link_stats()
    # Every message crossed every link of its route once; links that take no time (the free
    # GPU-NIC attachments) are counted but draw no spans.
    topo = net_a.topology
    timed = [sum(not topo.directed[i].spec.is_free for i in topo.route(m.src, m.dst)) for m in a.messages]
    assert len(a.spans) == sum(timed)
    assert sum(row["transfers"] for row in net_a.link_stats()) == sum(len(topo.route(m.src, m.dst)) for m in a.messages)


def test_a_trace_pickles_and_compares_by_value():
    trace, _ = _busy_run("fifo", DEFAULT)
    copy = pickle.loads(pickle.dumps(trace))
    assert copy == trace and copy is not trace
    copy.spans.append(Span("gpu0", "F", 0.0, 1.0))
    assert copy != trace


def test_network_arguments_are_checked():
    env = simpy.Environment()
    with pytest.raises(ValueError, match=re.escape("network.policy: 'lifo' is not one of: fair, fifo")):
        Network(env, free(2), policy="lifo")
    with pytest.raises(ValueError, match=re.escape("network.chunk_bytes: '4 MiB/s' is a rate")):
        Network(env, free(2), chunking="4 MiB/s")
    net = Network(env, free(2), chunking="1 MiB")
    assert net.chunk_bytes == 2**20
    with pytest.raises(ValueError, match=re.escape("send: dst=2; devices are 0..1")):
        net.send(0, 2, 1.0)
    with pytest.raises(ValueError, match=re.escape("send: nbytes=-1.0")):
        net.send(0, 1, -1.0)


# -- replaying flow files ----------------------------------------------------------------------------


def test_flow_files_reproduce_reference_cases(request):
    root = request.config.rootpath / "scenarios" / "flows"
    case1 = load_flows(root / "case1_one_link.yaml")
    assert replay(case1) == [("A", pytest.approx(0.3, abs=EXACT)), ("B", pytest.approx(0.5, abs=EXACT)),
                             ("C", pytest.approx(0.6, abs=EXACT))]
    assert [t for _, t in replay({**case1, "policy": "fifo"})] == pytest.approx([0.1, 0.3, 0.6], abs=EXACT)
    case4 = replay(load_flows(root / "case4_parking_lot.yaml"))
    assert [name for name, _ in case4] == ["A", "B", "C"]
    assert [t for _, t in case4] == pytest.approx([2.0, 2.0, 2 / 3], abs=EXACT)
    table = format_flows(case4)
    assert table.splitlines()[0].split() == ["flow", "finish", "(s)", "finish"]
    assert "0.666666667" in table


def test_replay_accepts_names_indices_and_units_and_explains_errors():
    spec = {"topology": {"kind": "graph", "devices": ["a", "b"], "links": [link("a", "b", "8 Gb/s", "1 ms")]},
            "flows": [{"name": "x", "src": "a", "dst": 1, "bytes": "500 MB", "start": "100 ms"}],
            "policy": "fifo", "chunk_bytes": None}
    assert replay(spec) == [("x", pytest.approx(0.1 + 0.5 + 1e-3, abs=EXACT))]
    bad = [
        ({**spec, "flow": []}, "unknown key 'flow' (did you mean 'flows'?); valid keys: topology, flows"),
        ({**spec, "policy": "lifo"}, "policy: 'lifo' is not valid (did you mean 'fifo'?); valid: fair, fifo"),
        ({**spec, "flows": [{"src": "a", "dst": "c", "bytes": 1}]}, "flows[0].dst: unknown device 'c'; devices: a, b"),
        ({**spec, "flows": [{"src": "a", "dst": "b", "bytes": "1 GB/s"}]}, "flows[0].bytes: '1 GB/s' is a rate"),
        ({**spec, "flows": [{"src": "a", "dst": "b"}]}, "flows[0].bytes: missing"),
        ({**spec, "flows": [{"src": "a", "dst": "b", "bytes": 1, "at": 0}]}, "flows[0]: unknown key 'at'; valid keys: name, src"),
        ({**spec, "chunk_bytes": "-1 MB"}, "chunk_bytes: '-1 MB' is negative; expected a size >= 0 such as '32 MiB'; "
                                          "or 'auto', or null/0 for no chunking"),
        ({**spec, "topology": {"kind": "graph", "devices": ["a"], "links": [link("a", "z", "1 GB/s")]}},
         "topology.links[0].b: 'z' is not a device or switch"),
    ]
    for case, expected in bad:
        with pytest.raises(ValueError) as info:
            replay(case)
        assert expected in str(info.value)


def test_read_flows_gives_typed_values_and_located_one_line_errors(tmp_path):
    spec = {"topology": {"kind": "free", "devices": 2}, "policy": "FIFO", "chunk_bytes": "0 B",
            "flows": [{"src": 0, "dst": "gpu1", "bytes": "1 MB"}]}
    read = read_flows(spec)
    assert (read.policy, read.chunking, read.names, read.flows) == ("fifo", Chunking.FLUID, ("flow0",),
                                                                     ((0, 1, 1e6, 0.0),))
    assert replay(read) == replay(spec)
    assert read_flows({**spec, "chunk_bytes": "auto"}).chunking == Chunking.AUTO
    for case, line in [
        ({**spec, "flows": [{"src": 0, "dst": "gpu9", "bytes": 1}]},
         "flows[0].dst: unknown device 'gpu9' (did you mean 'gpu1'?); devices: gpu0, gpu1"),
        ({**spec, "flows": [{"src": 0, "dst": 1, "bytes": 1, "start": "inf"}]},
         "flows[0].start: 'inf' is infinite; expected a finite time >= 0 such as '50 ms'"),
        ({**spec, "overhead": "-1 us"}, "overhead: '-1 us' is negative; expected a finite time >= 0 such as '50 ms'"),
        ({**spec, "topology": {"kind": "free", "devices": 0}},
         "topology.num_devices: 0 is too small; expected a whole number in [1, 65,536]"),
    ]:
        with pytest.raises(InputError) as info:
            read_flows(case)
        assert str(info.value) == line
    bad = tmp_path / "list.yaml"
    bad.write_text("[1, 2]\n")
    with pytest.raises(InputError) as info:
        load_flows(bad)
    assert str(info.value) == f"{bad}: expected a mapping with keys topology, flows, policy, chunk_bytes, overhead, got list"
