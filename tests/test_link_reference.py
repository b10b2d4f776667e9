"""The link layer's documented queueing rules, checked against a slow, exact reference.

These tests pin the *rules* of ``pipesim.sim.link`` (its module doc) independently of how the
link processes implement them: a small reference written straight from the rules, in exact
rational arithmetic, on networks whose numbers are powers of two so that the float simulator is
exact too and equal-time ties really are ties (where event order could decide, and must not).

FIFO rules (module doc): hops are served in the order their first chunk reached the link (ties:
lower message id); a link never idles while some hop has a chunk there; a chunk that arrives
at the very instant the link frees is there; on the message's last timed link the chunks
present form one unit (links that take no time are not hops); a unit's chunks move on ``latency`` after its end (with ``occupy_latency`` the link
is held for the latency after the message's last chunk and hands it on at once).

Fair rules: processor sharing per link, and credits between hops (``reference_fair``).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from pipesim.network import cluster, from_dict
from pipesim.sim import network
from pipesim.sim.network import BUFFER_CHUNKS, simulate_flows

BW = 2**30  # bytes/s: a power of two keeps every time an exact binary fraction
CHUNK = 2**20
UNIT = Fraction(CHUNK, BW)  # one chunk on a BW link: 2**-10 s


def graph(devices, links, switches=()):
    return from_dict({"kind": "graph", "devices": list(devices), "switches": list(switches), "links": links})


def link(a, b, bandwidth=BW, latency=0.0, **extra):
    return {"a": a, "b": b, "bandwidth": bandwidth, "latency": latency, **extra}


# -- hand-derived ties -------------------------------------------------------------------------


def test_fifo_chunk_arriving_as_the_link_frees_keeps_its_turn():
    # A (4 chunks) streams a -> x -> r; its chunk k reaches x->r exactly when x->r finishes chunk
    # k-1 (equal bandwidths, no latency). B (1 chunk) reaches x->r at 2.5 units, mid-stream.
    # FIFO: A came first and always has its next chunk there when the link frees, so B waits
    # for all of A: A ends at 5 units, B at 6.
    topo = graph(["a", "b", "r"], [link("a", "x"), link("b", "x"), link("x", "r")], switches=["x"])
    flows = [(0, 2, 4 * CHUNK, 0.0), (1, 2, CHUNK, float(Fraction(3, 2) * UNIT))]
    got = simulate_flows(topo, flows, policy="fifo", chunking=CHUNK)
    assert got == [float(5 * UNIT), float(6 * UNIT)]
    # fair: at 2.5 A's chunk 2 has half a unit left and shares with B (half rate each): it ends at
    # 3.5 while B is half done; A's chunk 3 (here since 3) and B share until B ends at 4.5; A's
    # chunk 3 has half a unit left (ends 5) and chunk 4 follows alone (ends 6).
    got = simulate_flows(topo, flows, policy="fair", chunking=CHUNK)
    assert got == pytest.approx([float(6 * UNIT), float(Fraction(9, 2) * UNIT)], abs=1e-15)


def test_fifo_equal_time_arrivals_go_in_message_id_order_whatever_the_event_order():
    # X (id 0) a -> c holds a->x first, so M (id 1) a -> r crosses a->x from 1 to 2 units; N (id 2)
    # b -> r, twice as big, crosses b->x from 0 to 2 units. Both reach x->r at exactly 2 units;
    # N's hand-over was scheduled long before M's, so N's event runs first at that instant, and
    # still M (lower id) goes first: M ends at 3 units, N at 5.
    topo = graph(["a", "b", "r", "c"], [link("a", "x"), link("b", "x"), link("x", "r"), link("x", "c")],
                 switches=["x"])
    flows = [(0, 3, CHUNK, 0.0), (0, 2, CHUNK, 0.0), (1, 2, 2 * CHUNK, 0.0)]
    got = simulate_flows(topo, flows, policy="fifo", chunking=math.inf)
    assert got == [float(2 * UNIT), float(3 * UNIT), float(5 * UNIT)]


def test_fifo_equal_time_heads_go_in_message_id_order_when_cutting_through():
    # The same with whole messages cut through: M's head crosses a->x (latency 1/4 unit) once X
    # is done; N's head crosses b->x (latency 5/4 units) at once. Both heads reach x->r at 5/4
    # units, N's hand-over scheduled first; M still goes first. Cut through, M cannot end
    # before its tail has crossed a->x (2 + 1/4 units); N follows for 2 units.
    q = float(UNIT / 4)
    topo = graph(["a", "b", "r", "c"], [link("a", "x", latency=q), link("b", "x", latency=float(5 * UNIT / 4)),
                                        link("x", "r"), link("x", "c")], switches=["x"])
    flows = [(0, 3, CHUNK, 0.0), (0, 2, CHUNK, 0.0), (1, 2, 2 * CHUNK, 0.0)]
    got = simulate_flows(topo, flows, policy="fifo", chunking=None)
    assert got == [float(UNIT + UNIT / 4), float(2 * UNIT + UNIT / 4), float(4 * UNIT + UNIT / 4)]


# -- the reference ---------------------------------------------------------------------------------


def reference_fifo(topo, flows, chunk):
    """Finish time of every flow under the FIFO rules, in exact arithmetic.

    Time advances from instant to instant; at each one, first every unit that ends there hands
    its chunks on (arrivals at this same instant when the latency is 0), then every arrival is
    queued, then every free link picks. Picking only ever starts units that end later, so one
    pass per instant suffices.
    """
    specs = [d.spec for d in topo.directed]
    order = sorted(range(len(flows)), key=lambda i: (flows[i][3], i))  # message ids: send order
    msg_id = {i: k for k, i in enumerate(order)}
    finish: dict[int, Fraction] = {}
    arrivals: list[tuple[Fraction, int, int, int]] = []  # (time, flow, position on route, chunks)
    routes, nchunks, sizes = {}, {}, {}
    for i, (src, dst, nbytes, at) in enumerate(flows):
        route = [li for li in topo.route(src, dst) if not specs[li].is_free]
        routes[i] = route
        n = max(1, math.ceil(nbytes / chunk)) if nbytes > 0 else 1
        nchunks[i] = n
        sizes[i] = [Fraction(chunk)] * (n - 1) + [Fraction(nbytes) - (n - 1) * chunk]
        t = Fraction(at)
        if nbytes == 0 or not route:
            finish[i] = t + sum((Fraction(specs[li].latency) for li in route), Fraction(0))
        else:
            arrivals.append((t, i, 0, n))
    # per link: hops in service order, [arrival, id, flow, here, taken]; busy until; unit ends
    queue = {li: [] for li in range(len(specs))}
    free_at = {li: Fraction(-1) for li in range(len(specs))}
    ends: list[tuple[Fraction, int, int, int, int, bool]] = []  # (end, link, flow, position, chunks, final)
    while arrivals or ends:
        now = min([a[0] for a in arrivals] + [e[0] for e in ends])
        for e in [e for e in ends if e[0] == now]:
            ends.remove(e)
            _, li, i, pos, n, final = e
            route = routes[i]
            spec = specs[li]
            delay = Fraction(0) if (final and spec.occupy_latency) else Fraction(spec.latency)
            if pos + 1 < len(route):
                arrivals.append((now + delay, i, pos + 1, n))
            elif final:
                finish[i] = now + delay
        for a in sorted([a for a in arrivals if a[0] == now], key=lambda a: msg_id[a[1]]):
            arrivals.remove(a)
            _, i, pos, n = a
            li = routes[i][pos]
            hop = next((h for h in queue[li] if h[2] == i), None)
            if hop is None:
                hop = [now, msg_id[i], i, 0, 0]
                queue[li].append(hop)
                queue[li].sort(key=lambda h: (h[0], h[1]))
            hop[3] += n
        for li, hops in queue.items():
            if free_at[li] > now:
                continue
            hop = next((h for h in hops if h[3]), None)
            if hop is None:
                continue
            i = hop[2]
            route = routes[i]
            pos = route.index(li)
            merge = pos == len(route) - 1
            n = hop[3] if merge else 1
            size = sum(sizes[i][hop[4]:hop[4] + n], Fraction(0))
            hop[3] -= n
            hop[4] += n
            final = hop[4] == nchunks[i]
            spec = specs[li]
            end = now + size / Fraction(spec.bandwidth)
            if final:
                hops.remove(hop)
                if spec.occupy_latency:
                    end += Fraction(spec.latency)
            free_at[li] = end
            if pos < len(route) - 1 or final:
                ends.append((end, li, i, pos, 1 if pos < len(route) - 1 else n, final))
            else:
                ends.append((end, li, i, pos, 0, False))  # frees the link; nothing to hand on
    return [float(finish[i]) for i in range(len(flows))]


def _random_case(rng: random.Random):
    """A small switched network (every number a power of two) and a burst of flows."""
    devices = [f"d{i}" for i in range(4)]
    lat = [0.0, 2.0**-14, 2.0**-12]
    links = [link(d, "x", BW * rng.choice([1, 2]), rng.choice(lat)) for d in devices[:2]]
    links += [link("x", "y", BW * rng.choice([1, 2]), rng.choice(lat), occupy_latency=rng.random() < 0.3)]
    links += [link("y", d, BW * rng.choice([1, 2]), rng.choice(lat)) for d in devices[2:]]
    links += [link(devices[0], devices[1], BW, 0.0)]
    topo = graph(devices, links, switches=["x", "y"])
    flows = []
    for _ in range(rng.randint(2, 7)):
        src, dst = rng.sample(range(4), 2)
        nbytes = rng.choice([0, CHUNK // 4, CHUNK, 3 * CHUNK, 5 * CHUNK + CHUNK // 2])
        flows.append((src, dst, float(nbytes), float(rng.choice([0, 0, 1, 2, 3, 5]) * UNIT / 2)))
    return topo, flows


def _random_cluster_case(rng: random.Random):
    """Two nodes of NVSwitch-attached GPUs behind shared NICs (free attachments, equal-speed
    hops in a row: the pattern of real clusters, where a chunk often reaches the next link at
    the very instant that link frees)."""
    topo = cluster(2, rng.choice([2, 4]), intra={"bandwidth": 4 * BW, "latency": rng.choice([0.0, 2.0**-14])},
                   inter={"bandwidth": BW, "latency": rng.choice([0.0, 2.0**-13]), "occupy_latency": rng.random() < 0.3},
                   gpus_per_nic=2)
    n = len(topo.devices)
    flows = []
    for _ in range(rng.randint(2, 9)):
        src, dst = rng.sample(range(n), 2)
        nbytes = rng.choice([0, CHUNK // 4, CHUNK, 3 * CHUNK, 5 * CHUNK + CHUNK // 2])
        flows.append((src, dst, float(nbytes), float(rng.choice([0, 0, 1, 2, 3, 5]) * UNIT / 2)))
    return topo, flows


CASES = [pytest.param(_random_case, seed, id=f"switches-{seed}") for seed in range(30)] + [
    pytest.param(_random_cluster_case, seed, id=f"cluster-{seed}") for seed in range(30)]


@pytest.mark.parametrize(("make", "seed"), CASES)
def test_fifo_matches_the_reference(make, seed):
    topo, flows = make(random.Random(seed))
    want = reference_fifo(topo, flows, CHUNK)
    assert simulate_flows(topo, flows, policy="fifo", chunking=CHUNK) == pytest.approx(want, abs=1e-15)


def reference_fair(topo, flows, chunk, buffer_chunks=BUFFER_CHUNKS):
    """Finish time of every flow under processor sharing with credits, in exact arithmetic: each
    link splits its bandwidth equally among the hops with a chunk on it (one chunk per hop at a
    time; a hop's next chunk, if there, starts the moment the previous one ends), and a hop that
    is not its message's last may start a chunk only while fewer than ``buffer_chunks`` plus
    ceil(latency x bandwidth / chunk) of its chunks have been started here and not yet finished
    on the next hop (credits). One chunk at a time everywhere: serving a last hop's chunks as
    one unit must give the same times.
    """
    specs = [d.spec for d in topo.directed]
    order = sorted(range(len(flows)), key=lambda i: (flows[i][3], i))
    msg_id = {i: k for k, i in enumerate(order)}
    finish: dict[int, Fraction] = {}
    arrivals: list[tuple[Fraction, int, int]] = []  # (time, flow, position on route): one chunk
    routes, sizes = {}, {}
    for i, (src, dst, nbytes, at) in enumerate(flows):
        route = [li for li in topo.route(src, dst) if not specs[li].is_free]
        routes[i] = route
        n = max(1, math.ceil(nbytes / chunk)) if nbytes > 0 else 1
        sizes[i] = [Fraction(chunk)] * (n - 1) + [Fraction(nbytes) - (n - 1) * chunk]
        t = Fraction(at)
        if nbytes == 0 or not route:
            finish[i] = t + sum((Fraction(specs[li].latency) for li in route), Fraction(0))
        else:
            arrivals.extend((t, i, 0) for _ in range(n))
    # per (link, flow): chunks waiting, chunks done; per link: {flow: [remaining work, chunk index]}
    waiting: dict[tuple[int, int], int] = {}
    served: dict[tuple[int, int], int] = {}
    active: dict[int, dict[int, list]] = {li: {} for li in range(len(specs))}

    def cap(li):
        spec = specs[li]
        return buffer_chunks + math.ceil(Fraction(spec.latency) * Fraction(spec.bandwidth) / chunk)

    def credit(li, i):
        # May hop (li, i) start its next chunk? Its last hop always may.
        pos = routes[i].index(li)
        if pos + 1 == len(routes[i]):
            return True
        return served.get((li, i), 0) - served.get((routes[i][pos + 1], i), 0) < cap(li)

    def start(li, i):
        k = served.get((li, i), 0)
        work = sizes[i][k]
        if k == len(sizes[i]) - 1 and specs[li].occupy_latency:
            work += Fraction(specs[li].latency) * Fraction(specs[li].bandwidth)
        active[li][i] = [work, k]

    now = Fraction(0)
    while arrivals or any(active.values()):
        step = min([a[0] - now for a in arrivals] + [u[0] * len(units) / Fraction(specs[li].bandwidth)
                                                     for li, units in active.items() for u in units.values()])
        now += step
        for li, units in active.items():
            if units:
                share = step * Fraction(specs[li].bandwidth) / len(units)
                for u in units.values():
                    u[0] -= share
        for li, units in active.items():
            for i in sorted(i for i, u in units.items() if u[0] == 0):
                _, k = units.pop(i)
                served[(li, i)] = k + 1
                final = k == len(sizes[i]) - 1
                spec = specs[li]
                delay = Fraction(0) if (final and spec.occupy_latency) else Fraction(spec.latency)
                pos = routes[i].index(li)
                if pos + 1 < len(routes[i]):
                    arrivals.append((now + delay, i, pos + 1))
                elif final:
                    finish[i] = now + delay
                if waiting.get((li, i)) and credit(li, i):
                    waiting[(li, i)] -= 1
                    start(li, i)
                if pos > 0:  # a slot freed here: the previous hop may have been waiting for it
                    up = routes[i][pos - 1]
                    if i not in active[up] and waiting.get((up, i)) and credit(up, i):
                        waiting[(up, i)] -= 1
                        start(up, i)
        for a in sorted([a for a in arrivals if a[0] == now], key=lambda a: msg_id[a[1]]):
            arrivals.remove(a)
            _, i, pos = a
            li = routes[i][pos]
            if i in active[li] or not credit(li, i):
                waiting[(li, i)] = waiting.get((li, i), 0) + 1
            else:
                start(li, i)
    return [float(finish[i]) for i in range(len(flows))]


@pytest.mark.parametrize("buffer_chunks", [BUFFER_CHUNKS, 1])
@pytest.mark.parametrize(("make", "seed"), CASES)
def test_fair_matches_the_reference(make, seed, buffer_chunks, monkeypatch):
    # The default buffer rarely binds on these small flows; one chunk binds in most cases.
    monkeypatch.setattr(network, "BUFFER_CHUNKS", buffer_chunks)
    topo, flows = make(random.Random(seed))
    want = reference_fair(topo, flows, CHUNK, buffer_chunks)
    assert simulate_flows(topo, flows, policy="fair", chunking=CHUNK) == pytest.approx(want, rel=1e-12, abs=1e-15)
