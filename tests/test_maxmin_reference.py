"""The default sharing model against an exact, independent max-min fair solver.

The reference is written straight from the definition, in rational arithmetic: between two
events (a flow arriving or draining) every active flow has its max-min fair rate, computed by
progressive filling over all links; a flow arrives when it has drained plus the latencies of
its route. It shares nothing with ``pipesim.sim.maxmin`` but the routes (``Topology.route``).

Topologies are random: two-level trees (GPUs -> node switch -> core switch), leaf-spine fabrics
with oversubscribed uplinks, and rings; flows are staggered and of mixed sizes.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
import simpy

from pipesim.costs import Costs
from pipesim.network import Topology, cluster, from_dict
from pipesim.network.options import Chunking
from pipesim.plan import generate
from pipesim.sim.engine import SimOptions, Simulation
from pipesim.sim.maxmin import MaxMinLink
from pipesim.sim.network import Network, simulate_flows

GB = 10**9
MiB = 2**20


def reference(topo: Topology, flows: list[tuple[int, int, float, float]]) -> list[float]:
    """Exact max-min fair finish times of ``flows`` (src, dst, bytes, start) on ``topo``."""
    specs = [d.spec for d in topo.directed]
    routes = []
    for src, dst, _, _ in flows:
        path = [i for i in topo.route(src, dst) if not math.isinf(specs[i].bandwidth)]
        routes.append(path)
    latency = [sum(Fraction(specs[i].latency) for i in topo.route(s, d)) for s, d, _, _ in flows]
    remaining = {i: Fraction(b) for i, (_, _, b, _) in enumerate(flows)}
    starts = sorted(range(len(flows)), key=lambda i: flows[i][3])
    finish: dict[int, Fraction] = {}
    active: list[int] = []
    now = Fraction(0)
    k = 0
    while k < len(starts) or active:
        while k < len(starts) and Fraction(flows[starts[k]][3]) <= now:
            i = starts[k]
            k += 1
            if remaining[i] == 0 or not routes[i]:
                finish[i] = now
            else:
                active.append(i)
        rate = _fair_rates(active, routes, specs)
        nxt = Fraction(flows[starts[k]][3]) if k < len(starts) else None
        drain = min((now + remaining[i] / rate[i] for i in active), default=None)
        t = min(x for x in (nxt, drain) if x is not None)
        for i in active:
            remaining[i] -= rate[i] * (t - now)
        now = t
        for i in [i for i in active if remaining[i] == 0]:
            finish[i] = now
            active.remove(i)
    return [float(finish[i] + latency[i]) for i in range(len(flows))]


def _fair_rates(active: list[int], routes: list[list[int]], specs: list) -> dict[int, Fraction]:
    cap = {link: Fraction(specs[link].bandwidth) for i in active for link in routes[i]}
    rate: dict[int, Fraction] = {}
    level = Fraction(0)
    while len(rate) < len(active):
        users = {link: [i for i in active if link in routes[i] and i not in rate] for link in cap}
        # Raise every unfrozen flow by the same amount until some link is full.
        step = min((cap[link] - sum(rate.get(i, level) for i in active if link in routes[i])) / len(u)
                   for link, u in users.items() if u)
        level += step
        full = [link for link, u in users.items() if u
                and sum(rate.get(i, level) for i in active if link in routes[i]) == cap[link]]
        for link in full:
            for i in users[link]:
                rate.setdefault(i, level)
    return rate


def graph(devices, switches, links) -> Topology:
    return from_dict({"kind": "graph", "devices": devices, "switches": switches, "links": links})


def tree(rng: random.Random) -> Topology:
    nodes, gpus = rng.randint(2, 4), rng.randint(2, 4)
    devices = [f"n{n}g{g}" for n in range(nodes) for g in range(gpus)]
    links = [{"a": f"n{n}g{g}", "b": f"sw{n}", "bandwidth": rng.choice([8, 16, 32]) * GB, "latency": 1e-6}
             for n in range(nodes) for g in range(gpus)]
    links += [{"a": f"sw{n}", "b": "core", "bandwidth": rng.choice([2, 4, 8]) * GB, "latency": 5e-6}
              for n in range(nodes)]
    return graph(devices, [f"sw{n}" for n in range(nodes)] + ["core"], links)


def leaf_spine(rng: random.Random) -> Topology:
    # One spine: every leaf's uplink is oversubscribed (hosts x host rate > uplink).
    leaves, hosts = rng.randint(2, 4), rng.randint(2, 4)
    devices = [f"l{n}h{h}" for n in range(leaves) for h in range(hosts)]
    host_bw = rng.choice([10, 25]) * GB
    links = [{"a": f"l{n}h{h}", "b": f"leaf{n}", "bandwidth": host_bw, "latency": 1e-6}
             for n in range(leaves) for h in range(hosts)]
    over = rng.choice([2, 3, 4])
    links += [{"a": f"leaf{n}", "b": "spine", "bandwidth": hosts * host_bw // over, "latency": 2e-6}
              for n in range(leaves)]
    return graph(devices, [f"leaf{n}" for n in range(leaves)] + ["spine"], links)


def ring(rng: random.Random) -> Topology:
    n = rng.randint(4, 7)
    devices = [f"d{i}" for i in range(n)]
    links = [{"a": f"d{i}", "b": f"d{(i + 1) % n}", "bandwidth": rng.choice([4, 8, 12]) * GB,
              "latency": rng.choice([0.0, 1e-6, 1e-5])} for i in range(n)]
    return graph(devices, [], links)


def random_flows(rng: random.Random, topo: Topology, count: int) -> list[tuple[int, int, float, float]]:
    n = topo.num_devices
    out = []
    for _ in range(count):
        src, dst = rng.sample(range(n), 2)
        out.append((src, dst, float(rng.randint(64, 512) * MiB), rng.choice([0.0, 0.0, rng.uniform(0, 0.2)])))
    return out


CASES = [(make, seed) for make in (tree, leaf_spine, ring) for seed in range(8)]


@pytest.mark.parametrize(("make", "seed"), CASES, ids=[f"{m.__name__}-{s}" for m, s in CASES])
def test_default_model_is_max_min_fair_on_random_topologies(make, seed):
    rng = random.Random(seed)
    topo = make(rng)
    flows = random_flows(rng, topo, rng.randint(4, 12))
    want = reference(topo, flows)
    # The fluid limit is exact; the default settings (chunking auto) are the same model.
    assert simulate_flows(topo, flows, chunking=None) == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert simulate_flows(topo, flows) == pytest.approx(want, rel=0.01)


def test_every_link_direction_with_traffic_is_a_process_owning_its_flows():
    rng = random.Random(3)
    topo = tree(rng)
    env = simpy.Environment()
    net = Network(env, topo)
    assert net.chunking == Chunking.AUTO
    flows = random_flows(rng, topo, 10)
    seen: dict[int, int] = {}

    def watch():  # type: ignore[no-untyped-def]
        # Sample every link's queue while the flows run: the flows on a link are its own.
        while True:
            yield env.timeout(1e-3)
            for link in net.links:
                if isinstance(link, MaxMinLink) and link.flows:
                    seen[link.index] = max(seen.get(link.index, 0), len(link.flows))
            if net.delivered == len(flows):
                return

    for src, dst, nbytes, _ in flows:
        net.send(src, dst, nbytes)
    env.process(watch())
    env.run()
    used = [link for link in net.links if link.bytes > 0 and not math.isinf(link.bandwidth)]
    assert used and all(isinstance(link, MaxMinLink) for link in used)
    assert all(isinstance(link.process, simpy.Process) for link in used)  # type: ignore[attr-defined]
    assert {link.index for link in used} == set(seen)
    assert max(seen.values()) > 1  # some links really were shared


def test_latency_is_paid_once_per_hop_not_per_chunk():
    # Three hops of 10 GB/s, 1 us each: 1 GB arrives at 0.1 s + 3 us (cut-through), whatever
    # the chunking the default stands for.
    topo = graph(["a", "b"], ["x", "y"], [{"a": "a", "b": "x", "bandwidth": 10 * GB, "latency": 1e-6},
                                          {"a": "x", "b": "y", "bandwidth": 10 * GB, "latency": 1e-6},
                                          {"a": "y", "b": "b", "bandwidth": 10 * GB, "latency": 1e-6}])
    assert simulate_flows(topo, [(0, 1, float(GB), 0.0)]) == pytest.approx([0.1 + 3e-6], abs=1e-12)


def test_flows_that_drain_together_and_empty_a_link_leave_the_rest_consistent():
    # A (a -> c over L1 and L2) and B (a' -> b over L1) drain at the same instant; C (b -> c over
    # L2) goes on. Ending A leaves L1 with B; ending B empties it; only L2 is recomputed.
    topo = graph(["a", "a2", "b", "c"], ["x", "y"], [
        {"a": "a", "b": "x", "bandwidth": 1e12}, {"a": "a2", "b": "x", "bandwidth": 1e12},
        {"a": "x", "b": "y", "bandwidth": 2 * GB}, {"a": "b", "b": "y", "bandwidth": 1e12},
        {"a": "y", "b": "c", "bandwidth": 10 * GB}])
    flows = [(0, 3, float(GB), 0.0), (1, 2, float(GB), 0.0), (2, 3, 20.0 * GB, 0.0)]
    assert simulate_flows(topo, flows) == pytest.approx(reference(topo, flows), rel=1e-9)


def _worst_error(got: list[float], want: list[float]) -> float:
    return max(abs(g - w) / w for g, w in zip(got, want, strict=True))


CHUNKS = (4 * MiB, MiB, MiB // 4)


@pytest.mark.parametrize(("make", "seed"), CASES, ids=[f"{m.__name__}-{s}" for m, s in CASES])
def test_packet_mode_converges_to_max_min_as_chunks_shrink(make, seed):
    # Fixed chunks under ``fair`` are pipelined hop by hop on credits: a hop held back
    # downstream stops taking bandwidth upstream. What is left of the packet model -- one chunk
    # time per hop, sharing decided a chunk at a time -- shrinks with the chunk: the worst
    # finish-time error never grows as the chunk shrinks and is small at 256 KiB (at most 1.4%
    # on these cases; without credits it stays near 100% on some trees whatever the chunk).
    rng = random.Random(seed)
    topo = make(rng)
    flows = random_flows(rng, topo, rng.randint(4, 12))
    want = reference(topo, flows)
    errors = [_worst_error(simulate_flows(topo, flows, chunking=c), want) for c in CHUNKS]
    assert errors[0] >= errors[1] >= errors[2], errors
    assert errors[2] <= 0.02, errors


def test_a_flow_held_back_downstream_leaves_its_upstream_share_to_others():
    # A crosses L1 (10 GB/s) then L2 (1 GB/s); B crosses L1 only. Max-min: A 1 GB/s, B 9 GB/s,
    # so B's 9 GB end at 1 s. Per-link sharing without credits would give B half of L1 (5 GB/s)
    # for as long as A's chunks pile up before L2.
    topo = graph(["a", "b", "c"], ["x"], [{"a": "a", "b": "x", "bandwidth": 10 * GB},
                                          {"a": "x", "b": "b", "bandwidth": 10 * GB},
                                          {"a": "x", "b": "c", "bandwidth": GB}])
    flows = [(0, 2, 4.0 * GB, 0.0), (0, 1, 9.0 * GB, 0.0)]
    want = reference(topo, flows)
    assert want == pytest.approx([4.0, 1.0])
    for chunk, tol in ((4 * MiB, 0.01), (MiB // 4, 0.001)):
        assert simulate_flows(topo, flows, chunking=chunk) == pytest.approx(want, rel=tol)


@pytest.mark.parametrize("name", ["1f1b", "chimera", "zb-v"])
def test_a_pipeline_in_packet_mode_converges_to_the_max_min_model(name):
    # The same convergence through the whole simulation: pipeline messages and Chimera's
    # all-reduces on NVLink and a shared 25 GbE NIC. The makespan's excess over the max-min
    # model shrinks with the chunk (about 4x per 4x) and is under 1% at 256 KiB.
    sched = generate(name, 4, 8)
    costs = Costs.make(sched.num_stages, F=5e-3, B=10e-3, message_bytes=32e6, param_bytes=64e6)
    topo = cluster(2, 2, intra="nvlink3", inter="eth25", gpus_per_nic=2)
    fluid = Simulation(sched, costs, topo, SimOptions(chunking=None)).run().makespan
    errors = [abs(Simulation(sched, costs, topo, SimOptions(chunking=c)).run().makespan - fluid) / fluid
              for c in CHUNKS]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.01, errors
