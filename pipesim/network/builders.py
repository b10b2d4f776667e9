"""Topology builders: the usual shapes (one server, a leaf-spine cluster, hosts on the internet,
a WAN chain, a free network) from a few arguments.

Each builder checks its arguments with the ``pipesim.inputs`` checkers: errors are
``InputError``s located at the argument (``num_gpus``), under the builder's name when called
from Python (``single_node.num_gpus``) and under the reader's key path when built from a
dictionary (``topology.num_gpus``, see ``pipesim.network.reader``). Link arguments accept a
preset name, a ``LinkSpec`` or a mapping (``pipesim.network.presets.read_link``).

Latency convention: a preset's latency is the typical one-way figure between two endpoints, so
where a builder puts a switch between them it gives each of the two hops half of it (GPU ->
NVSwitch -> GPU costs the preset's 1 us, not 2 us). Links in ``from_dict`` graphs carry exactly
the latency written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pipesim.budget import MAX_DEVICES
from pipesim.inputs import InputError, as_choice, as_number, as_quantity, as_whole, at
from pipesim.network.graph import PhysicalLink, Topology
from pipesim.network.presets import PRESETS, LinkSpec, read_link
from pipesim.units import format_rate

FABRICS = ("nvswitch", "pcie-switch", "pcie-host")
_FABRIC_DEFAULT = {"nvswitch": "nvlink4", "pcie-switch": "pcie4", "pcie-host": "pcie4"}
_NIC_ATTACH = LinkSpec(bandwidth=math.inf, latency=0.0, name="nic-attach")

LinkArg = str | LinkSpec | Mapping[str, Any]


def _half(spec: LinkSpec) -> LinkSpec:
    """The same link with half the latency: one of the two hops into and out of a switch."""
    return replace(spec, latency=spec.latency / 2)


def single_node(num_gpus: int, fabric: str = "nvswitch", link: LinkArg | None = None) -> Topology:
    """One server with ``num_gpus`` GPUs named ``n0.gpu{i}``.

    * ``nvswitch``: every GPU has its own full-duplex link to the NVSwitch ``n0.nvsw``.
    * ``pcie-switch``: the same star around a PCIe switch ``n0.pciesw``.
    * ``pcie-host``: no peer-to-peer; a GPU-to-GPU copy is staged through host memory. GPU i
      writes up its own PCIe link into the CPU root complex ``n0.cpu``, crosses the single host
      link ``n0.cpu->n0.mem`` (the bounce through host memory, at one PCIe link's rate) and is
      read down GPU j's own PCIe link from ``n0.mem``. Every copy in the node shares that host
      link, so two copies between disjoint GPU pairs each get half the PCIe rate.

    ``link`` (preset name, LinkSpec or mapping) is one GPU's connection; default nvlink4 for
    nvswitch, pcie4 otherwise. Its latency is split over the two GPU-side hops.
    """
    with at("single_node"):
        return _single_node(num_gpus, fabric, link)


def _single_node(num_gpus: Any, fabric: Any, link: Any) -> Topology:
    n = as_whole(num_gpus, maximum=MAX_DEVICES, key="num_gpus")
    fabric = as_choice(fabric, FABRICS, key="fabric")
    spec = read_link(link if link is not None else _FABRIC_DEFAULT[fabric], key="link")
    gpus = tuple(f"n0.gpu{i}" for i in range(n))
    side = _half(spec)
    if fabric == "pcie-host":
        cpu, mem = "n0.cpu", "n0.mem"
        host = LinkSpec(bandwidth=spec.bandwidth, latency=0.0, name="host-bounce")
        links = [PhysicalLink(cpu, mem, host, oneway=True)]
        for g in gpus:
            links.append(PhysicalLink(g, cpu, side, oneway=True))
            links.append(PhysicalLink(mem, g, side, oneway=True))
        return Topology(gpus, (*gpus, cpu, mem), tuple(links), name=f"single_node({n}, pcie-host, {spec.name})")
    switch = "n0.nvsw" if fabric == "nvswitch" else "n0.pciesw"
    links = [PhysicalLink(g, switch, side) for g in gpus]
    return Topology(gpus, (*gpus, switch), tuple(links), name=f"single_node({n}, {fabric}, {spec.name})")


def cluster(
    num_nodes: int,
    gpus_per_node: int,
    intra: LinkArg = "nvlink4",
    inter: LinkArg = "ib-ndr",
    gpus_per_nic: int = 1,
    oversubscription: float = 1.0,
    nodes_per_leaf: int | None = None,
) -> Topology:
    """``num_nodes`` servers of ``gpus_per_node`` GPUs (``n{k}.gpu{g}``) on a leaf-spine network.

    Inside a node the GPUs sit on an NVSwitch ``n{k}.nvsw`` (links of type ``intra``). Each
    group of ``gpus_per_nic`` consecutive GPUs shares one NIC whose port to the leaf switch is
    an ``inter`` link in each direction; the NIC is modelled as a transmit node
    ``n{k}.nic{j}.tx`` and a receive node ``n{k}.nic{j}.rx`` joined to its GPUs by free
    (GPUDirect) attachments, so GPUs sharing a NIC share its bandwidth and intra-node traffic
    can never take a shortcut through the NIC. ``nodes_per_leaf`` nodes hang off each leaf
    switch ``leaf{l}`` (all on one leaf when None or when they fit); with several leaves each
    leaf has one uplink to the spine ``spine`` whose capacity is the sum of the NIC bandwidth
    below it divided by ``oversubscription`` (2.0 = uplinks carry half). One leaf: no uplinks,
    so ``oversubscription`` has no effect.
    """
    with at("cluster"):
        return _cluster(num_nodes, gpus_per_node, intra, inter, gpus_per_nic, oversubscription, nodes_per_leaf)


def _cluster(num_nodes: Any, gpus_per_node: Any, intra: Any, inter: Any, gpus_per_nic: Any,
             oversubscription: Any, nodes_per_leaf: Any) -> Topology:
    nn = as_whole(num_nodes, maximum=MAX_DEVICES, key="num_nodes")
    gpn = as_whole(gpus_per_node, maximum=MAX_DEVICES, key="gpus_per_node")
    if nn * gpn > MAX_DEVICES:
        raise InputError(f"{nn} nodes x {gpn} GPUs = {nn * gpn:,} devices; at most {MAX_DEVICES:,}", "num_nodes")
    per_nic = as_whole(gpus_per_nic, key="gpus_per_nic")
    if gpn % per_nic:
        raise InputError(f"{per_nic} does not divide gpus_per_node={gpn}; "
                         f"valid: {', '.join(str(d) for d in range(1, gpn + 1) if gpn % d == 0)}", "gpus_per_nic")
    over = as_number(oversubscription, 0, math.inf, low_open=True, high_open=True, key="oversubscription")
    per_leaf = nn if nodes_per_leaf is None else as_whole(nodes_per_leaf, key="nodes_per_leaf")
    intra_spec = read_link(intra, key="intra")
    inter_spec = read_link(inter, key="inter")
    devices: list[str] = []
    others: list[str] = []
    links: list[PhysicalLink] = []
    nics_per_node = gpn // per_nic
    num_leaves = max(1, math.ceil(nn / per_leaf)) if nn > 1 else 0
    port = _half(inter_spec)
    for k in range(nn):
        gpus = [f"n{k}.gpu{g}" for g in range(gpn)]
        devices.extend(gpus)
        if gpn > 1:
            switch = f"n{k}.nvsw"
            others.append(switch)
            links.extend(PhysicalLink(g, switch, _half(intra_spec)) for g in gpus)
        if num_leaves == 0:
            continue
        leaf = f"leaf{k // per_leaf}"
        for j in range(nics_per_node):
            tx, rx = f"n{k}.nic{j}.tx", f"n{k}.nic{j}.rx"
            others.extend((tx, rx))
            for g in gpus[j * per_nic:(j + 1) * per_nic]:
                links.append(PhysicalLink(g, tx, _NIC_ATTACH, oneway=True))
                links.append(PhysicalLink(rx, g, _NIC_ATTACH, oneway=True))
            links.append(PhysicalLink(tx, leaf, port, oneway=True))
            links.append(PhysicalLink(leaf, rx, port, oneway=True))
    leaves = [f"leaf{i}" for i in range(num_leaves)]
    others.extend(leaves)
    if num_leaves > 1:
        others.append("spine")
        for i, leaf in enumerate(leaves):
            nodes_here = min(per_leaf, nn - i * per_leaf)
            capacity = nodes_here * nics_per_node * inter_spec.bandwidth / over
            uplink = LinkSpec(bandwidth=capacity, latency=inter_spec.latency / 2,
                              name=f"{inter_spec.name or 'inter'}-uplink")
            links.append(PhysicalLink(leaf, "spine", uplink))
    name = (f"cluster({nn}x{gpn}, {intra_spec.name or 'intra'}/{inter_spec.name or 'inter'}, "
            f"{per_nic} GPU/NIC, {num_leaves} leaf, oversubscription {over:g})")
    return Topology(tuple(devices), (*devices, *others), tuple(links), name=name)


def internet(
    num_hosts: int,
    up: LinkArg = "100 Mb/s",
    down: LinkArg = "1 Gb/s",
    latency: str | float = "25 ms",
    core: LinkArg | None = None,
) -> Topology:
    """Decentralised hosts ``h{i}``, each with its own asymmetric access link to a shared core.

    ``up`` is the host->core direction, ``down`` the core->host one (so everything a host
    receives shares its downlink). Each is a rate (then ``latency`` is its one-way latency),
    a preset, or a mapping ``{bandwidth, latency, occupy_latency}`` (a missing latency is
    ``latency``): the per-host access-link template. Host to host costs up + down latency.
    ``core`` None: the core ``core`` is never a bottleneck. Otherwise a preset, rate string or
    mapping for one shared core link ``core.in->core.out`` that all traffic crosses (e.g. a
    congested transit link).
    """
    with at("internet"):
        return _internet(num_hosts, up, down, latency, core)


def _access(value: Any, latency: float, name: str) -> LinkSpec:
    """One direction of a host's access link: a bare rate takes the builder's latency."""
    if isinstance(value, Mapping):
        if "latency" not in value and "preset" not in value:
            value = {**value, "latency": latency}
        return replace(read_link(value, key=name), name=str(value.get("name", name + "link")))
    if isinstance(value, str) and value.strip().lower().replace("_", "-") in PRESETS:
        return read_link(value, key=name)
    return LinkSpec(as_quantity(value, "rate", positive=True, key=name), latency, name=name + "link")


def _internet(num_hosts: Any, up: Any, down: Any, latency: Any, core: Any) -> Topology:
    n = as_whole(num_hosts, maximum=MAX_DEVICES, key="num_hosts")
    lat = as_quantity(latency, "time", finite=True, key="latency")
    up_spec = _access(up, lat, "up")
    down_spec = _access(down, lat, "down")
    hosts = tuple(f"h{i}" for i in range(n))
    if core is None:
        links = tuple(PhysicalLink(h, "core", up_spec, reverse=down_spec) for h in hosts)
        return Topology(hosts, (*hosts, "core"), links,
                        name=f"internet({n} hosts, up {format_rate(up_spec.bandwidth)}, "
                             f"down {format_rate(down_spec.bandwidth)})")
    core_spec = _core_spec(core)
    cin, cout = "core.in", "core.out"
    links_l = [PhysicalLink(cin, cout, core_spec, oneway=True)]
    for h in hosts:
        links_l.append(PhysicalLink(h, cin, up_spec, oneway=True))
        links_l.append(PhysicalLink(cout, h, down_spec, oneway=True))
    return Topology(hosts, (*hosts, cin, cout), tuple(links_l),
                    name=f"internet({n} hosts, up {format_rate(up_spec.bandwidth)}, "
                         f"down {format_rate(down_spec.bandwidth)}, core {format_rate(core_spec.bandwidth)})")


def _core_spec(core: Any) -> LinkSpec:
    """``core`` as a preset, a mapping, or a bare rate (a zero-latency link named "core")."""
    if isinstance(core, str) and core.strip().lower().replace("_", "-") not in PRESETS:
        try:
            return LinkSpec(as_quantity(core, "rate", positive=True), 0.0, name="core")
        except InputError as exc:
            raise exc.with_message(f"{exc.message}; or give a preset: {', '.join(PRESETS)}").within("core") from None
    return read_link(core, key="core")


def wan_chain(num_hosts: int, link: LinkArg = "wan") -> Topology:
    """Hosts ``h0 .. h{n-1}`` in a line; neighbours are joined by one full-duplex ``link``
    (default: the ``wan`` preset, 200 Mb/s and 50 ms). Traffic between non-neighbours is
    forwarded by the hosts in between."""
    with at("wan_chain"):
        return _wan_chain(num_hosts, link)


def _wan_chain(num_hosts: Any, link: Any) -> Topology:
    n = as_whole(num_hosts, maximum=MAX_DEVICES, key="num_hosts")
    spec = read_link(link, key="link")
    hosts = tuple(f"h{i}" for i in range(n))
    links = tuple(PhysicalLink(hosts[i], hosts[i + 1], spec) for i in range(n - 1))
    return Topology(hosts, hosts, links, name=f"wan_chain({n} hosts, {spec.name or spec.describe()})")


def free(num_devices: int) -> Topology:
    """Devices ``gpu0 ..`` with every pair directly joined by an infinitely fast, zero-latency
    link: every transfer takes zero time (the table level's assumption)."""
    with at("free"):
        return _free(num_devices)


def _free(num_devices: Any) -> Topology:
    n = as_whole(num_devices, maximum=MAX_DEVICES, key="num_devices")
    devices = tuple(f"gpu{i}" for i in range(n))
    spec = PRESETS["free"]
    links = tuple(PhysicalLink(devices[i], devices[j], spec) for i in range(n) for j in range(i + 1, n))
    return Topology(devices, devices, links, name=f"free({n})")
