"""The network model as data: presets, builders, routing and their error messages."""

import math
import re

import pytest

from pipesim.inputs import InputError
from pipesim.network import (
    PRESETS,
    LinkSpec,
    PhysicalLink,
    Topology,
    build_topology,
    cluster,
    describe_topology,
    free,
    from_dict,
    internet,
    link_preset,
    single_node,
    wan_chain,
)


def names(topo: Topology, route: tuple[int, ...]) -> list[str]:
    return [topo.directed[i].name for i in route]


# -- presets ------------------------------------------------------------------------------------


def test_presets_carry_the_reference_numbers_per_direction():
    # docs/reference.md#interconnects: GB/s are bytes, Gb/s and Mb/s bits.
    assert PRESETS["nvlink3"].bandwidth == 300e9 and PRESETS["nvlink3"].latency == 1.5e-6
    assert PRESETS["nvlink4"].bandwidth == 450e9 and PRESETS["nvlink4"].latency == 1e-6
    assert PRESETS["pcie4"].bandwidth == 31.5e9
    assert PRESETS["pcie5"].bandwidth == 63e9
    assert PRESETS["ib-hdr"].bandwidth == 200e9 / 8
    assert PRESETS["ib-ndr"].bandwidth == 400e9 / 8 and PRESETS["ib-ndr"].latency == 2e-6
    assert [PRESETS[k].bandwidth for k in ("eth10", "eth25", "eth100")] == [1.25e9, 3.125e9, 12.5e9]
    assert PRESETS["wan"].bandwidth == 200e6 / 8 and PRESETS["wan"].latency == 0.05
    assert PRESETS["free"].is_free and not PRESETS["wan"].is_free


def test_presets_are_immutable_and_overridable_with_unit_strings():
    with pytest.raises(TypeError):
        PRESETS["mine"] = PRESETS["wan"]  # type: ignore[index]
    spec = link_preset("IB_NDR", latency="5 us", bandwidth="200 Gb/s", occupy_latency=True)
    assert spec.latency == pytest.approx(5e-6) and spec.bandwidth == 25e9 and spec.occupy_latency
    assert PRESETS["ib-ndr"].latency == 2e-6  # the preset itself is untouched


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: link_preset("nvlink9"), "unknown link preset 'nvlink9' (did you mean 'nvlink4'?); known: nvlink3, nvlink4"),
        (lambda: link_preset("wan", speed="1 Gb/s"), "unknown link override 'speed'; valid: bandwidth"),
        (lambda: link_preset("wan", bandwidth="40 GB"), "bandwidth: '40 GB' is a size, expected a rate such as '40 GB/s'"),
        (lambda: LinkSpec(bandwidth=0.0), "bandwidth 0.0 must be a positive rate"),
        (lambda: LinkSpec(bandwidth=1e9, latency=-1.0), "latency -1.0 must be a finite time >= 0"),
        (lambda: LinkSpec(bandwidth=math.inf, occupy_latency=True), "occupy_latency needs a finite bandwidth"),
    ],
)
def test_link_errors_say_what_is_valid(call, expected):
    with pytest.raises(ValueError) as info:
        call()
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


# -- routing ------------------------------------------------------------------------------------


def _diamond(lat1: str, lat2: str) -> Topology:
    # a -> s1 -> b and a -> s2 -> b: two 2-hop paths; a -> s3 -> s4 -> b: a 3-hop path with no latency.
    link = lambda a, b, lat: {"a": a, "b": b, "bandwidth": "1 GB/s", "latency": lat}  # noqa: E731
    return from_dict({
        "devices": ["a", "b"], "switches": ["s2", "s1", "s3", "s4"],
        "links": [link("a", "s2", lat2), link("s2", "b", lat2), link("a", "s1", lat1), link("s1", "b", lat1),
                  link("a", "s3", "0 s"), link("s3", "s4", "0 s"), link("s4", "b", "0 s")],
    })


def test_route_prefers_fewest_hops_then_lowest_latency_then_node_names():
    slow_s1 = _diamond("5 us", "1 us")
    assert names(slow_s1, slow_s1.route(0, 1)) == ["a->s2", "s2->b"]  # lower latency wins
    tie = _diamond("1 us", "1 us")
    assert names(tie, tie.route(0, 1)) == ["a->s1", "s1->b"]  # equal latency: 's1' < 's2'
    assert names(tie, tie.route(1, 0)) == ["b->s1", "s1->a"]
    # The zero-latency 3-hop path never wins: hops come first.
    assert all(len(t.route(0, 1)) == 2 for t in (slow_s1, tie))


def test_routes_are_deterministic_cached_and_empty_for_the_same_device():
    a, b = cluster(3, 4, nodes_per_leaf=2), cluster(3, 4, nodes_per_leaf=2)
    assert a == b
    for s in range(12):
        for d in range(12):
            assert a.route(s, d) == b.route(s, d)
    assert a.route(0, 11) is a.route(0, 11)  # cached inside the object
    assert a.route(5, 5) == ()
    with pytest.raises(ValueError, match=re.escape("dst_device=12; devices are 0..11")):
        a.route(0, 12)


def test_half_duplex_link_is_one_direction_object_shared_both_ways():
    topo = from_dict({"devices": ["a", "b"], "links": [{"a": "a", "b": "b", "preset": "eth10", "duplex": False}]})
    assert topo.link_names == ("a<->b",)
    assert topo.route(0, 1) == topo.route(1, 0) == (0,)
    full = from_dict({"devices": ["a", "b"], "links": [{"a": "a", "b": "b", "preset": "eth10"}]})
    assert full.link_names == ("a->b", "b->a") and full.route(1, 0) == (1,)


# -- builders -----------------------------------------------------------------------------------


def test_single_node_nvswitch_has_stable_link_names_and_splits_the_latency():
    topo = single_node(2)
    assert topo.devices == ("n0.gpu0", "n0.gpu1")
    assert topo.link_names == ("n0.gpu0->n0.nvsw", "n0.nvsw->n0.gpu0", "n0.gpu1->n0.nvsw", "n0.nvsw->n0.gpu1")
    assert names(topo, topo.route(0, 1)) == ["n0.gpu0->n0.nvsw", "n0.nvsw->n0.gpu1"]
    # GPU -> switch -> GPU adds up to the preset's one-way latency.
    assert sum(topo.directed[i].spec.latency for i in topo.route(0, 1)) == pytest.approx(PRESETS["nvlink4"].latency)
    assert single_node(4, "pcie-switch").directed[0].spec.bandwidth == PRESETS["pcie4"].bandwidth


def test_pcie_host_sends_every_copy_through_one_host_link():
    topo = single_node(4, fabric="pcie-host")
    host = topo.link_names.index("n0.cpu->n0.mem")
    for s in range(4):
        for d in range(4):
            if s != d:
                assert topo.route(s, d)[1] == host
                assert len(topo.route(s, d)) == 3


def test_cluster_shares_nics_and_keeps_intra_node_traffic_on_the_nvswitch():
    topo = cluster(2, 4, gpus_per_nic=2)
    gpu = {name: i for i, name in enumerate(topo.devices)}
    assert names(topo, topo.route(gpu["n0.gpu0"], gpu["n0.gpu1"])) == ["n0.gpu0->n0.nvsw", "n0.nvsw->n0.gpu1"]
    r0 = names(topo, topo.route(gpu["n0.gpu0"], gpu["n1.gpu0"]))
    r1 = names(topo, topo.route(gpu["n0.gpu1"], gpu["n1.gpu1"]))
    r2 = names(topo, topo.route(gpu["n0.gpu2"], gpu["n1.gpu2"]))
    assert r0 == ["n0.gpu0->n0.nic0.tx", "n0.nic0.tx->leaf0", "leaf0->n1.nic0.rx", "n1.nic0.rx->n1.gpu0"]
    assert r0[1:3] == r1[1:3]  # gpu0 and gpu1 share NIC 0
    assert r2[1:3] == ["n0.nic1.tx->leaf0", "leaf0->n1.nic1.rx"]


def test_cluster_leaf_spine_uplinks_are_reduced_by_oversubscription():
    topo = cluster(3, 4, inter="ib-hdr", gpus_per_nic=2, nodes_per_leaf=2, oversubscription=2.0)
    up = {d.name: d.spec.bandwidth for d in topo.directed if "spine" in d.name}
    # leaf0: 2 nodes x 2 NICs x 25 GB/s / 2 = 50 GB/s; leaf1 holds one node: 25 GB/s.
    assert up == {"leaf0->spine": 50e9, "spine->leaf0": 50e9, "leaf1->spine": 25e9, "spine->leaf1": 25e9}
    assert len(topo.route(0, 11)) == 6
    assert not any("spine" in n for n in cluster(3, 4, nodes_per_leaf=3).link_names)  # one leaf: no spine


def test_internet_access_links_are_asymmetric():
    topo = internet(3, up="100 Mb/s", down="1 Gb/s", latency="20 ms")
    up, down = topo.directed[0], topo.directed[1]
    assert (up.name, up.spec.bandwidth) == ("h0->core", 12.5e6)
    assert (down.name, down.spec.bandwidth) == ("core->h0", 125e6)
    assert sum(topo.directed[i].spec.latency for i in topo.route(0, 2)) == pytest.approx(0.04)
    cored = internet(3, core="1 Gb/s")
    assert "core.in->core.out" in names(cored, cored.route(0, 1))


def test_wan_chain_and_free():
    chain = wan_chain(4)
    assert names(chain, chain.route(0, 3)) == ["h0->h1", "h1->h2", "h2->h3"]
    mesh = free(4)
    assert len(mesh.directed) == 12
    assert all(len(mesh.route(s, d)) == 1 for s in range(4) for d in range(4) if s != d)
    assert all(d.spec.is_free for d in mesh.directed)


def test_build_topology_dispatches_and_accepts_short_names():
    assert build_topology({"kind": "single_node", "gpus": 2}) == single_node(2)
    assert build_topology({"kind": "cluster", "num_nodes": 2, "gpus_per_node": 2, "inter": "eth25"}) == cluster(
        2, 2, inter="eth25")
    sym = build_topology({"kind": "internet", "hosts": 2, "bandwidth": "200 Mb/s", "latency": "25 ms"})
    assert {d.spec.bandwidth for d in sym.directed} == {25e6}
    assert build_topology({"kind": "free", "num_devices": 3}) == free(3)
    assert build_topology({"kind": "wan_chain", "num_hosts": 3, "link": {"preset": "wan", "latency": "10 ms"}}) \
        .directed[0].spec.latency == pytest.approx(0.01)


def test_from_dict_reads_units_presets_reverse_and_occupy():
    topo = from_dict({
        "kind": "graph", "devices": ["a", "b"], "switches": ["sw"],
        "links": [{"a": "a", "b": "sw", "bandwidth": "25 GB/s", "latency": "2 us", "occupy_latency": True},
                  {"a": "sw", "b": "b", "preset": "ib-ndr", "reverse": {"bandwidth": "1 GB/s"}}],
    })
    a_sw, sw_a, sw_b, b_sw = topo.directed
    assert (a_sw.spec.bandwidth, a_sw.spec.latency, a_sw.spec.occupy_latency) == (25e9, 2e-6, True)
    assert sw_a.spec == a_sw.spec
    assert (sw_b.spec.bandwidth, b_sw.spec.bandwidth, b_sw.spec.latency) == (50e9, 1e9, 0.0)


GRAPH = {"kind": "graph", "devices": ["a", "b"], "switches": ["sw"]}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: single_node(0), "single_node.num_gpus: 0 is too small; expected a whole number in [1, 65,536]"),
        (lambda: single_node(2, fabric="nvlink"), "single_node.fabric: 'nvlink' is not valid; valid: nvswitch, pcie-switch, pcie-host"),
        (lambda: single_node(2, link="nvswitch-h100"), "single_node.link: unknown link preset 'nvswitch-h100'; known: nvlink3"),
        (lambda: cluster(2, 8, gpus_per_nic=3), "cluster.gpus_per_nic: 3 does not divide gpus_per_node=8; valid: 1, 2, 4, 8"),
        (lambda: cluster(2, 8, oversubscription=0), "cluster.oversubscription: 0 is out of range; expected a number within (0, inf)"),
        (lambda: cluster(2, 8, nodes_per_leaf=0), "cluster.nodes_per_leaf: 0 is too small; expected a whole number >= 1"),
        (lambda: cluster(2, 8, inter={"bandwidth": "40 GB"}), "cluster.inter.bandwidth: '40 GB' is a size, expected a rate such as '40 GB/s'"),
        (lambda: internet(4, up="100 MB"), "internet.up: '100 MB' is a size, expected a rate such as '100 MB/s'"),
        (lambda: internet(4, latency="5"), ""),  # plain numbers are SI seconds: accepted
        (lambda: wan_chain(1.5), "wan_chain.num_hosts: 1.5 is not a whole number; expected a whole number in [1, 65,536]"),
        (lambda: free(True), "free.num_devices: True is not a whole number; expected a whole number in [1, 65,536]"),
        (lambda: build_topology({"num_gpus": 2}), "topology.kind: missing; expected one of: single_node, cluster"),
        (lambda: build_topology({"kind": "torus"}), "topology.kind: unknown topology kind 'torus'; known: single_node"),
        (lambda: build_topology({"kind": "cluster", "num_nodes": 2}), "topology.gpus_per_node: missing; kind 'cluster' needs num_nodes, gpus_per_node"),
        (lambda: build_topology({"kind": "cluster", "num_nodes": 0, "gpus_per_node": 2}), "topology.num_nodes: 0 is too small; expected a whole number in [1, 65,536]"),
        (lambda: build_topology({"kind": "cluster", "nodes": 2, "gpus_per_node": 2, "gpu_per_nic": 2}),
         "topology: unknown key 'gpu_per_nic' for kind 'cluster' (did you mean 'gpus_per_nic'?); valid keys: num_nodes, "
         "gpus_per_node, intra, inter, gpus_per_nic"),
        (lambda: build_topology({"kind": "single_node", "gpus": 2, "num_gpus": 2}), "topology.num_gpus: given twice"),
        (lambda: build_topology({"kind": "internet", "hosts": 2, "bandwidth": "1 Gb/s", "up": "1 Gb/s"}),
         "topology.bandwidth: give either bandwidth or up/down"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw", "bandwidth": "25 GB/s"},
                                                    {"a": "sw", "b": "b", "preset": "ib-ndr"},
                                                    {"a": "a", "b": "b", "bandwidth": "40 GB"}]}),
         "topology.links[2].bandwidth: '40 GB' is a size, expected a rate such as '40 GB/s'"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw9", "bandwidth": "1 GB/s"}]}),
         "topology.links[0].b: 'sw9' is not a device or switch (did you mean 'sw'?); known: a, b, sw"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw", "bandwidth": "1 GB/s", "speed": 1}]}),
         "topology.links[0]: unknown key 'speed'; valid keys: a, b, preset, bandwidth, latency"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw", "latency": "1 us"}]}),
         "topology.links[0]: needs a bandwidth (e.g. bandwidth: '25 GB/s') or a preset"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw", "preset": "wan"}]}),
         "topology: device 'a' cannot reach device 'b'"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw", "preset": "wan"}, {"a": "sw", "b": "a", "preset": "wan"}]}),
         "topology.links[1]: repeats links[0] (sw - a); give one link per pair of nodes"),
        (lambda: build_topology({**GRAPH, "link": []}), "topology: unknown key 'link' (did you mean 'links'?); valid keys: kind, name, devices, switches, links"),
        (lambda: build_topology({"kind": "graph", "links": []}), "topology.devices: missing"),
        (lambda: build_topology({**GRAPH, "links": [{"a": "a", "b": "sw", "preset": "wan", "duplex": False,
                                                     "reverse": "wan"}]}),
         "topology.links[0].reverse: only a full-duplex link can have a different reverse direction"),
    ],
)
def test_builder_errors_are_one_line_and_name_the_key(call, expected):
    if not expected:
        call()
        return
    with pytest.raises(ValueError) as info:
        call()
    text = str(info.value)
    assert expected in text
    assert "\n" not in text


def test_topology_rejects_dangling_links_directly():
    spec = PRESETS["wan"]
    with pytest.raises(ValueError, match="links\\[0\\]: ends at 'x', which is not a node"):
        Topology(("a",), ("a",), (PhysicalLink("a", "x", spec),))


def test_describe_topology_summarises_in_a_few_lines():
    text = describe_topology(cluster(2, 4, gpus_per_nic=2))
    lines = text.splitlines()
    assert lines[0].startswith("cluster(2x4, nvlink4/ib-ndr, 2 GPU/NIC")
    assert "8 devices" in lines[0]
    assert any("8 x nvlink4 450 GB/s, 500 ns, full duplex" in line for line in lines)
    assert len(lines) <= 6


def test_internet_access_links_take_per_direction_bandwidth_latency_and_occupy_latency():
    topo = build_topology({"kind": "internet", "num_hosts": 3, "latency": "10 ms",
                      "up": "50 Mb/s",
                      "down": {"bandwidth": "500 Mb/s", "latency": "2 ms", "occupy_latency": True}})
    specs = {d.name: d.spec for d in topo.directed}
    up, down = specs["h0->core"], specs["core->h0"]
    assert (up.bandwidth, up.latency, up.occupy_latency) == (50e6 / 8, 10e-3, False)
    assert (down.bandwidth, down.latency, down.occupy_latency) == (500e6 / 8, 2e-3, True)
    # A mapping without a latency takes the builder's; a preset is taken whole.
    topo = build_topology({"kind": "internet", "num_hosts": 2, "latency": "7 ms", "up": {"bandwidth": "1 Gb/s"},
                      "down": "wan-transatlantic"})
    specs = {d.name: d.spec for d in topo.directed}
    assert specs["h1->core"].latency == 7e-3
    assert (specs["core->h1"].bandwidth, specs["core->h1"].latency) == (10e9 / 8, 30e-3)
    with pytest.raises(InputError, match=r"^topology\.down\.bandwidth: "):
        build_topology({"kind": "internet", "num_hosts": 2, "down": {"bandwidth": "fast"}})


def test_a_single_route_equals_the_route_from_the_whole_table():
    # route() searches only until the destination; check_connected builds whole tables.
    def topo():
        return cluster(3, 4, intra="nvlink3", inter="eth10", gpus_per_nic=2)

    single = topo()
    pairs = [(s, d) for s in range(12) for d in range(12)]
    alone = {pair: single.route(*pair) for pair in pairs}
    full = topo()
    full.check_connected()
    assert alone == {pair: full.route(*pair) for pair in pairs}
